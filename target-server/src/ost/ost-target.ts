import * as ost from '@kubelustre/protocol/messages/ost.ts';
import type { RpcServer } from '@kubelustre/protocol/wire/rpc-server.ts';
import { Counter, Gauge } from 'prom-client';
import type { RunningTarget, TargetContext } from '../server/role.ts';
import { targetName } from '../server/target-name.ts';
import { LastIdStore } from './last-id.ts';
import { ObjectStore } from './object-store.ts';
import { ProjectQuota } from './project-quota.ts';

/** Descriptors kept open for hot objects; far below a typical RLIMIT_NOFILE of 65536. */
export const OPEN_FILES_MAX_DEFAULT = 1024;

export interface OstOptions {
  openFilesMax?: number;
}

/**
 * Starts the OST role: opens LAST_ID and the object store in `ctx.dataDir`, then serves every ost.* op
 * on `ctx.rpc`. Ready as soon as it returns.
 */
export async function startOst(ctx: TargetContext, options: OstOptions = {}): Promise<RunningTarget> {
  const name = targetName(ctx.fsName, 'ost', ctx.index);
  const log = ctx.log.child({ target: name });
  const lastIds = await LastIdStore.open(ctx.dataDir, name, log);
  const syncs = new Counter({
    name: 'kubelustre_ost_sync_total',
    help: 'Objects flushed to stable storage (fdatasync), by ost.sync or a sync write',
    registers: [ctx.registry],
  });
  const quota = await ProjectQuota.open(ctx.dataDir, name, log);
  const store = await ObjectStore.open({
    dataDir: ctx.dataDir,
    targetName: name,
    openFilesMax: options.openFilesMax ?? OPEN_FILES_MAX_DEFAULT,
    log,
    isReserved: (objId) => objId <= lastIds.lastId,
    quota,
    onDataSync: () => syncs.inc(),
  });
  new Gauge({
    name: 'kubelustre_ost_open_files',
    help: 'Object files held open in the descriptor cache',
    registers: [ctx.registry],
    collect() {
      this.set(store.openFiles);
    },
  });
  registerHandlers(ctx.rpc, store, lastIds);
  ctx.rpc.register(ost.quotaSync, (req) => {
    quota.setGrants(req.grants);
    return { reply: { usage: quota.usage() } };
  });
  let running = true;
  log.info({ dataDir: ctx.dataDir, lastId: lastIds.lastId }, 'Started OST');
  return {
    name,
    ready: () => running,
    statfs: () => store.statfs(),
    async close() {
      running = false;
      await store.close();
      log.info({}, 'Stopped OST');
    },
  };
}

function registerHandlers(rpc: RpcServer, store: ObjectStore, lastIds: LastIdStore): void {
  rpc.register(ost.read, async (req) => {
    const { size, data } = await store.read(req.objId, req.offset, req.length);
    return { reply: { size }, data };
  });
  rpc.register(ost.write, async (req, data) => ({
    reply: await store.write(req.objId, req.offset, data, req.sync, req.projid),
  }));
  rpc.register(ost.punch, async (req) => {
    await store.punch(req.objId, req.size, req.projid);
    return { reply: {} };
  });
  rpc.register(ost.sync, async (req) => {
    await store.sync(req.objIds);
    return { reply: {} };
  });
  rpc.register(ost.getattr, async (req) => ({ reply: await store.getattr(req.objId) }));
  rpc.register(ost.statfs, async () => ({ reply: await store.statfs() }));
  // Mutating, yet no reply cache is needed: a resent precreate reserves a fresh range, which only
  // leaves the first range's ids unused.
  rpc.register(ost.precreate, async (req) => ({ reply: await lastIds.reserve(req.count, req.mdtIndex) }));
  rpc.register(ost.destroy, async (req) => {
    await store.destroy(req.objIds);
    return { reply: {} };
  });
  rpc.register(ost.seek, async (req) => ({
    reply: { offset: await store.seek(req.objId, req.offset, req.whence) },
  }));
  rpc.register(ost.fallocate, async (req) => {
    await store.fallocate(req.objId, req.mode, req.offset, req.length, req.projid);
    return { reply: {} };
  });
  rpc.register(ost.listObjects, async (req) => ({ reply: await store.list(req.after, req.countMax) }));
}
