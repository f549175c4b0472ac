import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { isKlError } from '@kubelustre/protocol/errors.ts';
import { silentLogger } from '@kubelustre/protocol/log.ts';
import * as ost from '@kubelustre/protocol/messages/ost.ts';
import { RpcClient } from '@kubelustre/protocol/wire/rpc-client.ts';
import { RpcServer } from '@kubelustre/protocol/wire/rpc-server.ts';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunningTarget } from '../server/role.ts';
import { OBJECT_BYTES_MAX } from './object-store.ts';
import { type OstOptions, startOst } from './ost-target.ts';

const key = Buffer.alloc(32, 3);
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function tempDir(): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'kl-ost-'));
  cleanups.push(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

interface TestOst {
  client: RpcClient;
  target: RunningTarget;
  registry: Registry;
  /** Closes client, server and target. A test that never calls it before starting another OST on the
   * same directory simulates kill -9: no flush, and the cleanup closes it only when the test ends. */
  stop(): Promise<void>;
}

/** An OST on a real socket, with a client connected to it. */
async function startTestOst(dataDir: string, opts: OstOptions = {}): Promise<TestOst> {
  const rpc = new RpcServer({ name: 'kl-OST0001', key, log: silentLogger });
  const registry = new Registry();
  const target = await startOst(
    { fsName: 'kl', index: 1, dataDir, advertise: '', key, log: silentLogger, registry, rpc },
    opts,
  );
  const { port } = await rpc.listen('127.0.0.1', 0);
  const client = new RpcClient({
    address: `127.0.0.1:${port}`,
    key,
    clientUuid: randomUUID(),
    log: silentLogger,
    requestTimeoutMs: 10_000,
  });
  let closed = false;
  const stop = async () => {
    if (closed) return;
    closed = true;
    client.close();
    await rpc.close(100);
    await target.close();
  };
  cleanups.push(stop);
  return { client, target, registry, stop };
}

async function startFresh(opts: OstOptions = {}): Promise<TestOst & { dataDir: string }> {
  const dataDir = await tempDir();
  return { dataDir, ...(await startTestOst(dataDir, opts)) };
}

async function metric(registry: Registry, name: string): Promise<number> {
  const m = registry.getSingleMetric(name);
  if (!m) throw new Error(`metric ${name} missing`);
  return (await m.get()).values[0]?.value ?? 0;
}

async function failure(p: Promise<unknown>): Promise<Error> {
  return p.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: Error) => e,
  );
}

describe('OST', () => {
  it('names itself like Lustre and is ready once started', async () => {
    const { target, client } = await startFresh();
    expect(target.name).toBe('kl-OST0001');
    expect(target.ready()).toBe(true);
    await client.call(ost.statfs, {});
    expect(client.targetName).toBe('kl-OST0001');
    await target.close();
    expect(target.ready()).toBe(false);
  });

  it('reads back writes at odd offsets, short at the end, holes as zeros', async () => {
    const { client } = await startFresh();
    await client.call(ost.precreate, { mdtIndex: 0, count: 1 });
    const model = Buffer.alloc(3 * 1024 * 1024 + 77);
    const pieces: Array<[number, number]> = [
      [7, 1000],
      [4095, 3],
      [1024 * 1024 + 3, 70_001],
      [3 * 1024 * 1024, 77],
    ];
    for (const [offset, length] of pieces) {
      const data = randomBytes(length);
      data.copy(model, offset);
      const r = await client.call(ost.write, { objId: 1, offset, sync: false, projid: 0 }, data);
      expect(r.reply.size).toBe(offset + length); // pieces ascend: each one ends the object
    }
    for (const [offset, length] of [
      [0, 4096],
      [4000, 200_000],
      [1024 * 1024, 8 * 1024 * 1024],
      [3 * 1024 * 1024 + 50, 1000],
    ] as const) {
      const r = await client.call(ost.read, { objId: 1, offset, length });
      expect(r.reply.size).toBe(model.length);
      expect(r.data.equals(model.subarray(offset, offset + length))).toBe(true);
    }
    const past = await client.call(ost.read, { objId: 1, offset: model.length + 10, length: 100 });
    expect(past.data.length).toBe(0);
    expect(past.reply.size).toBe(model.length);
  });

  it('treats reserved ids as empty objects and unknown ids as ENOENT', async () => {
    const { client } = await startFresh();
    await client.call(ost.precreate, { mdtIndex: 0, count: 2 });
    const r = await client.call(ost.read, { objId: 2, offset: 0, length: 100 });
    expect(r.reply.size).toBe(0);
    expect(r.data.length).toBe(0);
    expect((await client.call(ost.getattr, { objId: 2 })).reply).toEqual({ size: 0, blocks: 0 });
    const seekErr = await failure(client.call(ost.seek, { objId: 2, offset: 0, whence: 'data' }));
    expect(isKlError(seekErr, 'ENXIO')).toBe(true);
    for (const call of [
      client.call(ost.read, { objId: 3, offset: 0, length: 1 }),
      client.call(ost.write, { objId: 3, offset: 0, sync: false, projid: 0 }, Buffer.from('x')),
      client.call(ost.getattr, { objId: 3 }),
      client.call(ost.punch, { objId: 3, size: 1, projid: 0 }),
      client.call(ost.sync, { objIds: [3] }),
    ]) {
      const err = await failure(call);
      expect(isKlError(err, 'ENOENT')).toBe(true);
      expect(err.message).toBe('ENOENT: object 3 not found on kl-OST0001');
    }
  });

  it('shrinks and extends objects with punch, creating them if needed', async () => {
    const { client } = await startFresh();
    await client.call(ost.precreate, { mdtIndex: 0, count: 2 });
    const data = randomBytes(10_000);
    await client.call(ost.write, { objId: 1, offset: 0, sync: false, projid: 0 }, data);
    await client.call(ost.punch, { objId: 1, size: 100, projid: 0 });
    expect((await client.call(ost.getattr, { objId: 1 })).reply.size).toBe(100);
    await client.call(ost.punch, { objId: 1, size: 5000, projid: 0 });
    const r = await client.call(ost.read, { objId: 1, offset: 0, length: 10_000 });
    expect(r.data.length).toBe(5000);
    expect(r.data.subarray(0, 100).equals(data.subarray(0, 100))).toBe(true);
    expect(r.data.subarray(100).equals(Buffer.alloc(4900))).toBe(true);
    await client.call(ost.punch, { objId: 2, size: 123, projid: 0 });
    expect((await client.call(ost.getattr, { objId: 2 })).reply.size).toBe(123);
  });

  it('syncs written objects and counts each fdatasync', async () => {
    const { client, registry } = await startFresh();
    await client.call(ost.precreate, { mdtIndex: 0, count: 3 });
    await client.call(ost.write, { objId: 1, offset: 0, sync: false, projid: 0 }, Buffer.from('a'));
    await client.call(ost.write, { objId: 2, offset: 0, sync: false, projid: 0 }, Buffer.from('b'));
    await client.call(ost.sync, { objIds: [] });
    expect(await metric(registry, 'kubelustre_ost_sync_total')).toBe(2);
    await client.call(ost.sync, { objIds: [] }); // nothing changed since
    expect(await metric(registry, 'kubelustre_ost_sync_total')).toBe(2);
    await client.call(ost.write, { objId: 1, offset: 1, sync: true, projid: 0 }, Buffer.from('c'));
    expect(await metric(registry, 'kubelustre_ost_sync_total')).toBe(3);
    await client.call(ost.sync, { objIds: [1, 1, 3] }); // 3 is reserved but unwritten: nothing to flush
    expect(await metric(registry, 'kubelustre_ost_sync_total')).toBe(4);
  });

  it('reports size and allocated blocks', async () => {
    const { client } = await startFresh();
    await client.call(ost.precreate, { mdtIndex: 0, count: 1 });
    await client.call(ost.write, { objId: 1, offset: 0, sync: false, projid: 0 }, randomBytes(1024 * 1024));
    const { reply } = await client.call(ost.getattr, { objId: 1 });
    expect(reply.size).toBe(1024 * 1024);
    expect(reply.blocks).toBeGreaterThanOrEqual(2048); // 512-byte units
  });

  it('finds data and holes in a sparse object', async () => {
    const { client } = await startFresh();
    await client.call(ost.precreate, { mdtIndex: 0, count: 1 });
    const chunk = 64 * 1024; // a multiple of any filesystem block size
    const mib = 1024 * 1024;
    await client.call(ost.write, { objId: 1, offset: 0, sync: false, projid: 0 }, randomBytes(chunk));
    await client.call(ost.write, { objId: 1, offset: mib, sync: false, projid: 0 }, randomBytes(chunk));
    const seek = async (offset: number, whence: 'data' | 'hole') =>
      (await client.call(ost.seek, { objId: 1, offset, whence })).reply.offset;
    expect(await seek(0, 'data')).toBe(0);
    expect(await seek(0, 'hole')).toBe(chunk);
    expect(await seek(chunk, 'data')).toBe(mib);
    expect(await seek(mib, 'hole')).toBe(mib + chunk); // the implicit hole at the end
    const err = await failure(client.call(ost.seek, { objId: 1, offset: mib + chunk, whence: 'data' }));
    expect(isKlError(err, 'ENXIO')).toBe(true);
  });

  it('destroys idempotently', async () => {
    const { client } = await startFresh();
    await client.call(ost.precreate, { mdtIndex: 0, count: 2 });
    await client.call(ost.write, { objId: 1, offset: 0, sync: false, projid: 0 }, Buffer.from('doomed'));
    await client.call(ost.destroy, { objIds: [1, 2, 99] });
    await client.call(ost.destroy, { objIds: [1] });
    expect((await client.call(ost.read, { objId: 1, offset: 0, length: 10 })).data.length).toBe(0);
    expect((await client.call(ost.listObjects, { after: 0, countMax: 10 })).reply).toEqual({
      objIds: [],
      eof: true,
    });
  });

  it('refuses extents past the object size limit with EFBIG', async () => {
    const { client } = await startFresh();
    await client.call(ost.precreate, { mdtIndex: 0, count: 1 });
    const write = client.call(
      ost.write,
      { objId: 1, offset: OBJECT_BYTES_MAX - 1, sync: false, projid: 0 },
      Buffer.alloc(2),
    );
    expect(isKlError(await failure(write), 'EFBIG')).toBe(true);
    const punch = client.call(ost.punch, { objId: 1, size: OBJECT_BYTES_MAX + 1, projid: 0 });
    expect(isKlError(await failure(punch), 'EFBIG')).toBe(true);
  });

  it('hands out disjoint, increasing id ranges that survive a restart and a crash', async () => {
    const { dataDir, client, stop } = await startFresh();
    expect((await client.call(ost.precreate, { mdtIndex: 0, count: 10 })).reply).toEqual({
      first: 1,
      last: 10,
    });
    expect((await client.call(ost.precreate, { mdtIndex: 1, count: 5 })).reply).toEqual({
      first: 11,
      last: 15,
    });
    const ranges = await Promise.all(
      Array.from({ length: 20 }, (_, i) => client.call(ost.precreate, { mdtIndex: i % 3, count: 7 })),
    );
    const sorted = ranges.map((r) => r.reply).sort((a, b) => a.first - b.first);
    expect(sorted).toEqual(Array.from({ length: 20 }, (_, i) => ({ first: 16 + 7 * i, last: 22 + 7 * i })));
    await stop();

    const restarted = await startTestOst(dataDir);
    const after = await restarted.client.call(ost.precreate, { mdtIndex: 0, count: 1 });
    expect(after.reply).toEqual({ first: 156, last: 156 });
    // The first instance is never closed: its successor must rely on what is already on disk.
    const again = await startTestOst(dataDir);
    expect((await again.client.call(ost.precreate, { mdtIndex: 0, count: 1 })).reply.first).toBe(157);
  });

  it('keeps written data across a restart, and flushes on close', async () => {
    const { dataDir, client, stop } = await startFresh();
    await client.call(ost.precreate, { mdtIndex: 0, count: 1 });
    const data = randomBytes(100_000);
    await client.call(ost.write, { objId: 1, offset: 12_345, sync: false, projid: 0 }, data);
    await stop();
    const restarted = await startTestOst(dataDir);
    const r = await restarted.client.call(ost.read, { objId: 1, offset: 12_345, length: data.length });
    expect(r.data.equals(data)).toBe(true);
  });

  it('lists objects in id order, in pages', async () => {
    const { client } = await startFresh();
    await client.call(ost.precreate, { mdtIndex: 0, count: 600 });
    const written = Array.from({ length: 300 }, (_, i) => 2 * i + 1); // every other id, across all buckets
    await Promise.all(
      written.map((objId) =>
        client.call(ost.write, { objId, offset: 0, sync: false, projid: 0 }, Buffer.from('x')),
      ),
    );
    await client.call(ost.destroy, { objIds: [1, 301] });
    const listed: number[] = [];
    let after = 0;
    for (let page = 0; page < 10; page++) {
      const { reply } = await client.call(ost.listObjects, { after, countMax: 64 });
      listed.push(...reply.objIds);
      if (reply.eof) break;
      expect(reply.objIds.length).toBe(64);
      after = reply.objIds.at(-1)!;
    }
    expect(listed).toEqual(written.filter((id) => id !== 1 && id !== 301));
  });

  it('serves 200 concurrent writes to one object', async () => {
    const { client } = await startFresh();
    await client.call(ost.precreate, { mdtIndex: 0, count: 1 });
    const pieceBytes = 10_007;
    const pieces = Array.from({ length: 200 }, () => randomBytes(pieceBytes));
    await Promise.all(
      pieces.map((data, i) =>
        client.call(ost.write, { objId: 1, offset: i * pieceBytes, sync: i % 10 === 0, projid: 0 }, data),
      ),
    );
    const r = await client.call(ost.read, { objId: 1, offset: 0, length: 200 * pieceBytes });
    expect(r.data.equals(Buffer.concat(pieces))).toBe(true);
  });

  it('keeps no more than openFilesMax descriptors open', async () => {
    const { client, registry } = await startFresh({ openFilesMax: 8 });
    await client.call(ost.precreate, { mdtIndex: 0, count: 50 });
    const ids = Array.from({ length: 50 }, (_, i) => i + 1);
    for (const objId of ids)
      await client.call(
        ost.write,
        { objId, offset: objId, sync: false, projid: 0 },
        Buffer.from(`object ${objId}`),
      );
    expect(await metric(registry, 'kubelustre_ost_open_files')).toBeLessThanOrEqual(8);
    const reads = await Promise.all(
      ids.map((objId) => client.call(ost.read, { objId, offset: objId, length: 100 })),
    );
    expect(reads.map((r) => r.data.toString())).toEqual(ids.map((objId) => `object ${objId}`));
    await client.call(ost.sync, { objIds: [] }); // reopens evicted dirty objects to flush them
    expect(await metric(registry, 'kubelustre_ost_open_files')).toBeLessThanOrEqual(8);
  });

  it('reports space and inodes', async () => {
    const { client, target } = await startFresh();
    const { reply } = await client.call(ost.statfs, {});
    expect(reply.totalBytes).toBeGreaterThan(0);
    expect(reply.availBytes).toBeLessThanOrEqual(reply.freeBytes);
    expect(reply.freeBytes).toBeLessThanOrEqual(reply.totalBytes);
    expect((await target.statfs()).totalBytes).toBe(reply.totalBytes);
  });
});

describe('OST project accounting', () => {
  const KiB = 1024;
  const usageOf = async (client: RpcClient, grants: Array<{ projid: number; allowedBytes: number }> = []) => {
    const withLimits = grants.map((g) => ({ ...g, limitBytes: g.allowedBytes }));
    const { reply } = await client.call(ost.quotaSync, { grants: withLimits });
    return new Map(reply.usage.map((u) => [u.projid, u.bytes]));
  };

  it('charges allocated bytes to the project across write, punch, fallocate and destroy', async () => {
    const { client } = await startFresh();
    await client.call(ost.precreate, { mdtIndex: 0, count: 3 });
    await client.call(ost.write, { objId: 1, offset: 0, sync: false, projid: 42 }, randomBytes(64 * KiB));
    await client.call(ost.write, { objId: 2, offset: 0, sync: false, projid: 0 }, randomBytes(64 * KiB));
    expect(await usageOf(client)).toEqual(new Map([[42, 64 * KiB]]));
    await client.call(ost.punch, { objId: 1, size: 16 * KiB, projid: 42 });
    expect(await usageOf(client)).toEqual(new Map([[42, 16 * KiB]]));
    await client.call(ost.fallocate, { objId: 3, mode: 0, offset: 0, length: 32 * KiB, projid: 42 });
    expect(await usageOf(client)).toEqual(new Map([[42, 48 * KiB]]));
    // A project change moves the object's bytes at its next charged op.
    await client.call(ost.punch, { objId: 3, size: 32 * KiB, projid: 7 });
    expect(await usageOf(client)).toEqual(
      new Map([
        [42, 16 * KiB],
        [7, 32 * KiB],
      ]),
    );
    await client.call(ost.destroy, { objIds: [1, 3] });
    expect(await usageOf(client)).toEqual(new Map());
  });

  it('refuses growth past the grant with EDQUOT, and overwrites within it', async () => {
    const { client } = await startFresh();
    await client.call(ost.precreate, { mdtIndex: 0, count: 1 });
    await usageOf(client, [{ projid: 5, allowedBytes: 64 * KiB }]);
    await client.call(ost.write, { objId: 1, offset: 0, sync: false, projid: 5 }, randomBytes(64 * KiB));
    await client.call(ost.write, { objId: 1, offset: 0, sync: false, projid: 5 }, randomBytes(64 * KiB));
    const refused = client.call(
      ost.write,
      { objId: 1, offset: 64 * KiB, sync: false, projid: 5 },
      randomBytes(1),
    );
    const e = await failure(refused);
    expect(isKlError(e, 'EDQUOT')).toBe(true);
    expect(e.message).toContain('project 5 over its');
    // Project 0 and unlimited projects are never refused.
    await client.call(ost.write, { objId: 1, offset: 0, sync: false, projid: 0 }, randomBytes(128 * KiB));
  });

  it('recomputes usage after kill -9 from the project log and the objects, skipping a torn line', async () => {
    const { client, dataDir } = await startFresh();
    await client.call(ost.precreate, { mdtIndex: 0, count: 2 });
    await client.call(ost.write, { objId: 1, offset: 0, sync: false, projid: 9 }, randomBytes(40 * KiB));
    await client.call(ost.write, { objId: 2, offset: 0, sync: false, projid: 9 }, randomBytes(8 * KiB));
    await client.call(ost.destroy, { objIds: [2] });
    await fs.appendFile(path.join(dataDir, 'PROJECT_OBJECTS'), '2 9\n1 ');
    // No stop: the first OST is abandoned as a killed process would be.
    const again = await startTestOst(dataDir);
    expect(await usageOf(again.client)).toEqual(new Map([[9, 40 * KiB]]));
  });
});
