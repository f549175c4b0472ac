import { isKlError } from '@kubelustre/protocol/errors.ts';
import { RENAME_EXCHANGE, RENAME_NOREPLACE, XATTR_CREATE } from '@kubelustre/protocol/messages/mdt.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT_FID } from './attr.ts';
import type { KlClient } from './fs-client.ts';
import { isDir, isLnk, O_CREAT, O_EXCL, O_NOFOLLOW, O_RDONLY, O_WRONLY } from './mode.ts';
import type { Caller } from './permissions.ts';
import { type ClientCluster, startClientCluster } from './testing/client-cluster.ts';

const alice: Caller = { uid: 1000, gid: 1000, groups: [] };
const bob: Caller = { uid: 1001, gid: 1001, groups: [] };

let c: ClientCluster;
let client: KlClient;
let dirNo = 0;

beforeAll(async () => {
  c = await startClientCluster(1);
  client = await c.client();
}, 30_000);
afterAll(async () => {
  await c?.[Symbol.asyncDispose]();
});

/** A fresh directory for one test, world-writable so non-root callers can work in it. */
async function scratch(mode = 0o777): Promise<string> {
  const path = `/t${++dirNo}`;
  await client.paths.mkdir(path);
  await client.paths.chmod(path, mode);
  return path;
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (e) {
    return isKlError(e) ? e.code : `not a KlError: ${e}`;
  }
  return undefined;
}

describe('paths', () => {
  it('creates, lists, renames and removes entries', async () => {
    const d = await scratch();
    await client.paths.mkdir(`${d}/sub`);
    await client.paths.writeFile(`${d}/sub/a`, Buffer.from('a'));
    await client.paths.writeFile(`${d}/b`, Buffer.from('b'));
    expect(await client.paths.readdir(d)).toEqual(['b', 'sub']);
    await client.paths.rename(`${d}/b`, `${d}/sub/c`);
    expect(await client.paths.readdir(`${d}/sub`)).toEqual(['a', 'c']);
    expect(await codeOf(client.paths.rmdir(`${d}/sub`))).toBe('ENOTEMPTY');
    await client.paths.unlink(`${d}/sub/a`);
    await client.paths.unlink(`${d}/sub/c`);
    await client.paths.rmdir(`${d}/sub`);
    expect(await client.paths.readdir(d)).toEqual([]);
  });

  it('answers POSIX errors for bad paths', async () => {
    const d = await scratch();
    await client.paths.writeFile(`${d}/file`, Buffer.alloc(0));
    expect(await codeOf(client.paths.stat(`${d}/missing/x`))).toBe('ENOENT');
    expect(await codeOf(client.paths.stat(`${d}/file/x`))).toBe('ENOTDIR');
    expect(await codeOf(client.paths.stat(`${d}/file/`))).toBe('ENOTDIR');
    expect(await codeOf(client.paths.stat(`${d}/${'n'.repeat(256)}`))).toBe('ENAMETOOLONG');
    expect(await codeOf(client.paths.mkdir(`${d}/file`))).toBe('EEXIST');
    expect(await codeOf(client.paths.mkdir(`${d}/.`))).toBe('EEXIST');
    expect(await codeOf(client.paths.unlink(d))).toBe('EISDIR');
    expect(await codeOf(client.paths.open(`${d}/file`, O_CREAT | O_EXCL | O_WRONLY))).toBe('EEXIST');
  });

  it('walks ".." to the physical parent, and stays at the root above it', async () => {
    const d = await scratch();
    await client.paths.mkdir(`${d}/x`);
    expect((await client.paths.stat(`${d}/x/..`)).fid).toBe((await client.paths.stat(d)).fid);
    expect((await client.paths.stat('/../..')).fid).toBe(ROOT_FID);
  });

  it('follows symlinks in the middle and at the end, not with lstat, and stops loops with ELOOP', async () => {
    const d = await scratch();
    await client.paths.mkdir(`${d}/real`);
    await client.paths.writeFile(`${d}/real/f`, Buffer.from('via link'));
    await client.paths.symlink('real', `${d}/rel`);
    await client.paths.symlink(`${d}/real/f`, `${d}/abs`);
    expect((await client.paths.readFile(`${d}/rel/f`)).toString()).toBe('via link');
    expect((await client.paths.readFile(`${d}/abs`)).toString()).toBe('via link');
    expect(isLnk((await client.paths.lstat(`${d}/rel`)).mode)).toBe(true);
    expect(isDir((await client.paths.stat(`${d}/rel`)).mode)).toBe(true);
    expect(await client.paths.readlink(`${d}/rel`)).toBe('real');
    expect(await codeOf(client.paths.open(`${d}/abs`, O_RDONLY | O_NOFOLLOW))).toBe('ELOOP');
    await client.paths.symlink('loop2', `${d}/loop1`);
    await client.paths.symlink('loop1', `${d}/loop2`);
    expect(await codeOf(client.paths.stat(`${d}/loop1`))).toBe('ELOOP');
    expect(await codeOf(client.paths.stat(`${d}/dangling-target`))).toBe('ENOENT');
  });

  it('hard-links files, counting links, and refuses to link directories', async () => {
    const d = await scratch();
    await client.paths.writeFile(`${d}/f`, Buffer.from('x'));
    const linked = await client.paths.link(`${d}/f`, `${d}/g`);
    expect(linked.nlink).toBe(2);
    expect(await codeOf(client.paths.link(d, `${d}/dirlink`))).toBe('EPERM');
  });

  it('renames with RENAME_NOREPLACE and RENAME_EXCHANGE', async () => {
    const d = await scratch();
    await client.paths.writeFile(`${d}/a`, Buffer.from('A'));
    await client.paths.writeFile(`${d}/b`, Buffer.from('B'));
    expect(await codeOf(client.paths.rename(`${d}/a`, `${d}/b`, RENAME_NOREPLACE))).toBe('EEXIST');
    await client.paths.rename(`${d}/a`, `${d}/b`, RENAME_EXCHANGE);
    expect((await client.paths.readFile(`${d}/a`)).toString()).toBe('B');
  });
});

describe('permissions for a non-root caller', () => {
  it('needs write permission on the parent to create and search permission to walk', async () => {
    const d = await scratch(0o755);
    expect(await codeOf(client.paths.writeFile(`${d}/f`, Buffer.alloc(0), 0o644, alice))).toBe('EACCES');
    await client.paths.mkdir(`${d}/closed`, 0o700);
    await client.paths.writeFile(`${d}/closed/f`, Buffer.alloc(0));
    expect(await codeOf(client.paths.stat(`${d}/closed/f`, alice))).toBe('EACCES');
  });

  it('creates files owned by the caller, which may write them even when the mode denies it', async () => {
    const d = await scratch();
    const h = await client.paths.open(`${d}/mine`, O_CREAT | O_WRONLY, 0o444, alice);
    await h.write(Buffer.from('ok'));
    await h.close();
    const attr = await client.paths.stat(`${d}/mine`);
    expect([attr.uid, attr.gid, attr.mode & 0o777]).toEqual([1000, 1000, 0o444]);
    expect(await codeOf(client.paths.open(`${d}/mine`, O_WRONLY, 0, alice))).toBe('EACCES');
  });

  it("keeps others' files in a sticky directory", async () => {
    const d = await scratch(0o1777);
    await client.paths.writeFile(`${d}/alices`, Buffer.alloc(0), 0o666, alice);
    expect(await codeOf(client.paths.unlink(`${d}/alices`, bob))).toBe('EPERM');
    expect(await codeOf(client.paths.rename(`${d}/alices`, `${d}/x`, 0, bob))).toBe('EPERM');
    await client.paths.unlink(`${d}/alices`, alice);
  });

  it('lets only the owner chmod and only root chown', async () => {
    const d = await scratch();
    await client.paths.writeFile(`${d}/f`, Buffer.alloc(0), 0o644, alice);
    expect(await codeOf(client.paths.chmod(`${d}/f`, 0o600, bob))).toBe('EPERM');
    expect((await client.paths.chmod(`${d}/f`, 0o600, alice)).mode & 0o777).toBe(0o600);
    expect(await codeOf(client.paths.chown(`${d}/f`, 1001, undefined, alice))).toBe('EPERM');
    expect((await client.paths.chown(`${d}/f`, 1001, 1001)).uid).toBe(1001);
  });
});

describe('xattrs', () => {
  it('sets, gets, lists and removes xattrs, keeping trusted.* to root', async () => {
    const d = await scratch();
    await client.paths.writeFile(`${d}/f`, Buffer.alloc(0), 0o666, alice);
    await client.paths.setxattr(`${d}/f`, 'user.color', Buffer.from('blue'), XATTR_CREATE, alice);
    expect(
      await codeOf(client.paths.setxattr(`${d}/f`, 'user.color', Buffer.from('red'), XATTR_CREATE)),
    ).toBe('EEXIST');
    await client.paths.setxattr(`${d}/f`, 'trusted.secret', Buffer.from('s'));
    expect((await client.paths.getxattr(`${d}/f`, 'user.color', bob)).toString()).toBe('blue');
    expect(await client.paths.listxattr(`${d}/f`, alice)).toEqual(['user.color']);
    expect(await client.paths.listxattr(`${d}/f`)).toEqual(['trusted.secret', 'user.color']);
    expect(await codeOf(client.paths.getxattr(`${d}/f`, 'trusted.secret', alice))).toBe('EPERM');
    await client.paths.removexattr(`${d}/f`, 'user.color', alice);
    expect(await codeOf(client.paths.getxattr(`${d}/f`, 'user.color'))).toBe('ENODATA');
  });
});

describe('inode level', () => {
  it('pages through a directory with readdir cookies', async () => {
    const d = await scratch();
    const dir = await client.paths.stat(d);
    for (let i = 0; i < 25; i++) await client.inodes.create(dir.fid, `e${String(i).padStart(2, '0')}`, 0o644);
    const names: string[] = [];
    let cookie = 0;
    for (let pages = 0; pages < 10; pages++) {
      const page = await client.inodes.readdir(dir.fid, cookie, 10, true);
      names.push(...page.entries.map((e) => e.name));
      expect(page.entries.every((e) => e.node !== undefined)).toBe(true);
      if (page.eof) break;
      cookie = page.entries.at(-1)!.cookie;
    }
    expect(names).toHaveLength(25);
    expect(names[0]).toBe('e00');
  });
});
