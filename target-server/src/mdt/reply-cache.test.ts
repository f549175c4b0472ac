import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '@kubelustre/protocol/log.ts';
import * as mdt from '@kubelustre/protocol/messages/mdt.ts';
import type { Handler, RequestContext, RpcServer } from '@kubelustre/protocol/wire/rpc-server.ts';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT_FID } from './fid.ts';
import { registerMdtHandlers } from './handlers.ts';
import { S_IFREG } from './inodes.ts';
import { LayoutPolicy } from './layouts.ts';
import { ClientLeases } from './leases.ts';
import { ensureRoot, type Mdt } from './namespace.ts';
import { OstProxy } from './ost-proxy.ts';
import { QuotaMaster } from './quota-master.ts';
import { DurableReplyCache, MutationRunner, REPLIES_PER_CLIENT_MAX, REPLY_KEEP_MS } from './reply-cache.ts';
import { Store } from './store.ts';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** The MDT's handlers as registered on an RPC server, called directly so that tests choose the xid. */
async function handlersIn(dir?: string) {
  const dataDir = dir ?? (await mkdtemp(join(tmpdir(), 'kl-mdt-rc-')));
  if (dir === undefined) cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
  const store = new Store(dataDir, 0);
  ensureRoot(store);
  const osp = new OstProxy(0, Buffer.alloc(32), silentLogger);
  const m: Mdt = { store, layouts: new LayoutPolicy(osp), inodesMax: 1000, destroyLogged: () => {} };
  const cache = new DurableReplyCache(store);
  const runner = new MutationRunner(store, cache, silentLogger);
  const handlers = new Map<string, Handler<never>>();
  const rpc = { register: (op: { name: string }, h: Handler<never>) => handlers.set(op.name, h) };
  const statfs = async () => ({ totalBytes: 0, freeBytes: 0, availBytes: 0, files: 0, filesFree: 0 });
  const leases = new ClientLeases();
  const quota = new QuotaMaster(store, osp, silentLogger, 60_000);
  registerMdtHandlers(rpc as unknown as RpcServer, {
    ...{ m, runner, osp, poolWaitMs: 100, statfs },
    ...{ leases, leaseMs: 60_000, quota },
  });
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    quota.close();
    osp.close();
    store.close();
  };
  cleanups.push(close);
  const call = async (op: { name: string }, req: unknown, ctx: Partial<RequestContext> = {}) => {
    const h = handlers.get(op.name)! as unknown as Handler<typeof mdt.create>;
    const context = { clientUuid: 'c-1', xid: 1, peer: 'test', log: silentLogger, ...ctx };
    return (await h(req as never, Buffer.alloc(0), context)).reply as never;
  };
  return { store, cache, runner, call, close, dataDir };
}

const createReq = (name: string) => ({
  parent: ROOT_FID,
  name,
  mode: S_IFREG | 0o644,
  uid: 0,
  gid: 0,
  exclusive: true,
});
const entries = (store: Store) => store.all('SELECT name FROM dentries ORDER BY name').map((r) => r.name);
const errCode = (p: Promise<unknown>) =>
  p.then(
    () => 'ok',
    (e: { code: string }) => e.code,
  );

describe('reply reconstruction', () => {
  it('answers a resent create and unlink with their first replies, running each once', async () => {
    const { store, call } = await handlersIn();
    const first = await call(mdt.create, createReq('f'), { xid: 10 });
    const resent = await call(mdt.create, createReq('f'), { xid: 10 });
    expect(resent).toEqual(first);
    expect(entries(store)).toEqual(['f']);
    await call(mdt.unlink, { parent: ROOT_FID, name: 'f', dir: false }, { xid: 11 });
    expect(await errCode(call(mdt.unlink, { parent: ROOT_FID, name: 'f', dir: false }, { xid: 11 }))).toBe(
      'ok',
    );
    expect(await errCode(call(mdt.unlink, { parent: ROOT_FID, name: 'f', dir: false }, { xid: 12 }))).toBe(
      'ENOENT',
    );
  });

  it('keeps error replies: a resent failed create fails again even once it could succeed', async () => {
    const { store, call } = await handlersIn();
    await call(mdt.create, createReq('x'), { xid: 1 });
    expect(await errCode(call(mdt.create, createReq('x'), { xid: 2 }))).toBe('EEXIST');
    await call(mdt.unlink, { parent: ROOT_FID, name: 'x', dir: false }, { xid: 3 });
    expect(await errCode(call(mdt.create, createReq('x'), { xid: 2 }))).toBe('EEXIST');
    expect(entries(store)).toEqual([]);
  });

  it('keys replies by client: the same xid from another client runs', async () => {
    const { store, call } = await handlersIn();
    await call(mdt.create, createReq('a'), { clientUuid: 'one', xid: 1 });
    await call(mdt.create, createReq('b'), { clientUuid: 'two', xid: 1 });
    expect(entries(store)).toEqual(['a', 'b']);
  });

  it('lets a resend that arrives while the original still runs wait for its outcome', async () => {
    const { runner } = await handlersIn();
    let runs = 0;
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const handler = runner.wrap(mdt.sync, async (_req, _data, txn) => {
      runs++;
      await gate;
      return txn(() => ({ reply: {} }));
    });
    const ctx = { clientUuid: 'c', xid: 9, peer: 'p', log: silentLogger };
    const both = Promise.all([handler({}, Buffer.alloc(0), ctx), handler({}, Buffer.alloc(0), ctx)]);
    release();
    await both;
    expect(runs).toBe(1);
  });

  it('survives a restart of the MDT', async () => {
    const first = await handlersIn();
    const reply = await first.call(mdt.create, createReq('f'), { xid: 4 });
    first.close();
    const again = await handlersIn(first.dataDir);
    expect(await again.call(mdt.create, createReq('f'), { xid: 4 })).toEqual(reply);
  });

  it('keeps at most REPLIES_PER_CLIENT_MAX per client and drops old ones', async () => {
    const { store, cache } = await handlersIn();
    const reply = { status: 0, meta: Buffer.from('{}'), data: Buffer.alloc(0) };
    store.txn(() => {
      for (let xid = 1; xid <= REPLIES_PER_CLIENT_MAX + 100; xid++) cache.record('busy', xid, reply);
      cache.record('quiet', 1, reply);
    });
    const count = (client: string) =>
      store.get('SELECT count(*) AS n FROM replies WHERE client = ?', client)?.n as number;
    expect(count('busy')).toBe(REPLIES_PER_CLIENT_MAX);
    expect(cache.lookup('busy', 100)).toBeUndefined();
    expect(cache.lookup('busy', REPLIES_PER_CLIENT_MAX + 100)).toBeDefined();
    store.txn(() => cache.prune(Date.now() + REPLY_KEEP_MS + 1));
    expect(count('busy') + count('quiet')).toBe(0);
  });
});
