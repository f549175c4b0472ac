import fs, { type FileHandle } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { silentLogger } from '@kubelustre/protocol/log.ts';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { HandleCache } from './handle-cache.ts';

let dir: string;
let cache: HandleCache;
const opened = new Map<number, FileHandle>();

beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'kl-handles-'));
  opened.clear();
});
afterEach(async () => {
  await cache.closeAll();
  await fs.rm(dir, { recursive: true, force: true });
});

function open(key: number): () => Promise<FileHandle> {
  return async () => {
    const fh = await fs.open(path.join(dir, String(key)), 'w+');
    opened.set(key, fh);
    return fh;
  };
}

async function touch(key: number): Promise<void> {
  using _lease = await cache.acquire(key, open(key));
}

async function expectClosed(key: number): Promise<void> {
  await vi.waitFor(() => expect(opened.get(key)?.fd).toBe(-1), { timeout: 2000, interval: 5 });
}

describe('HandleCache', () => {
  it('closes the least recently used idle handles beyond its bound', async () => {
    cache = new HandleCache(2, silentLogger);
    await touch(1);
    await touch(2);
    await touch(1); // now 2 is the least recently used
    await touch(3);
    expect(cache.size).toBe(2);
    await expectClosed(2);
    expect(opened.get(1)!.fd).toBeGreaterThan(0);
    expect(opened.get(3)!.fd).toBeGreaterThan(0);
  });

  it('shares one open among concurrent callers of a key', async () => {
    cache = new HandleCache(4, silentLogger);
    const opener = vi.fn(open(1));
    const leases = await Promise.all([1, 2, 3].map(() => cache.acquire(1, opener)));
    expect(opener).toHaveBeenCalledTimes(1);
    expect(new Set(leases.map((l) => l.handle)).size).toBe(1);
    for (const l of leases) l[Symbol.dispose]();
  });

  it('never closes a handle in use, and shrinks back to its bound on release', async () => {
    cache = new HandleCache(1, silentLogger);
    const first = await cache.acquire(1, open(1));
    const second = await cache.acquire(2, open(2));
    expect(cache.size).toBe(2);
    await first.handle.write(Buffer.from('still open'), 0, 10, 0);
    first[Symbol.dispose]();
    first[Symbol.dispose](); // releasing twice is harmless
    second[Symbol.dispose]();
    expect(cache.size).toBe(1);
    await expectClosed(1);
  });

  it('closes a forgotten handle once its last user releases it', async () => {
    cache = new HandleCache(4, silentLogger);
    const lease = await cache.acquire(1, open(1));
    cache.forget(1);
    expect(cache.size).toBe(0);
    expect(lease.handle.fd).toBeGreaterThan(0);
    lease[Symbol.dispose]();
    await expectClosed(1);
  });

  it('does not cache a failed open', async () => {
    cache = new HandleCache(4, silentLogger);
    const missing = () => fs.open(path.join(dir, 'missing'), 'r+');
    await expect(cache.acquire(1, missing)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(cache.size).toBe(0);
    await touch(1);
    expect(cache.size).toBe(1);
  });

  it('closes everything on closeAll', async () => {
    cache = new HandleCache(4, silentLogger);
    await touch(1);
    await touch(2);
    await cache.closeAll();
    expect(cache.size).toBe(0);
    expect(opened.get(1)!.fd).toBe(-1);
    expect(opened.get(2)!.fd).toBe(-1);
  });
});
