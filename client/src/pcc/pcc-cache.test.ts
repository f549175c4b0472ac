import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KlError } from '@kubelustre/protocol/errors.ts';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { Node } from '../attr.ts';
import type { FileHandle } from '../file-handle.ts';
import { PccCache, type PccLibrary } from './pcc-cache.ts';

const FID = '0x200000400:0x1:0x0';
const log = pino({ level: 'silent' });
const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

/** A fake MDT keeping one file's data version and this client's attachment, and the file's bytes. */
function fakeLibrary(data: Buffer) {
  const mdt = { version: 0, attached: undefined as number | undefined, writers: 0, stateCalls: 0 };
  const handlers: Record<string, (req: { fid: string }) => object> = {
    'mdt.pcc_attach': () => {
      if (mdt.writers > 0) throw new KlError('EBUSY', 'writer');
      mdt.attached = mdt.version;
      return { dataVersion: mdt.version };
    },
    'mdt.pcc_detach': () => {
      mdt.attached = undefined;
      return {};
    },
    'mdt.pcc_state': () => {
      mdt.stateCalls++;
      return { dataVersion: mdt.version, attached: mdt.attached === mdt.version, writers: mdt.writers };
    },
  };
  const handle = {
    read: async (length: number, offset: number) => data.subarray(offset, offset + length),
    close: async () => undefined,
  } as unknown as FileHandle;
  const lib: PccLibrary = {
    mdt: () =>
      ({
        call: async (op: { name: string }, req: { fid: string }) => ({ reply: handlers[op.name]!(req) }),
      }) as unknown as ReturnType<PccLibrary['mdt']>,
    getnode: async () => ({}) as Node,
    openRead: async () => handle,
  };
  return { lib, mdt };
}

async function cache(lib: PccLibrary, revalidateMs: number): Promise<PccCache> {
  const dir = await mkdtemp(join(tmpdir(), 'kl-pcc-'));
  dirs.push(dir);
  const c = await PccCache.open({ dir, lib, log, revalidateMs });
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
});
