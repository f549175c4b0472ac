import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { silentLogger } from '@kubelustre/protocol/log.ts';
import * as ost from '@kubelustre/protocol/messages/ost.ts';
import { RpcClient } from '@kubelustre/protocol/wire/rpc-client.ts';
import { RpcServer } from '@kubelustre/protocol/wire/rpc-server.ts';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { startOst } from './ost-target.ts';

const key = Buffer.alloc(32, 5);
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A fresh OST with `objects` precreated object ids and a client of it. */
async function ostWith(objects: number): Promise<RpcClient> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'kl-ost-falloc-'));
  const rpc = new RpcServer({ name: 'kl-OST0000', key, log: silentLogger });
  const ctx = { fsName: 'kl', index: 0, dataDir, advertise: '', key, log: silentLogger };
  const target = await startOst({ ...ctx, registry: new Registry(), rpc });
  const { port } = await rpc.listen('127.0.0.1', 0);
  const address = `127.0.0.1:${port}`;
  const client = new RpcClient({ address, key, clientUuid: randomUUID(), log: silentLogger });
  cleanups.push(async () => {
    client.close();
    await rpc.close(100);
    await target.close();
    await fs.rm(dataDir, { recursive: true, force: true });
  });
  await client.call(ost.precreate, { mdtIndex: 0, count: objects });
  return client;
}

const KiB = 1024;
const { FALLOC_FL_KEEP_SIZE: KEEP_SIZE, FALLOC_FL_PUNCH_HOLE: PUNCH } = ost;

describe('ost.fallocate', () => {
  it('reserves space, growing the object unless KEEP_SIZE', async () => {
    const c = await ostWith(2);
    await c.call(ost.fallocate, { objId: 1, mode: 0, offset: 64 * KiB, length: 256 * KiB, projid: 0 });
    const grown = (await c.call(ost.getattr, { objId: 1 })).reply;
    expect(grown.size).toBe(320 * KiB);
    expect(grown.blocks).toBeGreaterThanOrEqual((256 * KiB) / 512);
    await c.call(ost.fallocate, { objId: 2, mode: KEEP_SIZE, offset: 0, length: 128 * KiB, projid: 0 });
    const kept = (await c.call(ost.getattr, { objId: 2 })).reply;
    expect(kept.size).toBe(0);
    expect(kept.blocks).toBeGreaterThanOrEqual((128 * KiB) / 512);
    // Reserved space reads as zeros.
    expect((await c.call(ost.read, { objId: 1, offset: 0, length: 320 * KiB })).data).toEqual(
      Buffer.alloc(320 * KiB),
    );
  });

  it('punches a hole that reads as zeros and seeks as a hole, keeping the size', async () => {
    const c = await ostWith(2);
    const data = randomBytes(512 * KiB);
    await c.call(ost.write, { objId: 1, offset: 0, sync: false, projid: 0 }, data);
    await c.call(ost.fallocate, {
      objId: 1,
      mode: PUNCH | KEEP_SIZE,
      offset: 128 * KiB,
      length: 128 * KiB,
      projid: 0,
    });
    expect((await c.call(ost.getattr, { objId: 1 })).reply.size).toBe(512 * KiB);
    const read = (await c.call(ost.read, { objId: 1, offset: 0, length: 512 * KiB })).data;
    const expected = Buffer.from(data);
    expected.fill(0, 128 * KiB, 256 * KiB);
    expect(read.equals(expected)).toBe(true);
    const hole = (await c.call(ost.seek, { objId: 1, offset: 0, whence: 'hole' })).reply.offset;
    expect(hole).toBe(128 * KiB);
    // Punching an object never written has nothing to do.
    await c.call(ost.fallocate, { objId: 2, mode: PUNCH | KEEP_SIZE, offset: 0, length: 4096, projid: 0 });
    expect((await c.call(ost.listObjects, { after: 0, countMax: 10 })).reply.objIds).toEqual([1]);
  });

  it('answers ENOTSUP for a punch without KEEP_SIZE', async () => {
    const c = await ostWith(1);
    const req = { objId: 1, mode: PUNCH, offset: 0, length: 4096, projid: 0 };
    await expect(c.call(ost.fallocate, req)).rejects.toMatchObject({ code: 'ENOTSUP' });
  });
});
