import * as mdt from '@kubelustre/protocol/messages/mdt.ts';
import type { RpcServer } from '@kubelustre/protocol/wire/rpc-server.ts';
import { canonicalFid } from './fid.ts';
import type { ClientLeases } from './leases.ts';
import type { Mdt } from './namespace.ts';
import { pccAttach, pccDetach, pccState, pccWriteClose, pccWriteOpen } from './pcc.ts';
import type { MutationRunner } from './reply-cache.ts';

export interface PccHandlerDeps {
  m: Mdt;
  runner: MutationRunner;
  leases: ClientLeases;
}

/** mdt.pcc_*: read-only PCC attachments and the data versions that revoke them (pcc.ts). */
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
}
