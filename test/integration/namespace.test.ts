import { randomUUID } from 'node:crypto';
import type { KlClient } from '@kubelustre/client/fs-client.ts';
import { isDir, isLnk, isReg, O_CREAT, O_EXCL, O_RDONLY, O_WRONLY } from '@kubelustre/client/mode.ts';
import { silentLogger } from '@kubelustre/protocol/log.ts';
import * as mdt from '@kubelustre/protocol/messages/mdt.ts';
import * as ost from '@kubelustre/protocol/messages/ost.ts';
import { RpcClient } from '@kubelustre/protocol/wire/rpc-client.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCluster, type TestCluster } from '../harness/cluster.ts';
import {
  codeOf,
  connectClient,
  layoutObjects,
  ostProbe,
  sha256,
  sleep,
  waitFor,
} from '../harness/integration.ts';
import { randomBytes, seededRandom, seedFromEnv } from '../harness/random.ts';

/** Namespace semantics through KlClient against real MGS/MDT/OST processes. */

const seed = seedFromEnv();
const rand = seededRandom(seed);
/** How long the MDT's destroy worker may take to remove an unlinked file's objects. */
const DESTROY_WAIT_MS = 20_000;
const TEST_TIMEOUT_MS = 60_000;

let tc: TestCluster;
let client: KlClient;
let other: KlClient;
let dirNo = 0;

beforeAll(async () => {
  console.log(`namespace seed ${seed} (replay with KL_SEED=${seed})`);
  tc = await startTestCluster({ osts: 2, fsName: 'klns' });
  [client, other] = await Promise.all([connectClient(tc.cluster), connectClient(tc.cluster)]);
}, 60_000);
afterAll(async () => {
  await client?.close();
  await other?.close();
  await tc?.[Symbol.asyncDispose]();
}, 60_000);

async function scratch(): Promise<string> {
  const path = `/ns${++dirNo}`;
  await client.paths.mkdir(path, 0o755);
  return path;
}

const ctx = (what: string) => `${what} (seed ${seed})`;

describe('namespace errors', { timeout: TEST_TIMEOUT_MS }, () => {
  it('answers ENOENT, EEXIST, ENOTEMPTY, ENOTDIR, EISDIR', async () => {
    const d = await scratch();
    await client.paths.writeFile(`${d}/file`, Buffer.from('x'));
    await client.paths.mkdir(`${d}/dir`);
    await client.paths.writeFile(`${d}/dir/inner`, Buffer.alloc(0));
    await client.paths.mkdir(`${d}/empty`);

    expect(await codeOf(client.paths.stat(`${d}/missing`)), 'stat missing').toBe('ENOENT');
    expect(await codeOf(client.paths.stat(`${d}/missing/x`)), 'stat missing/x').toBe('ENOENT');
    expect(await codeOf(client.paths.unlink(`${d}/missing`)), 'unlink missing').toBe('ENOENT');
    expect(await codeOf(client.paths.rmdir(`${d}/missing`)), 'rmdir missing').toBe('ENOENT');
    expect(await codeOf(client.paths.open(`${d}/missing`, O_RDONLY)), 'open missing').toBe('ENOENT');
    expect(await codeOf(client.paths.rename(`${d}/missing`, `${d}/y`)), 'rename missing').toBe('ENOENT');

    expect(await codeOf(client.paths.mkdir(`${d}/file`)), 'mkdir over a file').toBe('EEXIST');
    expect(await codeOf(client.paths.mkdir(`${d}/dir`)), 'mkdir over a dir').toBe('EEXIST');
    expect(await codeOf(client.paths.symlink('t', `${d}/file`)), 'symlink over a file').toBe('EEXIST');
    expect(await codeOf(client.paths.link(`${d}/file`, `${d}/dir/inner`)), 'link over a file').toBe('EEXIST');
    expect(await codeOf(client.paths.open(`${d}/file`, O_CREAT | O_EXCL | O_WRONLY)), 'O_EXCL').toBe(
      'EEXIST',
    );

    expect(await codeOf(client.paths.rmdir(`${d}/dir`)), 'rmdir non-empty').toBe('ENOTEMPTY');
    await client.paths.mkdir(`${d}/full`);
    await client.paths.writeFile(`${d}/full/f`, Buffer.alloc(0));
    expect(
      await codeOf(client.paths.rename(`${d}/empty`, `${d}/full`)),
      'rename dir over non-empty dir',
    ).toBe('ENOTEMPTY');

    expect(await codeOf(client.paths.stat(`${d}/file/x`)), 'file as a directory').toBe('ENOTDIR');
    expect(await codeOf(client.paths.rmdir(`${d}/file`)), 'rmdir of a file').toBe('ENOTDIR');
    expect(await codeOf(client.paths.readdir(`${d}/file`)), 'readdir of a file').toBe('ENOTDIR');
    expect(await codeOf(client.paths.rename(`${d}/empty`, `${d}/file`)), 'rename dir over file').toBe(
      'ENOTDIR',
    );

    expect(await codeOf(client.paths.unlink(`${d}/dir`)), 'unlink of a dir').toBe('EISDIR');
    expect(await codeOf(client.paths.rename(`${d}/file`, `${d}/empty`)), 'rename file over dir').toBe(
      'EISDIR',
    );
    expect(await codeOf(client.paths.open(`${d}/dir`, O_WRONLY)), 'open dir for writing').toBe('EISDIR');

    // Nothing the failed calls touched changed.
    expect((await client.paths.readdir(d)).sort()).toEqual(['dir', 'empty', 'file', 'full']);
    expect((await client.paths.readFile(`${d}/file`)).toString()).toBe('x');
  });

  it('refuses a 256-byte name with ENAMETOOLONG, in the client and in the MDT itself, and takes 255', async () => {
    const d = await scratch();
    const long = 'n'.repeat(256);
    expect(await codeOf(client.paths.writeFile(`${d}/${long}`, Buffer.alloc(0))), 'create').toBe(
      'ENAMETOOLONG',
    );
    expect(await codeOf(client.paths.mkdir(`${d}/${long}`)), 'mkdir').toBe('ENAMETOOLONG');
    expect(await codeOf(client.paths.stat(`${d}/${long}`)), 'stat').toBe('ENAMETOOLONG');
    // Multi-byte: 128 two-byte characters are 256 bytes though only 128 characters.
    expect(await codeOf(client.paths.mkdir(`${d}/${'é'.repeat(128)}`)), 'mkdir 256 UTF-8 bytes').toBe(
      'ENAMETOOLONG',
    );
    // The MDT must check too: a client (or FUSE) that skips the check must not get the name stored.
    const raw = new RpcClient({
      address: tc.cluster.target('mdt', 0).listen,
      key: tc.cluster.key,
      clientUuid: randomUUID(),
      log: silentLogger,
      requestTimeoutMs: 30_000,
    });
    try {
      const parent = (await client.paths.stat(d)).fid;
      const req = { parent, name: long, mode: 0o100644, uid: 0, gid: 0, exclusive: true };
      expect(await codeOf(raw.call(mdt.create, req)), 'mdt.create with a 256-byte name').toBe('ENAMETOOLONG');
    } finally {
      raw.close();
    }
    await client.paths.writeFile(`${d}/${'n'.repeat(255)}`, Buffer.from('ok'));
    expect(await client.paths.readdir(d)).toEqual(['n'.repeat(255)]);
  });

  it('refuses to rename a directory into its own descendant with EINVAL', async () => {
    const d = await scratch();
    await client.paths.mkdir(`${d}/a`);
    await client.paths.mkdir(`${d}/a/b`);
    await client.paths.mkdir(`${d}/a/b/c`);
    expect(await codeOf(client.paths.rename(`${d}/a`, `${d}/a/b/c/a`)), 'a → a/b/c/a').toBe('EINVAL');
    expect(await codeOf(client.paths.rename(`${d}/a`, `${d}/a/b/x`)), 'a → a/b/x').toBe('EINVAL');
    expect(await codeOf(client.paths.rename(`${d}/a/b`, `${d}/a/b/c/b`)), 'a/b → a/b/c/b').toBe('EINVAL');
    expect(await client.paths.readdir(`${d}/a/b/c`)).toEqual([]);
    expect(await client.paths.readdir(d)).toEqual(['a']);
  });
});

describe('links', { timeout: TEST_TIMEOUT_MS }, () => {
  it('keeps link counts of hard links and shares data between them', async () => {
    const d = await scratch();
    const data = randomBytes(rand, 100_000);
    await client.paths.writeFile(`${d}/f`, data);
    const orig = await client.paths.stat(`${d}/f`);
    expect(orig.nlink).toBe(1);
    await client.paths.link(`${d}/f`, `${d}/g`);
    await client.paths.mkdir(`${d}/sub`);
    await client.paths.link(`${d}/f`, `${d}/sub/h`);
    for (const p of ['f', 'g', 'sub/h']) {
      const st = await client.paths.stat(`${d}/${p}`);
      expect(st.fid, p).toBe(orig.fid);
      expect(st.nlink, ctx(`nlink of ${p} with 3 links`)).toBe(3);
    }
    expect(sha256(await client.paths.readFile(`${d}/sub/h`)), ctx('data through a link')).toBe(sha256(data));
    await client.paths.unlink(`${d}/f`);
    expect((await client.paths.stat(`${d}/g`)).nlink, 'nlink after unlinking one name').toBe(2);
    expect(sha256(await client.paths.readFile(`${d}/g`)), ctx('data after unlinking one name')).toBe(
      sha256(data),
    );
    expect(await codeOf(client.paths.link(`${d}/sub`, `${d}/sublink`)), 'link of a directory').toBe('EPERM');
    // Directory link counts: 2 + subdirectories.
    expect((await client.paths.stat(d)).nlink, 'nlink of a dir with one subdir').toBe(3);
    expect((await client.paths.stat(`${d}/sub`)).nlink, 'nlink of a leaf dir').toBe(2);
  });

  it('keeps symlinks: readlink, lstat, followed by stat and open, dangling ones ENOENT', async () => {
    const d = await scratch();
    await client.paths.writeFile(`${d}/target`, Buffer.from('through the link'));
    await client.paths.symlink('target', `${d}/rel`);
    await client.paths.symlink(`${d}/target`, `${d}/abs`);
    await client.paths.symlink('nowhere', `${d}/dangling`);
    expect(await client.paths.readlink(`${d}/rel`)).toBe('target');
    expect(await client.paths.readlink(`${d}/abs`)).toBe(`${d}/target`);
    const l = await client.paths.lstat(`${d}/rel`);
    expect(isLnk(l.mode), 'lstat mode is a symlink').toBe(true);
    expect(l.size, 'symlink size is its target length').toBe('target'.length);
    expect(isReg((await client.paths.stat(`${d}/abs`)).mode)).toBe(true);
    expect((await client.paths.readFile(`${d}/rel`)).toString()).toBe('through the link');
    expect(await codeOf(client.paths.stat(`${d}/dangling`)), 'stat of a dangling symlink').toBe('ENOENT');
    expect(isLnk((await client.paths.lstat(`${d}/dangling`)).mode)).toBe(true);
    expect(await codeOf(client.paths.readlink(`${d}/target`)), 'readlink of a file').toBe('EINVAL');
    // Unlinking a symlink leaves its target.
    await client.paths.unlink(`${d}/rel`);
    expect((await client.paths.readFile(`${d}/target`)).toString()).toBe('through the link');
  });

  it('renames over an existing file (the old one is gone) and over an empty directory', async () => {
    const d = await scratch();
    const a = randomBytes(rand, 70_000);
    const b = randomBytes(rand, 30_000);
    await client.paths.writeFile(`${d}/a`, a);
    await client.paths.writeFile(`${d}/b`, b);
    const aFid = (await client.paths.stat(`${d}/a`)).fid;
    const bNode = await client.paths.getnode(`${d}/b`);
    await client.paths.rename(`${d}/a`, `${d}/b`);
    expect((await client.paths.readdir(d)).sort()).toEqual(['b']);
    expect((await client.paths.stat(`${d}/b`)).fid).toBe(aFid);
    expect(sha256(await client.paths.readFile(`${d}/b`)), ctx('content after rename over')).toBe(sha256(a));
    await expectObjectsDestroyed(layoutObjects(bNode.layout), 'objects of the file renamed over');

    await client.paths.mkdir(`${d}/src`);
    await client.paths.writeFile(`${d}/src/x`, Buffer.from('x'));
    await client.paths.mkdir(`${d}/dst`);
    await client.paths.rename(`${d}/src`, `${d}/dst`);
    expect((await client.paths.readdir(d)).sort()).toEqual(['b', 'dst']);
    expect((await client.paths.readFile(`${d}/dst/x`)).toString()).toBe('x');
    expect(await codeOf(client.paths.rename(`${d}/b`, `${d}/dst/x`, mdt.RENAME_NOREPLACE)), 'NOREPLACE').toBe(
      'EEXIST',
    );
  });

  it('renames one hard link over another of the same inode as a no-op (POSIX), and a name over itself', async () => {
    const d = await scratch();
    await client.paths.writeFile(`${d}/a`, Buffer.from('same'));
    await client.paths.link(`${d}/a`, `${d}/b`);
    await client.paths.rename(`${d}/a`, `${d}/b`);
    expect((await client.paths.readdir(d)).sort(), 'both names stay').toEqual(['a', 'b']);
    expect((await client.paths.stat(`${d}/b`)).nlink, 'nlink stays 2').toBe(2);
    await client.paths.rename(`${d}/b`, `${d}/b`);
    await client.paths.mkdir(`${d}/dir`);
    await client.paths.rename(`${d}/dir`, `${d}/dir`);
    expect((await client.paths.readdir(d)).sort()).toEqual(['a', 'b', 'dir']);
    expect((await client.paths.readFile(`${d}/b`)).toString()).toBe('same');
    expect(await codeOf(client.paths.rmdir(`${d}/dir/.`)), 'rmdir dir/.').toBe('EINVAL');
  });

  it('unlinks a file: gone from the directory and its OST objects destroyed', async () => {
    const d = await scratch();
    await client.paths.writeFile(`${d}/f`, randomBytes(rand, 3 << 20));
    const node = await client.paths.getnode(`${d}/f`);
    const objects = layoutObjects(node.layout);
    expect(objects.length, 'a 3 MiB file has objects').toBeGreaterThan(0);
    for (const o of objects) {
      using probe = ostProbe(tc.cluster, o.ostIdx);
      const { reply } = await probe.call(ost.listObjects, { after: o.objId - 1, countMax: 1 });
      expect(reply.objIds, `object ${o.objId} exists on OST ${o.ostIdx} before unlink`).toEqual([o.objId]);
    }
    await client.paths.unlink(`${d}/f`);
    expect(await client.paths.readdir(d)).toEqual([]);
    expect(await codeOf(client.paths.stat(`${d}/f`))).toBe('ENOENT');
    expect(await codeOf(client.inodes.getattr(node.attr.fid)), 'getattr of the unlinked FID').toBe('ENOENT');
    await expectObjectsDestroyed(objects, 'objects of the unlinked file');
  });
});

/** An OST answers getattr of any object id it handed out (size 0 when absent): ask for its object list. */
async function expectObjectsDestroyed(objects: Array<{ ostIdx: number; objId: number }>, what: string) {
  await waitFor(
    `${what} (${JSON.stringify(objects)}) to be destroyed`,
    async () => {
      for (const o of objects) {
        using probe = ostProbe(tc.cluster, o.ostIdx);
        const { reply } = await probe.call(ost.listObjects, { after: o.objId - 1, countMax: 1 });
        if (reply.objIds[0] === o.objId) return false;
      }
      return true;
    },
    DESTROY_WAIT_MS,
    200,
  );
}

describe('directories, xattrs and attributes', { timeout: TEST_TIMEOUT_MS }, () => {
  it('lists a directory of 1000 entries completely, in one go and page by page', async () => {
    const d = await scratch();
    const names = Array.from({ length: 1000 }, (_, i) => `entry-${i.toString(36)}-${(i * 7919) % 1000}`);
    for (let i = 0; i < names.length; i += 50) {
      await Promise.all(
        names
          .slice(i, i + 50)
          .map((n, k) =>
            (i + k) % 10 === 0
              ? client.paths.mkdir(`${d}/${n}`)
              : client.paths.writeFile(`${d}/${n}`, Buffer.alloc(0)),
          ),
      );
    }
    const listed = await client.paths.readdir(d);
    expect(listed.length, 'entries listed').toBe(1000);
    expect([...listed].sort()).toEqual([...names].sort());
    // Small pages: every entry exactly once, whatever the page boundaries.
    const dir = await client.paths.stat(d);
    const paged: string[] = [];
    let cookie = 0;
    for (let pages = 0; pages < 100; pages++) {
      const page = await client.inodes.readdir(dir, cookie, 97, true);
      for (const e of page.entries) {
        paged.push(e.name);
        expect(isDir(e.mode), `type of ${e.name}`).toBe(names.indexOf(e.name) % 10 === 0);
        expect(e.node?.attr.fid, `readdirplus attributes of ${e.name}`).toBe(e.fid);
      }
      if (page.eof || page.entries.length === 0) break;
      cookie = page.entries.at(-1)!.cookie;
    }
    expect(paged.length, 'entries over 97-entry pages').toBe(1000);
    expect(new Set(paged).size, 'no entry twice').toBe(1000);
    expect((await client.paths.stat(d)).nlink, 'dir nlink: 2 + 100 subdirs').toBe(102);
  });

  it('sets, gets, lists and removes xattrs with CREATE/REPLACE semantics', async () => {
    const d = await scratch();
    const f = `${d}/x`;
    await client.paths.writeFile(f, Buffer.alloc(0));
    const value = randomBytes(rand, 2000);
    await client.paths.setxattr(f, 'user.blob', value);
    await client.paths.setxattr(f, 'user.empty', Buffer.alloc(0));
    await client.paths.setxattr(`${d}`, 'user.ondir', Buffer.from('d'));
    expect(sha256(await other.paths.getxattr(f, 'user.blob')), ctx('xattr value')).toBe(sha256(value));
    expect((await client.paths.getxattr(f, 'user.empty')).length).toBe(0);
    const listed = await client.paths.listxattr(f);
    expect(listed, 'listxattr').toEqual(expect.arrayContaining(['user.blob', 'user.empty']));
    expect(listed.filter((n) => n.startsWith('user.')).sort()).toEqual(['user.blob', 'user.empty']);
    expect((await client.paths.getxattr(d, 'user.ondir')).toString()).toBe('d');
    expect(await codeOf(client.paths.getxattr(f, 'user.none')), 'get missing').toBe('ENODATA');
    expect(
      await codeOf(client.paths.setxattr(f, 'user.blob', Buffer.from('y'), mdt.XATTR_CREATE)),
      'XATTR_CREATE of an existing name',
    ).toBe('EEXIST');
    expect(
      await codeOf(client.paths.setxattr(f, 'user.none', Buffer.from('y'), mdt.XATTR_REPLACE)),
      'XATTR_REPLACE of a missing name',
    ).toBe('ENODATA');
    await client.paths.setxattr(f, 'user.blob', Buffer.from('short'), mdt.XATTR_REPLACE);
    expect((await client.paths.getxattr(f, 'user.blob')).toString()).toBe('short');
    await client.paths.removexattr(f, 'user.blob');
    expect(await codeOf(client.paths.getxattr(f, 'user.blob')), 'get removed').toBe('ENODATA');
    expect(await codeOf(client.paths.removexattr(f, 'user.blob')), 'remove removed').toBe('ENODATA');
  });

  it('keeps modes, ownership and timestamps', async () => {
    const d = await scratch();
    await client.paths.mkdir(`${d}/m`, 0o750);
    expect((await client.paths.stat(`${d}/m`)).mode & 0o7777, 'mkdir mode 0750').toBe(0o750);
    const f = `${d}/f`;
    await client.paths.writeFile(f, Buffer.from('abc'), 0o640);
    const created = await client.paths.stat(f);
    expect(created.mode & 0o7777, 'create mode 0640').toBe(0o640);
    expect([created.uid, created.gid], 'owner of a file root created').toEqual([0, 0]);

    const dirBefore = await client.paths.stat(d);
    await sleep(20);
    await client.paths.chmod(f, 0o604);
    await client.paths.chown(f, 1234, 5678);
    const changed = await other.paths.stat(f);
    expect(changed.mode & 0o7777, 'chmod 0604').toBe(0o604);
    expect([changed.uid, changed.gid], 'chown 1234:5678').toEqual([1234, 5678]);
    expect(nsOf(changed.ctime), 'ctime after chmod/chown').toBeGreaterThan(nsOf(created.ctime));
    expect(nsOf(changed.mtime), 'mtime unchanged by chmod').toBe(nsOf(created.mtime));

    await sleep(20);
    await client.paths.writeFile(`${d}/new`, Buffer.alloc(0));
    const dirAfter = await client.paths.stat(d);
    expect(nsOf(dirAfter.mtime), 'dir mtime after creating an entry').toBeGreaterThan(nsOf(dirBefore.mtime));

    await sleep(20);
    const h = await client.paths.open(f, O_WRONLY);
    await h.write(Buffer.from('defg'), 3);
    await h.close();
    const written = await other.paths.stat(f);
    expect(written.size, 'size after write at 3').toBe(7);
    expect(nsOf(written.mtime), 'mtime after write').toBeGreaterThan(nsOf(changed.mtime));

    const at = { sec: 1_000_000_000, nsec: 123_456_789 };
    const mt = { sec: 1_234_567_890, nsec: 987_654_321 };
    await client.paths.setattr(f, { atime: at, mtime: mt });
    const set = await other.paths.stat(f);
    expect([set.atime, set.mtime], 'utimes').toEqual([at, mt]);
  });
});

describe('two clients (close-to-open)', { timeout: TEST_TIMEOUT_MS }, () => {
  it('shows one client what another wrote, renamed and removed', async () => {
    const d = await scratch();
    const data = randomBytes(rand, 1_500_000);
    const h = await client.paths.open(`${d}/shared`, O_WRONLY | O_CREAT, 0o644);
    await h.write(data);
    await h.close();
    const st = await other.paths.stat(`${d}/shared`);
    expect(st.size, ctx('size seen by the second client')).toBe(data.length);
    expect(sha256(await other.paths.readFile(`${d}/shared`)), ctx('data seen by the second client')).toBe(
      sha256(data),
    );
    // The second client overwrites a part; the first reopens and sees it.
    const patch = randomBytes(rand, 4096);
    const h2 = await other.paths.open(`${d}/shared`, O_WRONLY);
    await h2.write(patch, 1_000_000);
    await h2.close();
    const expected = Buffer.from(data);
    patch.copy(expected, 1_000_000);
    expect(sha256(await client.paths.readFile(`${d}/shared`)), ctx('patched data seen by the first')).toBe(
      sha256(expected),
    );
    await client.paths.mkdir(`${d}/sub`);
    await client.paths.rename(`${d}/shared`, `${d}/sub/moved`);
    expect(await other.paths.readdir(d)).toEqual(['sub']);
    expect(await other.paths.readdir(`${d}/sub`)).toEqual(['moved']);
    await client.paths.unlink(`${d}/sub/moved`);
    expect(await codeOf(other.paths.stat(`${d}/sub/moved`)), 'removed file from the second client').toBe(
      'ENOENT',
    );
  });
});

function nsOf(t: { sec: number; nsec: number }): bigint {
  return BigInt(t.sec) * 1_000_000_000n + BigInt(t.nsec);
}
