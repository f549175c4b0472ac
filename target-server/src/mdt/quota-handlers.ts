import * as mdt from '@kubelustre/protocol/messages/mdt.ts';
import type { RpcServer } from '@kubelustre/protocol/wire/rpc-server.ts';
import { canonicalFid } from './fid.ts';
import type { HandlerDeps } from './handlers.ts';
import { getProject, setProject } from './projects.ts';
import { getLimits, projectInodes, setLimits } from './quota-limits.ts';

/** mdt.set_project, mdt.get_project, mdt.quota_set, mdt.quota_get and mdt.quota_acquire. */
export function registerQuotaHandlers(rpc: RpcServer, deps: HandlerDeps): void {
  const { m, runner, quota } = deps;
  rpc.register(
    mdt.setProject,
    runner.wrap(mdt.setProject, (req, _d, txn) =>
      txn(() => ({ reply: { changed: setProject(m.store, { ...req, fid: canonicalFid(req.fid) }) } })),
    ),
  );
  rpc.register(mdt.getProject, (req) => ({ reply: getProject(m.store, canonicalFid(req.fid)) }));
  rpc.register(
    mdt.quotaSet,
    runner.wrap(mdt.quotaSet, async (req, _d, txn) => {
      const result = txn(() => {
        setLimits(m.store, req.projid, req.limits);
        return { reply: {} };
      });
      // The OSTs hear of the new limit before the caller does, so its next write is held to it.
      await quota.limitChanged(req.projid);
      return result;
    }),
  );
  rpc.register(mdt.quotaAcquire, async (req) => {
    await quota.acquire(req.projid, req.ost);
    return { reply: {} };
  });
  rpc.register(mdt.quotaGet, async (req) => {
    await quota.round();
    const usedInodes = req.projid === 0 ? 0 : projectInodes(m.store, req.projid);
    const reply = {
      limits: getLimits(m.store, req.projid),
      usedBytes: quota.usedBytes(req.projid),
      usedInodes,
    };
    return { reply };
  });
}
