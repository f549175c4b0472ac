import * as mdt from '@kubelustre/protocol/messages/mdt.ts';
import type { RpcServer } from '@kubelustre/protocol/wire/rpc-server.ts';
import { canonicalFid } from './fid.ts';
import { type ClientLeases, takeEvictionNotice } from './leases.ts';
import type { Mdt } from './namespace.ts';
import { closeFile, openFile, openFileForAccess } from './open-files.ts';
import { registerPccHandlers } from './pcc-handlers.ts';
import type { MutationRunner } from './reply-cache.ts';

export interface OpenHandlerDeps {
  m: Mdt;
  runner: MutationRunner;
  leases: ClientLeases;
  /** How long a client with opens may stay silent before it is evicted. */
  leaseMs: number;
}

/**
 * mdt.open, mdt.open2, mdt.close and mdt.renew. Each renews the caller's lease before its transaction; each is a
 * mutation (open and close change the opens table, renew consumes an eviction notice), so a resend after
 * a reconnect is answered from the reply cache.
 */
export function registerOpenHandlers(rpc: RpcServer, { m, runner, leases, leaseMs }: OpenHandlerDeps): void {
  rpc.register(
    mdt.open,
    runner.wrap(mdt.open, (req, _d, txn, ctx) => {
      leases.touch(ctx.clientUuid, Date.now());
      return txn(() => ({
        reply: { node: openFile(m.store, canonicalFid(req.fid), ctx.clientUuid), leaseMs },
      }));
    }),
  );
  rpc.register(
    mdt.open2,
    runner.wrap(mdt.open2, (req, _d, txn, ctx) => {
      leases.touch(ctx.clientUuid, Date.now());
      return txn(() => {
        const opened = openFileForAccess(m.store, canonicalFid(req.fid), ctx.clientUuid, req.write);
        return { reply: { ...opened, leaseMs } };
      });
    }),
  );
  rpc.register(
    mdt.close,
    runner.wrap(mdt.close, (req, _d, txn, ctx) => {
      leases.touch(ctx.clientUuid, Date.now());
      return txn(() => {
        closeFile(m, canonicalFid(req.fid), ctx.clientUuid);
        return { reply: {} };
      });
    }),
  );
  rpc.register(
    mdt.renew,
    runner.wrap(mdt.renew, (_req, _d, txn, ctx) => {
      leases.touch(ctx.clientUuid, Date.now());
      return txn(() => ({ reply: { evicted: takeEvictionNotice(m.store, ctx.clientUuid), leaseMs } }));
    }),
  );
  registerPccHandlers(rpc, { m, runner, leases });
}
