import { ConfigWatcher } from '@kubelustre/protocol/config-watcher.ts';
import { KlError } from '@kubelustre/protocol/errors.ts';
import type { Logger } from '@kubelustre/protocol/log.ts';
import { RpcClient } from '@kubelustre/protocol/wire/rpc-client.ts';
import { Gauge, type Registry } from 'prom-client';
import { dirStatfs } from '../server/dir-statfs.ts';
import type { RunningTarget, StatfsValue, TargetContext } from '../server/role.ts';
import { targetName } from '../server/target-name.ts';
import { pruneTombstones } from './dentries.ts';
import { DestroyWorker, type DestroyWorkerOptions, destroyLogLength } from './destroy-worker.ts';
import { registerMdtHandlers } from './handlers.ts';
import { inodeCount } from './inodes.ts';
import { LayoutPolicy } from './layouts.ts';
import { ClientLeases, evictSilentClients, OPEN_LEASE_MS_DEFAULT, pruneEvictionNotices } from './leases.ts';
import { ensureRoot, type Mdt } from './namespace.ts';
import { openCount, orphanCount, releaseUnopenedOrphans } from './open-files.ts';
import { OstProxy, type OstProxyOptions } from './ost-proxy.ts';
import { QuotaMaster } from './quota-master.ts';
import { DurableReplyCache, MutationRunner } from './reply-cache.ts';
import { Store } from './store.ts';

export interface MdtOptions {
  /** Inodes this MDT accepts (statfs files); create answers ENOSPC beyond. */
  inodesMax?: number;
  /** dom_stripesize: the largest Data-on-MDT component accepted. */
  domSizeMax?: number;
  /** How often committed changes are made durable (the journal commit interval analogue). */
  syncIntervalMs?: number;
  /** How long a layout intent waits for precreated object ids. */
  poolWaitMs?: number;
  /** How long startMdt waits for the MGS's first configuration. */
  configWaitMs?: number;
  /** How long one MGS config long poll waits for a change. */
  configPollWaitMs?: number;
  /** How long a client holding opens may stay silent before its opens are dropped (eviction). */
  openLeaseMs?: number;
  /** How often the quota master sends the OSTs their grants and collects their usage. */
  quotaIntervalMs?: number;
  osp?: OstProxyOptions;
  destroy?: DestroyWorkerOptions;
}

/** A running MDT; `drained` and `poolsFilled` are for tests and tools that wait on background work. */
export interface MdtTarget extends RunningTarget {
  drained(timeoutMs: number): Promise<void>;
  /** True once every known OST answered and has precreated ids to hand out. */
  poolsFilled(): boolean;
}

const INODES_MAX_DEFAULT = 1_000_000_000;
/** How often reply-cache and readdir-tombstone rows past their keep time are removed. */
const HOUSEKEEPING_INTERVAL_MS = 60_000;

/**
 * Starts the MDT role: opens the metadata store, follows the MGS configuration for OSTs and the default
 * layout, starts the OST proxies and the destroy worker, and registers every mdt.* op on `ctx.rpc`.
 */
export async function startMdt(ctx: TargetContext, opts: MdtOptions = {}): Promise<MdtTarget> {
  const name = targetName(ctx.fsName, 'mdt', ctx.index);
  const log = ctx.log.child({ target: name });
  const store = new Store(ctx.dataDir, opts.syncIntervalMs);
  ensureRoot(store);
  const osp = new OstProxy(ctx.index, ctx.key, log, opts.osp);
  const mgs = ctx.mgs === undefined ? undefined : await followMgs(ctx.mgs, ctx.key, log, osp, opts);
  const worker = new DestroyWorker(store, (ost, ids) => osp.destroy(ost, ids), log, opts.destroy);
  worker.start();
  const m: Mdt = {
    store,
    layouts: new LayoutPolicy(osp, opts.domSizeMax),
    inodesMax: opts.inodesMax ?? INODES_MAX_DEFAULT,
    destroyLogged: () => worker.notify(),
  };
  const statfs = async (): Promise<StatfsValue> => {
    const space = await dirStatfs(ctx.dataDir);
    const files = m.inodesMax;
    return { ...space, files, filesFree: Math.max(0, files - inodeCount(store)) };
  };
  const replyCache = new DurableReplyCache(store);
  const runner = new MutationRunner(store, replyCache, log);
  const leases = new ClientLeases();
  const leaseMs = opts.openLeaseMs ?? OPEN_LEASE_MS_DEFAULT;
  const poolWaitMs = opts.poolWaitMs ?? 10_000;
  const quota = new QuotaMaster(store, osp, log, opts.quotaIntervalMs ?? 3000);
  registerMdtHandlers(ctx.rpc, { m, runner, osp, poolWaitMs, statfs, leases, leaseMs, quota });
  registerMetrics(ctx.registry, store, osp);
  const freed = store.txn(() => releaseUnopenedOrphans(m));
  const housekeeping = setInterval(() => housekeep(store, replyCache, log), HOUSEKEEPING_INTERVAL_MS);
  housekeeping.unref();
  // Checked several times per lease, so a silent client is evicted at most a quarter lease late.
  const evictions = setInterval(
    () => evictSilentClients(m, leases, leaseMs, log),
    Math.min(HOUSEKEEPING_INTERVAL_MS, Math.max(10, Math.floor(leaseMs / 4))),
  );
  evictions.unref();
  const counts = { inodes: inodeCount(store), destroyLog: destroyLogLength(store) };
  log.info(
    { ...counts, opens: openCount(store), orphans: orphanCount(store), orphansFreed: freed },
    'Started MDT',
  );
  return {
    name,
    // As Lustre's MDT, this one serves as soon as its store is open: OSTs come and go (at a cluster's
    // start they are started after it), and creates wait for precreated ids or leave files to be
    // instantiated on first write.
    ready: () => true,
    poolsFilled: () => osp.ready(),
    statfs,
    drained: (timeoutMs) => worker.drained(timeoutMs),
    async close() {
      clearInterval(housekeeping);
      clearInterval(evictions);
      quota.close();
      mgs?.watcher.stop();
      mgs?.client.close();
      // Closing the proxies fails an ost.destroy in flight at once, so the worker stops without waiting on it.
      const workerStopped = worker.stop();
      osp.close();
      await workerStopped;
      store.close();
      log.info({}, 'Stopped MDT');
    },
  };
}

/** Starts following the MGS configuration; resolves once the first one arrived (bounded). */
async function followMgs(address: string, key: Buffer, log: Logger, osp: OstProxy, opts: MdtOptions) {
  const client = new RpcClient({ address, key, clientUuid: crypto.randomUUID(), log });
  const watcher = new ConfigWatcher(client, log, opts.configPollWaitMs);
  watcher.onChange((config) => osp.applyConfig(config));
  const waitMs = opts.configWaitMs ?? 30_000;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new KlError('ETIMEDOUT', `no configuration from MGS ${address} in ${waitMs} ms`)),
      waitMs,
    );
  });
  try {
    await Promise.race([watcher.start(), timeout]);
  } catch (e) {
    watcher.stop();
    client.close();
    throw e;
  } finally {
    clearTimeout(timer);
  }
  return { client, watcher };
}

function housekeep(store: Store, replyCache: DurableReplyCache, log: Logger): void {
  const nowMs = Date.now();
  const replies = store.txn(() => {
    pruneTombstones(store, nowMs);
    pruneEvictionNotices(store, nowMs);
    return replyCache.prune(nowMs);
  });
  if (replies > 0) log.debug({ replies }, 'Pruned reply cache');
}

function registerMetrics(registry: Registry, store: Store, osp: OstProxy): void {
  new Gauge({
    name: 'kubelustre_mdt_inodes',
    help: 'Inodes on the MDT',
    registers: [registry],
    collect() {
      if (store.db.isOpen) this.set(inodeCount(store));
    },
  });
  new Gauge({
    name: 'kubelustre_mdt_destroy_log_objects',
    help: 'OST objects of unlinked files waiting to be destroyed',
    registers: [registry],
    collect() {
      if (store.db.isOpen) this.set(destroyLogLength(store));
    },
  });
  new Gauge({
    name: 'kubelustre_mdt_orphans',
    help: 'Unlinked files kept because a client still has them open',
    registers: [registry],
    collect() {
      if (store.db.isOpen) this.set(orphanCount(store));
    },
  });
  new Gauge({
    name: 'kubelustre_mdt_precreated_objects',
    help: 'Precreated object ids available per OST',
    labelNames: ['ost'],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of osp.spaces()) this.set({ ost: String(s.index) }, osp.available(s.index));
    },
  });
}
