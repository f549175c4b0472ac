import { setTimeout as sleep } from 'node:timers/promises';
import * as mdt from '@kubelustre/protocol/messages/mdt.ts';
import type { RpcServer } from '@kubelustre/protocol/wire/rpc-server.ts';
import { canonicalFid } from './fid.ts';
import type { ClientLeases } from './leases.ts';
import type { Mdt } from './namespace.ts';
import {
  pccAttach,
  pccAttachRw,
  pccDetach,
  pccRwCheck,
  pccRwDetach,
  pccRwRecover,
  pccState,
  pccWriteClose,
  pccWriteOpen,
  pendingRestores,
  rwHeldCount,
} from './pcc.ts';
import type { MutationRunner } from './reply-cache.ts';

/** How often a held mdt.pcc_rw_poll looks for restore requests. */
const RW_POLL_CHECK_MS = 50;

export interface PccHandlerDeps {
  m: Mdt;
  runner: MutationRunner;
  leases: ClientLeases;
}

/** mdt.pcc_*: PCC attachments and the data versions that revoke them (pcc.ts). */
export function registerPccHandlers(rpc: RpcServer, { m, runner, leases }: PccHandlerDeps): void {
  rpc.register(
    mdt.pccAttach,
    runner.wrap(mdt.pccAttach, (req, _d, txn, ctx) => {
      leases.touch(ctx.clientUuid, Date.now());
      return txn(() => ({
        reply: { dataVersion: pccAttach(m.store, canonicalFid(req.fid), ctx.clientUuid) },
      }));
    }),
  );
  rpc.register(
    mdt.pccDetach,
    runner.wrap(mdt.pccDetach, (req, _d, txn, ctx) =>
      txn(() => {
        pccDetach(m.store, canonicalFid(req.fid), ctx.clientUuid);
        return { reply: {} };
      }),
    ),
  );
  rpc.register(
    mdt.pccWriteOpen,
    runner.wrap(mdt.pccWriteOpen, (req, _d, txn, ctx) => {
      // A writer holds state here that only its eviction clears: it must be renewing a lease.
      leases.touch(ctx.clientUuid, Date.now());
      return txn(() => ({
        reply: { dataVersion: pccWriteOpen(m.store, canonicalFid(req.fid), ctx.clientUuid) },
      }));
    }),
  );
  rpc.register(
    mdt.pccWriteClose,
    runner.wrap(mdt.pccWriteClose, (req, _d, txn, ctx) =>
      txn(() => ({
        reply: { dataVersion: pccWriteClose(m.store, canonicalFid(req.fid), ctx.clientUuid) },
      })),
    ),
  );
  rpc.register(mdt.pccState, (req, _d, ctx) => ({
    reply: pccState(m.store, canonicalFid(req.fid), ctx.clientUuid),
  }));
  registerRwHandlers(rpc, { m, runner, leases });
}

/** mdt.pcc_attach_rw, mdt.pcc_rw_*: read-write attachments (pcc.ts). */
function registerRwHandlers(rpc: RpcServer, { m, runner, leases }: PccHandlerDeps): void {
  rpc.register(
    mdt.pccAttachRw,
    runner.wrap(mdt.pccAttachRw, (req, _d, txn, ctx) => {
      // Other clients wait on this one's restores: it must be renewing a lease (mdt.pcc_rw_poll does).
      leases.touch(ctx.clientUuid, Date.now());
      return txn(() => ({
        reply: { dataVersion: pccAttachRw(m.store, canonicalFid(req.fid), ctx.clientUuid, req.cacheId) },
      }));
    }),
  );
  rpc.register(
    mdt.pccRwDetach,
    runner.wrap(mdt.pccRwDetach, (req, _d, txn, ctx) =>
      txn(() => ({ reply: { dataVersion: pccRwDetach(m.store, canonicalFid(req.fid), ctx.clientUuid) } })),
    ),
  );
  rpc.register(
    mdt.pccRwRecover,
    runner.wrap(mdt.pccRwRecover, (req, _d, txn, ctx) => {
      leases.touch(ctx.clientUuid, Date.now());
      return txn(() => ({ reply: { fids: pccRwRecover(m.store, req.cacheId, ctx.clientUuid) } }));
    }),
  );
  rpc.register(mdt.pccRwCheck, (req, _d, ctx) => ({
    reply: { dataVersion: pccRwCheck(m.store, canonicalFid(req.fid), ctx.clientUuid) },
  }));
  rpc.register(mdt.pccRwPoll, async (req, _d, ctx) => {
    const deadline = Date.now() + req.holdMs;
    for (;;) {
      leases.touch(ctx.clientUuid, Date.now());
      const restore = pendingRestores(m.store, ctx.clientUuid);
      if (restore.length > 0 || Date.now() >= deadline) {
        return { reply: { restore: restore.slice(0, 1024), held: rwHeldCount(m.store, ctx.clientUuid) } };
      }
      await sleep(Math.min(RW_POLL_CHECK_MS, Math.max(1, deadline - Date.now())));
    }
  });
}
