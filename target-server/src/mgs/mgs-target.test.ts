import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '@kubelustre/protocol/log.ts';
import { config, pool, register, report, setDefaultLayout } from '@kubelustre/protocol/messages/mgs.ts';
import { RpcClient } from '@kubelustre/protocol/wire/rpc-client.ts';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultLayout } from './registry.ts';
import { startTestMgs, TEST_KEY } from './test-mgs.ts';

const space = { totalBytes: 100, freeBytes: 50, availBytes: 40, files: 10, filesFree: 5 };
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kl-mgs-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function startMgsIn(dataDir: string, opts: Parameters<typeof startTestMgs>[1] = {}) {
  const m = await startTestMgs(dataDir, opts);
  cleanups.push(() => m.stop());
  return m;
}

function client(address: string, clientUuid: string = crypto.randomUUID()): RpcClient {
  const c = new RpcClient({
    address,
    key: TEST_KEY,
    clientUuid,
    log: silentLogger,
    requestTimeoutMs: 5000,
    backoffMinMs: 10,
  });
  cleanups.push(() => c.close());
  return c;
}

const ost = (index: number, uuid = `00000000-0000-4000-8000-00000000000${index}`) => ({
  role: 'ost' as const,
  index,
  uuid,
  address: `127.0.0.1:${7000 + index}`,
});

describe('MGS over RPC', () => {
  it('registers targets and serves them in the configuration', async () => {
    const { address } = await startMgsIn(await tempDir());
    const c = client(address);
    const r = await c.call(register, ost(1));
    expect(r.reply).toEqual({ fsName: 'fs1', version: 1 });
    const { reply } = await c.call(config, { sinceVersion: -1, waitMs: 0 });
    expect(reply.version).toBe(1);
    expect(reply.targets).toMatchObject([{ ...ost(1), state: 'up' }]);
    expect(reply.defaultLayout).toEqual(defaultLayout());
  });

  it('refuses a second target on a taken index with EEXIST', async () => {
    const { address } = await startMgsIn(await tempDir());
    const c = client(address);
    await c.call(register, ost(3));
    const err = await c.call(register, ost(3, crypto.randomUUID())).catch((e) => e);
    expect(err).toMatchObject({ code: 'EEXIST' });
    expect(err.message).toContain('OST0003 is already registered by another target');
  });

  it('records reports without a version bump, and answers ENOENT for an unknown target', async () => {
    const { address } = await startMgsIn(await tempDir());
    const c = client(address);
    await c.call(register, ost(1));
    await c.call(report, { role: 'ost', index: 1, space });
    const { reply } = await c.call(config, { sinceVersion: -1, waitMs: 0 });
    expect(reply.version).toBe(1);
    expect(reply.targets[0]!.space).toEqual(space);
    await expect(c.call(report, { role: 'ost', index: 2, space })).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('wakes a long poll when a pool changes', async () => {
    const { address } = await startMgsIn(await tempDir());
    const admin = client(address);
    await admin.call(register, ost(0));
    const poll = client(address).call(config, { sinceVersion: 1, waitMs: 20_000 });
    await new Promise((r) => setTimeout(r, 50));
    const started = Date.now();
    await admin.call(pool, { op: 'new', pool: 'flash', osts: [] });
    const { reply } = await poll;
    expect(Date.now() - started).toBeLessThan(2000);
    expect(reply.version).toBe(2);
    expect(reply.pools).toEqual({ flash: [] });
  });

  it('answers a long poll with the unchanged configuration when its wait is over', async () => {
    const { address } = await startMgsIn(await tempDir());
    const started = Date.now();
    const { reply } = await client(address).call(config, { sinceVersion: 0, waitMs: 100 });
    expect(reply.version).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
  });

  it('maps pool and layout errors to their codes', async () => {
    const { address } = await startMgsIn(await tempDir());
    const c = client(address);
    await c.call(register, ost(0));
    await c.call(pool, { op: 'new', pool: 'p', osts: [] });
    await c.call(pool, { op: 'add', pool: 'p', osts: [0] });
    await expect(c.call(pool, { op: 'destroy', pool: 'p', osts: [] })).rejects.toMatchObject({
      code: 'ENOTEMPTY',
    });
    const bad = { ...defaultLayout(), components: [{ ...defaultLayout().components[0]!, stripeSize: 100 }] };
    await expect(c.call(setDefaultLayout, { layout: bad })).rejects.toMatchObject({ code: 'EINVAL' });
    const good = { ...defaultLayout(), components: [{ ...defaultLayout().components[0]!, pool: 'p' }] };
    expect((await c.call(setDefaultLayout, { layout: good })).reply.version).toBe(4);
  });

  it('keeps its configuration across a restart', async () => {
    const dir = await tempDir();
    const first = await startMgsIn(dir);
    const c = client(first.address);
    await c.call(register, ost(0));
    await c.call(pool, { op: 'new', pool: 'p', osts: [] });
    await first.stop();
    const second = await startMgsIn(dir);
    const { reply } = await client(second.address).call(config, { sinceVersion: -1, waitMs: 0 });
    expect(reply.version).toBe(2);
    expect(reply.pools).toEqual({ p: [] });
    expect(reply.targets.map((t) => t.index)).toEqual([0]);
  });

  it('refuses to open another filesystem’s data directory', async () => {
    const dir = await tempDir();
    await (await startMgsIn(dir)).stop();
    await expect(startTestMgs(dir, { fsName: 'other' })).rejects.toThrow(/filesystem "fs1", not "other"/);
  });

  it('marks a silent target down after three report intervals, and up again on a report', async () => {
    const { address } = await startMgsIn(await tempDir(), { reportIntervalMs: 50 });
    const c = client(address);
    await c.call(register, ost(1));
    const down = await c.call(config, { sinceVersion: 1, waitMs: 3000 });
    expect(down.reply.targets[0]!.state).toBe('down');
    await c.call(report, { role: 'ost', index: 1, space });
    const up = await c.call(config, { sinceVersion: -1, waitMs: 0 });
    expect(up.reply.targets[0]!.state).toBe('up');
    expect(up.reply.version).toBe(down.reply.version + 1);
  });

  it('remembers the replies of mutations, so a resent one is answered, not done twice', async () => {
    const { mgs, address } = await startMgsIn(await tempDir());
    const uuid = crypto.randomUUID();
    const c = client(address, uuid);
    await c.call(register, ost(0)); // xid 1
    await c.call(pool, { op: 'new', pool: 'p', osts: [] }); // xid 2
    await c.call(pool, { op: 'new', pool: 'p', osts: [] }).catch(() => {}); // xid 3: EEXIST
    const done = mgs.replyCache.lookup(uuid, 2);
    expect(done?.status).toBe(0);
    expect(JSON.parse(done!.meta.toString())).toEqual({ version: 2 });
    expect(mgs.replyCache.lookup(uuid, 3)?.status).toBeLessThan(0);
  });
});
