import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KlError } from '@kubelustre/protocol/errors.ts';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { Node } from '../attr.ts';
import type { FileHandle } from '../file-handle.ts';
import { PccCache, type PccCacheOptions, type PccLibrary } from './pcc-cache.ts';

const FID = '0x200000400:0x1:0x0';
const log = pino({ level: 'silent' });
const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

/**
 * A fake MDT keeping one file's data version, this client's attachments (read-only and read-write) and
 * restore requests, and the file's bytes ("the OSTs"), which write handles change.
 */
function fakeLibrary(initial: Buffer) {
  let data = initial;
  const mdt = {
    version: 0,
    /** This client's read-only attachments: the version each was made at, by FID. */
    attached: new Map<string, number>(),
    writers: 0,
    stateCalls: 0,
    rw: undefined as string | undefined,
    restore: [] as string[],
    /** Bytes write-backs sent. */
    bytesWrittenBack: 0,
    ostData: () => data,
  };
  const handlers: Record<string, (req: { fid: string; cacheId?: string }) => object> = {
    'mdt.pcc_attach_rw': (req) => {
      mdt.version++;
      mdt.rw = req.cacheId;
      return { dataVersion: mdt.version };
    },
    'mdt.pcc_rw_check': () => {
      if (!mdt.rw) throw new KlError('ESTALE', 'not ours');
      return { dataVersion: mdt.version };
    },
    'mdt.pcc_rw_detach': () => {
      if (!mdt.rw) throw new KlError('ESTALE', 'not ours');
      mdt.rw = undefined;
      mdt.version++;
      return { dataVersion: mdt.version };
    },
    'mdt.pcc_rw_recover': (req) => ({ fids: mdt.rw === req.cacheId ? [FID] : [] }),
    'mdt.pcc_rw_poll': () => ({ restore: mdt.restore.splice(0), held: mdt.rw ? 1 : 0 }),
    'mdt.pcc_attach': (req) => {
      if (mdt.writers > 0) throw new KlError('EBUSY', 'writer');
      mdt.attached.set(req.fid, mdt.version);
      return { dataVersion: mdt.version };
    },
    'mdt.pcc_detach': (req) => {
      mdt.attached.delete(req.fid);
      return {};
    },
    'mdt.pcc_state': (req) => {
      mdt.stateCalls++;
      const attached = mdt.attached.get(req.fid) === mdt.version;
      return { dataVersion: mdt.version, attached, writers: mdt.writers };
    },
  };
  const writer = {
    get size() {
      return data.length;
    },
    write: async (chunk: Buffer, offset: number) => {
      mdt.bytesWrittenBack += chunk.length;
      const end = Math.max(data.length, offset + chunk.length);
      const next = Buffer.alloc(end);
      data.copy(next);
      chunk.copy(next, offset);
      data = next;
      return chunk.length;
    },
    truncate: async (size: number) => {
      data = data.subarray(0, size);
    },
    fsync: async () => undefined,
    close: async () => undefined,
  } as unknown as FileHandle;
  const lib: PccLibrary = {
    mdt: () =>
      ({
        call: async (op: { name: string }, req: { fid: string }) => {
          if (op.name === 'mdt.pcc_rw_poll') await new Promise((r) => setTimeout(r, 5));
          return { reply: handlers[op.name]!(req) };
        },
      }) as unknown as ReturnType<PccLibrary['mdt']>,
    getnode: async () => ({}) as Node,
    openRead: async () =>
      ({
        read: async (length: number, offset: number) => data.subarray(offset, offset + length),
        close: async () => undefined,
      }) as unknown as FileHandle,
    openWrite: async () => writer,
  };
  return { lib, mdt };
}

async function cache(
  lib: PccLibrary,
  revalidateMs: number,
  dir?: string,
  more: Partial<PccCacheOptions> = {},
): Promise<PccCache> {
  if (!dir) {
    dir = await mkdtemp(join(tmpdir(), 'kl-pcc-'));
    dirs.push(dir);
  }
  const c = await PccCache.open({ dir, lib, log, revalidateMs, ...more });
  if (!c) throw new Error('no cache');
  return c;
}

describe('PccCache', () => {
  it('copies the whole file at attach and serves reads from it while the version holds', async () => {
    const data = Buffer.from('0123456789'.repeat(1000));
    const { lib, mdt } = fakeLibrary(data);
    const c = await cache(lib, 60_000);
    await c.attach(FID);
    expect(await readFile(c.attachmentOf(FID)!.path)).toEqual(data);
    const r = (await c.openReader(FID))!;
    expect(await c.read(r, 5, 10)).toEqual(data.subarray(5, 15));
    expect(c.counters).toMatchObject({ hits: 1, bytesFromCache: 10, attaches: 1 });
    expect(mdt.stateCalls).toBe(2); // after the copy, and at open; none per read within the bound
    await c.closeReader(r);
  });

  it('stops serving a revoked copy at the next read past the bound, and detaches it', async () => {
    const { lib, mdt } = fakeLibrary(Buffer.alloc(100, 1));
    const c = await cache(lib, 0);
    await c.attach(FID);
    const path = c.attachmentOf(FID)!.path;
    const r = (await c.openReader(FID))!;
    expect(await c.read(r, 0, 10)).toHaveLength(10);
    mdt.version++; // another client announced a write
    expect(await c.read(r, 0, 10)).toBeUndefined();
    expect(c.attachmentOf(FID)).toBeUndefined();
    await expect(stat(path)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await c.openReader(FID)).toBeUndefined();
    await c.closeReader(r);
  });

  it('refuses a missing directory and keeps nothing of a refused attach', async () => {
    const { lib, mdt } = fakeLibrary(Buffer.alloc(10));
    expect(await PccCache.open({ dir: '/nonexistent/kl-pcc', lib, log })).toBeUndefined();
    const c = await cache(lib, 0);
    mdt.writers = 1;
    await expect(c.attach(FID)).rejects.toMatchObject({ code: 'EBUSY' });
    expect(c.attachmentOf(FID)).toBeUndefined();
  });

  it('keeps read-write data in the cache until fsync writes it back, and restores it on request', async () => {
    const { lib, mdt } = fakeLibrary(Buffer.from('0123456789'));
    const c = await cache(lib, 0);
    await c.attach(FID, 1, true);
    expect(c.rw.attachmentOf(FID)).toBeDefined();
    expect(await c.rw.write(FID, Buffer.from('ab'), 10)).toBe(2);
    expect(mdt.ostData().toString()).toBe('0123456789'); // only in the cache
    expect((await c.rw.read(FID, 8, 10))?.toString()).toBe('89ab');
    expect(await c.rw.sync(FID)).toBe(true);
    expect(mdt.ostData().toString()).toBe('0123456789ab');
    expect(mdt.bytesWrittenBack).toBe(2); // only what was written
    expect(c.rw.attachmentOf(FID)).toBeDefined(); // fsync keeps it attached
    expect(c.metrics()).toMatchObject({ writebacks: 1, cacheBytesUsed: 12 });
    await c.rw.sync(FID); // nothing written since: no write-back
    expect(c.counters.writebacks).toBe(1);
    expect(await c.rw.truncate(FID, 4)).toBe(true); // truncates the cache file only...
    expect(mdt.ostData().toString()).toBe('0123456789ab');
    await c.rw.sync(FID); // ...until the next write-back
    expect(mdt.ostData().toString()).toBe('0123');
    expect(c.rw.attachmentOf(FID)!.size).toBe(4);

    await c.rw.write(FID, Buffer.from('X'), 0);
    const path = c.rw.attachmentOf(FID)!.path;
    mdt.restore.push(FID); // another client opened it
    for (let i = 0; i < 200 && c.rw.attachmentOf(FID); i++) await new Promise((r) => setTimeout(r, 10));
    expect(c.rw.attachmentOf(FID)).toBeUndefined();
    expect(mdt.ostData().toString()).toBe('X123');
    expect(mdt.rw).toBeUndefined();
    await expect(stat(path)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await c.rw.write(FID, Buffer.from('Y'), 0)).toBeUndefined(); // the caller writes to the OSTs
    await c.close();
  });

  it('writes back at detach, and a new cache over the same directory recovers what a dead one left', async () => {
    const { lib, mdt } = fakeLibrary(Buffer.from('abc'));
    const dir = await mkdtemp(join(tmpdir(), 'kl-pcc-'));
    dirs.push(dir);
    const c = await cache(lib, 0, dir);
    await c.attach(FID, 1, true);
    await c.rw.write(FID, Buffer.from('Z'), 1);
    await c.detach(FID);
    expect(mdt.ostData().toString()).toBe('aZc');
    expect(c.counters).toMatchObject({ writebacks: 1, detaches: 1 });

    await c.attach(FID, 1, true);
    await c.rw.write(FID, Buffer.from('never synced'), 0);
    // The first cache dies without a word (its process killed); a second one opens the directory.
    const leftover = join(dir, '0x200000400:0x9:0x0'); // a read-only copy: dropped at recovery
    await writeFile(leftover, 'old');
    const again = await cache(lib, 0, dir);
    expect(mdt.ostData().toString()).toBe('never synced');
    expect(mdt.rw).toBeUndefined();
    expect(again.rw.attachmentOf(FID)).toBeUndefined();
    await expect(stat(leftover)).rejects.toMatchObject({ code: 'ENOENT' });
    await c.rw.close().catch(() => undefined);
  });

  it('evicts least-recently-used unopened read-only copies above the high watermark, down to the low', async () => {
    const { lib } = fakeLibrary(Buffer.alloc(30, 7));
    const watermarks = { capacityBytes: 100, highPercent: 80, lowPercent: 60 };
    const c = await cache(lib, 60_000, undefined, { watermarks });
    const [f1, f2, f3, f4] = [
      '0x200000400:0x1:0x0',
      '0x200000400:0x2:0x0',
      '0x200000400:0x3:0x0',
      '0x200000400:0x4:0x0',
    ];
    await c.attach(f1!);
    await new Promise((r) => setTimeout(r, 5));
    await c.attach(f2!);
    await new Promise((r) => setTimeout(r, 5));
    const r1 = (await c.openReader(f1!))!; // f1 is used again: f2 is now the least recently used
    await c.closeReader(r1);
    await new Promise((r) => setTimeout(r, 5));
    await c.attach(f3!); // 90 bytes > 80: evict f2 (60 <= 60)
    await c.evict();
    expect([f1, f2, f3].map((f) => c.attachmentOf(f!) !== undefined)).toEqual([true, false, true]);
    expect(c.counters.evictions).toBe(1);
    // An open copy is never evicted, even the least recently used one.
    const held = (await c.openReader(f1!))!;
    await new Promise((r) => setTimeout(r, 5));
    await c.attach(f4!); // 90 again: f1 is open, so f3 goes
    await c.evict();
    expect([f1, f3, f4].map((f) => c.attachmentOf(f!) !== undefined)).toEqual([true, false, true]);
    expect(c.metrics()).toMatchObject({ evictions: 2, cacheBytesUsed: 60 });
    await c.closeReader(held);
    await c.close();
  });

  it('drops a read-write copy the MDT gave up (eviction); an fsync then fails EIO', async () => {
    const { lib, mdt } = fakeLibrary(Buffer.from('abc'));
    const c = await cache(lib, 0);
    await c.attach(FID, 1, true);
    await c.rw.write(FID, Buffer.from('lost'), 0);
    mdt.rw = undefined; // evicted: the MDT dropped the attachment
    await expect(c.rw.sync(FID)).rejects.toMatchObject({ code: 'EIO' });
    expect(c.rw.attachmentOf(FID)).toBeUndefined();
    expect(mdt.ostData().toString()).toBe('abc');

    await c.attach(FID, 1, true);
    mdt.rw = undefined;
    // The poll answers held 0 < 1: the mount checks, and drops the copy.
    for (let i = 0; i < 200 && c.rw.attachmentOf(FID); i++) await new Promise((r) => setTimeout(r, 10));
    expect(c.rw.attachmentOf(FID)).toBeUndefined();
    await c.close();
  });
});
