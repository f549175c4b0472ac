import * as mdt from '@kubelustre/protocol/messages/mdt.ts';
import type { RequestOf } from '@kubelustre/protocol/messages/op.ts';
import type { RpcClient } from '@kubelustre/protocol/wire/rpc-client.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT_FID } from './fid.ts';
import { S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFREG, S_IFSOCK } from './inodes.ts';
import { TestCluster } from './test-mdt.ts';

let cluster: TestCluster;
let c: RpcClient;
let testDirs = 0;

beforeAll(async () => {
  cluster = await TestCluster.start(2);
  c = (await cluster.startMdt()).client;
});
afterAll(() => cluster.stop());

async function code(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => 'ok',
    (e: { code: string }) => e.code,
  );
}

function create(
  parent: string,
  name: string,
  mode: number,
  extra: Partial<RequestOf<typeof mdt.create>> = {},
) {
  return c.call(mdt.create, { parent, name, mode, uid: 1, gid: 2, exclusive: true, ...extra });
}

async function mkdir(parent: string, name: string): Promise<string> {
  return (await create(parent, name, S_IFDIR | 0o755)).reply.attr.fid;
}

async function mkfile(parent: string, name: string): Promise<string> {
  return (await create(parent, name, S_IFREG | 0o644)).reply.attr.fid;
}

/** A fresh directory under the root for one test. */
const scratch = () => mkdir(ROOT_FID, `t${testDirs++}`);
const attr = async (fid: string) => (await c.call(mdt.getattr, { fid })).reply.attr;
const names = async (fid: string) =>
  (await c.call(mdt.readdir, { fid, cookie: 0, countMax: 4096, plus: false })).reply.entries.map(
    (e) => e.name,
  );

describe('create and lookup', () => {
  it('creates every file type with its mode, rdev and symlink target', async () => {
    const d = await scratch();
    const types = { reg: S_IFREG, dir: S_IFDIR, fifo: S_IFIFO, sock: S_IFSOCK, chr: S_IFCHR, blk: S_IFBLK };
    for (const [name, type] of Object.entries(types)) {
      const { reply } = await create(d, name, type | 0o640, { rdev: 0x801 });
      expect(reply.attr.mode).toBe(type | 0o640);
      expect(reply.attr.rdev).toBe(type === S_IFCHR || type === S_IFBLK ? 0x801 : 0);
      expect((await c.call(mdt.lookup, { parent: d, name })).reply.attr.fid).toBe(reply.attr.fid);
    }
    const link = await create(d, 'ln', S_IFLNK, { target: '../somewhere/é' });
    expect(link.reply.attr).toMatchObject({
      mode: S_IFLNK | 0o777,
      size: Buffer.byteLength('../somewhere/é'),
    });
    expect((await c.call(mdt.readlink, { fid: link.reply.attr.fid })).reply.target).toBe('../somewhere/é');
    expect(await code(c.call(mdt.readlink, { fid: d }))).toBe('EINVAL');
    expect(await code(create(d, 'bad', S_IFLNK))).toBe('EINVAL');
    expect(await code(create(d, 'bad', S_IFREG, { target: 'x' }))).toBe('EINVAL');
    expect(await code(create(d, 'bad', 0o170000))).toBe('EINVAL');
  });

  it('answers EEXIST for exclusive creates and returns an existing regular file otherwise', async () => {
    const d = await scratch();
    const f = await mkfile(d, 'f');
    await mkdir(d, 'sub');
    expect(await code(create(d, 'f', S_IFREG | 0o644))).toBe('EEXIST');
    const again = await create(d, 'f', S_IFREG | 0o600, { exclusive: false });
    expect(again.reply.attr).toMatchObject({ fid: f, mode: S_IFREG | 0o644 });
    expect(await code(create(d, 'sub', S_IFREG, { exclusive: false }))).toBe('EISDIR');
    expect(await code(create(d, 'sub', S_IFDIR, { exclusive: false }))).toBe('EEXIST');
  });

  it('checks names and parents: ENAMETOOLONG, EINVAL, ENOENT, ENOTDIR', async () => {
    const d = await scratch();
    const f = await mkfile(d, 'f');
    expect(await code(create(d, 'x'.repeat(256), S_IFREG))).toBe('ENAMETOOLONG');
    expect(await code(create(d, 'a/b', S_IFREG))).toBe('EINVAL');
    expect(await code(create(d, '..', S_IFDIR))).toBe('EINVAL');
    expect(await code(create(f, 'x', S_IFREG))).toBe('ENOTDIR');
    expect(await code(create('0x200000400:0xfffff:0x0', 'x', S_IFREG))).toBe('ENOENT');
    expect(await code(c.call(mdt.lookup, { parent: d, name: 'nope' }))).toBe('ENOENT');
    expect(await code(c.call(mdt.lookup, { parent: f, name: 'x' }))).toBe('ENOTDIR');
    expect(await code(c.call(mdt.getattr, { fid: '0x200000400:0xfffff:0x0' }))).toBe('ENOENT');
  });

  it("resolves '.' and '..' in lookup", async () => {
    const d = await scratch();
    const sub = await mkdir(d, 'sub');
    expect((await c.call(mdt.lookup, { parent: sub, name: '.' })).reply.attr.fid).toBe(sub);
    expect((await c.call(mdt.lookup, { parent: sub, name: '..' })).reply.attr.fid).toBe(d);
    expect((await c.call(mdt.lookup, { parent: ROOT_FID, name: '..' })).reply.attr.fid).toBe(ROOT_FID);
  });

  it('keeps directory link counts at 2 + subdirectories and sets parent mtime/ctime', async () => {
    const d = await scratch();
    const before = await attr(d);
    await new Promise((r) => setTimeout(r, 5));
    await mkdir(d, 'a');
    await mkdir(d, 'b');
    await mkfile(d, 'f');
    const after = await attr(d);
    expect(after.nlink).toBe(4);
    expect(after.mtime.sec * 1e9 + after.mtime.nsec).toBeGreaterThan(
      before.mtime.sec * 1e9 + before.mtime.nsec,
    );
    expect(after.ctime).toEqual(after.mtime);
    await c.call(mdt.unlink, { parent: d, name: 'a', dir: true });
    expect((await attr(d)).nlink).toBe(3);
  });
});

describe('unlink and rmdir', () => {
  it('gives the POSIX errors', async () => {
    const d = await scratch();
    const sub = await mkdir(d, 'sub');
    await mkfile(sub, 'inner');
    await mkfile(d, 'f');
    expect(await code(c.call(mdt.unlink, { parent: d, name: 'sub', dir: false }))).toBe('EISDIR');
    expect(await code(c.call(mdt.unlink, { parent: d, name: 'f', dir: true }))).toBe('ENOTDIR');
    expect(await code(c.call(mdt.unlink, { parent: d, name: 'sub', dir: true }))).toBe('ENOTEMPTY');
    expect(await code(c.call(mdt.unlink, { parent: d, name: 'gone', dir: false }))).toBe('ENOENT');
    expect(await code(c.call(mdt.unlink, { parent: d, name: '.', dir: true }))).toBe('EINVAL');
    expect(await code(c.call(mdt.unlink, { parent: d, name: '..', dir: true }))).toBe('ENOTEMPTY');
    expect(await code(c.call(mdt.unlink, { parent: d, name: 'x'.repeat(300), dir: false }))).toBe(
      'ENAMETOOLONG',
    );
    await c.call(mdt.unlink, { parent: sub, name: 'inner', dir: false });
    await c.call(mdt.unlink, { parent: d, name: 'sub', dir: true });
    await c.call(mdt.unlink, { parent: d, name: 'f', dir: false });
    expect(await names(d)).toEqual([]);
    expect(await code(attr(sub))).toBe('ENOENT');
  });
});

describe('link', () => {
  it('adds names, counts links, and refuses directories and taken names', async () => {
    const d = await scratch();
    const f = await mkfile(d, 'f');
    const before = await attr(f);
    const linked = await c.call(mdt.link, { fid: f, parent: d, name: 'g' });
    expect(linked.reply.attr.nlink).toBe(2);
    expect(linked.reply.attr.ctime).not.toEqual(before.ctime);
    expect(await code(c.call(mdt.link, { fid: d, parent: ROOT_FID, name: 'dlink' }))).toBe('EPERM');
    expect(await code(c.call(mdt.link, { fid: f, parent: d, name: 'g' }))).toBe('EEXIST');
    expect(await code(c.call(mdt.link, { fid: f, parent: f, name: 'x' }))).toBe('ENOTDIR');
    await c.call(mdt.unlink, { parent: d, name: 'f', dir: false });
    expect((await attr(f)).nlink).toBe(1);
    expect((await c.call(mdt.fid2path, { fid: f })).reply.path).toMatch(/^\/t\d+\/g$/);
  });
});

describe('rename', () => {
  it('moves, replaces and keeps link counts of both parents', async () => {
    const d = await scratch();
    const a = await mkdir(d, 'a');
    const b = await mkdir(d, 'b');
    const sub = await mkdir(a, 'sub');
    await c.call(mdt.rename, { srcParent: a, srcName: 'sub', dstParent: b, dstName: 'moved', flags: 0 });
    expect((await attr(a)).nlink).toBe(2);
    expect((await attr(b)).nlink).toBe(3);
    expect((await c.call(mdt.lookup, { parent: sub, name: '..' })).reply.attr.fid).toBe(b);
    const f1 = await mkfile(d, 'f1');
    const f2 = await mkfile(d, 'f2');
    await c.call(mdt.rename, { srcParent: d, srcName: 'f1', dstParent: d, dstName: 'f2', flags: 0 });
    expect(await names(d)).toEqual(['a', 'b', 'f2']);
    expect((await c.call(mdt.lookup, { parent: d, name: 'f2' })).reply.attr.fid).toBe(f1);
    expect(await code(attr(f2))).toBe('ENOENT');
    const empty = await mkdir(d, 'empty');
    await c.call(mdt.rename, { srcParent: b, srcName: 'moved', dstParent: d, dstName: 'empty', flags: 0 });
    expect(await code(attr(empty))).toBe('ENOENT');
    expect((await attr(b)).nlink).toBe(2);
    expect((await attr(d)).nlink).toBe(5);
  });

  it('gives the POSIX errors of the rename matrix', async () => {
    const d = await scratch();
    const a = await mkdir(d, 'a');
    const inner = await mkdir(a, 'inner');
    await mkfile(inner, 'x');
    await mkfile(d, 'f');
    const r = (srcParent: string, srcName: string, dstParent: string, dstName: string, flags = 0) =>
      code(c.call(mdt.rename, { srcParent, srcName, dstParent, dstName, flags }));
    expect(await r(d, 'nope', d, 'x')).toBe('ENOENT');
    expect(await r(d, 'a', d, 'f')).toBe('ENOTDIR');
    expect(await r(d, 'f', a, 'inner')).toBe('EISDIR');
    expect(await r(a, 'inner', d, 'f')).toBe('ENOTDIR');
    await mkdir(d, 'other');
    const other = (await c.call(mdt.lookup, { parent: d, name: 'other' })).reply.attr.fid;
    await mkfile(other, 'y');
    expect(await r(a, 'inner', d, 'other')).toBe('ENOTEMPTY');
    expect(await r(d, 'a', inner, 'loop')).toBe('EINVAL');
    expect(await r(d, 'a', a, 'self')).toBe('EINVAL');
    expect(await r(inner, 'x', d, 'a')).toBe('ENOTEMPTY');
    expect(await r(d, 'f', d, 'a', mdt.RENAME_NOREPLACE)).toBe('EEXIST');
    expect(await r(d, 'f', d, 'nothing', mdt.RENAME_EXCHANGE)).toBe('ENOENT');
    expect(await r(d, 'f', d, 'g', 3)).toBe('EINVAL');
    expect(await r(d, 'f', d, '.')).toBe('EINVAL');
    expect(await r(d, 'f', d, 'y'.repeat(256))).toBe('ENAMETOOLONG');
    expect(await names(d)).toEqual(['a', 'f', 'other']);
  });

  it('does nothing for a rename between two links of one file', async () => {
    const d = await scratch();
    const f = await mkfile(d, 'f');
    await c.call(mdt.link, { fid: f, parent: d, name: 'g' });
    await c.call(mdt.rename, { srcParent: d, srcName: 'f', dstParent: d, dstName: 'g', flags: 0 });
    expect(await names(d)).toEqual(['f', 'g']);
    expect((await attr(f)).nlink).toBe(2);
  });

  it('exchanges a file and a directory across parents, moving the subdirectory link', async () => {
    const d = await scratch();
    const a = await mkdir(d, 'a');
    const b = await mkdir(d, 'b');
    const f = await mkfile(a, 'f');
    const sub = await mkdir(b, 'sub');
    await c.call(mdt.rename, {
      srcParent: a,
      srcName: 'f',
      dstParent: b,
      dstName: 'sub',
      flags: mdt.RENAME_EXCHANGE,
    });
    expect((await c.call(mdt.lookup, { parent: a, name: 'f' })).reply.attr.fid).toBe(sub);
    expect((await c.call(mdt.lookup, { parent: b, name: 'sub' })).reply.attr.fid).toBe(f);
    expect((await attr(a)).nlink).toBe(3);
    expect((await attr(b)).nlink).toBe(2);
  });
});

describe('readdir', () => {
  it('pages in name order with cookies, returning every entry present throughout exactly once', async () => {
    const d = await scratch();
    const initial = Array.from({ length: 50 }, (_, i) => `n${String(i).padStart(3, '0')}`);
    for (const n of initial) await mkfile(d, n);
    const seen: string[] = [];
    let cookie = 0;
    for (let page = 0; ; page++) {
      const { reply } = await c.call(mdt.readdir, { fid: d, cookie, countMax: 7, plus: page % 2 === 0 });
      seen.push(...reply.entries.map((e) => e.name));
      if (page % 2 === 0) expect(reply.entries.every((e) => e.node?.layout !== undefined)).toBe(true);
      if (reply.eof) break;
      cookie = reply.entries.at(-1)!.cookie;
      await mkfile(d, `added${page}`);
      if (page === 2) await c.call(mdt.unlink, { parent: d, name: reply.entries.at(-1)!.name, dir: false });
    }
    expect(seen).toEqual([...seen].sort());
    for (const n of initial) expect(seen.filter((s) => s === n)).toHaveLength(1);
    expect(await code(c.call(mdt.readdir, { fid: d, cookie: 999_999, countMax: 1, plus: false }))).toBe(
      'EINVAL',
    );
  });
});

describe('setattr and size_update', () => {
  it('changes mode, owner and times, bumping ctime; refuses sizes on directories', async () => {
    const d = await scratch();
    const f = await mkfile(d, 'f');
    const { reply } = await c.call(mdt.setattr, {
      ...{ fid: f, mode: 0o4711, uid: 7, gid: 8, projid: 3 },
      ...{ atime: { sec: 100, nsec: 5 }, mtime: { sec: 200, nsec: 6 } },
    });
    expect(reply.attr).toMatchObject({ mode: S_IFREG | 0o4711, uid: 7, gid: 8, projid: 3 });
    expect(reply.attr.atime).toEqual({ sec: 100, nsec: 5 });
    expect(reply.attr.mtime).toEqual({ sec: 200, nsec: 6 });
    expect(reply.attr.ctime.sec).toBeGreaterThan(200);
    const now = await c.call(mdt.setattr, { fid: f, mtime: 'now', size: 4096 });
    expect(now.reply.attr.mtime.sec).toBeGreaterThan(200);
    expect(now.reply.attr.size).toBe(4096);
    expect(await code(c.call(mdt.setattr, { fid: d, size: 0 }))).toBe('EISDIR');
    const up = await c.call(mdt.sizeUpdate, { fid: f, size: 10_000, mtime: { sec: 300, nsec: 0 } });
    expect(up.reply.attr).toMatchObject({ size: 10_000, mtime: { sec: 300, nsec: 0 } });
    const lower = await c.call(mdt.sizeUpdate, { fid: f, size: 10, mtime: { sec: 301, nsec: 0 } });
    expect(lower.reply.attr.size).toBe(10_000);
    expect(await code(c.call(mdt.sizeUpdate, { fid: d, size: 1, mtime: { sec: 1, nsec: 0 } }))).toBe(
      'EINVAL',
    );
  });
});

describe('xattrs', () => {
  it('stores, lists and removes with XATTR_CREATE/XATTR_REPLACE and the size limits', async () => {
    const d = await scratch();
    const f = await mkfile(d, 'f');
    const set = (name: string, value: Buffer, flags = 0) =>
      c.call(mdt.setxattr, { fid: f, name, flags }, value);
    await set('user.a', Buffer.from('one'));
    expect(await code(set('user.a', Buffer.from('x'), mdt.XATTR_CREATE))).toBe('EEXIST');
    expect(await code(set('user.b', Buffer.from('x'), mdt.XATTR_REPLACE))).toBe('ENODATA');
    await set('user.a', Buffer.from('two'), mdt.XATTR_REPLACE);
    await set('trusted.t', Buffer.alloc(0), mdt.XATTR_CREATE);
    await set('security.s', Buffer.alloc(64 * 1024, 1));
    expect(await code(set('user.big', Buffer.alloc(64 * 1024 + 1)))).toBe('ERANGE');
    expect(await code(set('system.posix_acl_access', Buffer.from('x')))).toBe('ENOTSUP');
    expect(await code(set('other.x', Buffer.from('x')))).toBe('ENOTSUP');
    expect((await c.call(mdt.getxattr, { fid: f, name: 'user.a' })).data.toString()).toBe('two');
    expect((await c.call(mdt.getxattr, { fid: f, name: 'trusted.t' })).data.length).toBe(0);
    expect(await code(c.call(mdt.getxattr, { fid: f, name: 'user.none' }))).toBe('ENODATA');
    expect((await c.call(mdt.listxattr, { fid: f })).reply.names).toEqual([
      'security.s',
      'trusted.t',
      'user.a',
    ]);
    await c.call(mdt.removexattr, { fid: f, name: 'user.a' });
    expect(await code(c.call(mdt.removexattr, { fid: f, name: 'user.a' }))).toBe('ENODATA');
    const lov = await c.call(mdt.getxattr, { fid: f, name: 'lustre.lov' });
    expect(JSON.parse(lov.data.toString())).toMatchObject({ components: [{ id: 1, pattern: 'raid0' }] });
    expect(await code(c.call(mdt.getxattr, { fid: d, name: 'lustre.lov' }))).toBe('ENODATA');
  });
});

describe('statfs, sync and fid2path', () => {
  it('reports inodes and bytes, syncs, and finds paths', async () => {
    const d = await scratch();
    const sub = await mkdir(d, 'sub');
    const f = await mkfile(sub, 'f');
    const { reply } = await c.call(mdt.statfs, {});
    expect(reply.totalBytes).toBeGreaterThan(0);
    expect(reply.files - reply.filesFree).toBeGreaterThan(3);
    await c.call(mdt.sync, {});
    expect((await c.call(mdt.fid2path, { fid: f })).reply.path).toMatch(/^\/t\d+\/sub\/f$/);
    expect((await c.call(mdt.fid2path, { fid: ROOT_FID })).reply.path).toBe('/');
  });
});
