import { KlError } from '@kubelustre/protocol/errors.ts';
import * as mdt from '@kubelustre/protocol/messages/mdt.ts';
import type { RpcServer } from '@kubelustre/protocol/wire/rpc-server.ts';
import type { StatfsValue } from '../server/role.ts';
import { setattr, sizeUpdate } from './attr.ts';
import { readDom, writeDom } from './dom.ts';
import { canonicalFid } from './fid.ts';
import { requireInode, toNode } from './inodes.ts';
import { layoutIntent, setLayout } from './layout-ops.ts';
import { PoolShortage } from './layouts.ts';
import type { ClientLeases } from './leases.ts';
import * as ns from './namespace.ts';
import { openFile, openFileForAccess } from './open-files.ts';
import { registerOpenHandlers } from './open-handlers.ts';
import type { OstProxy } from './ost-proxy.ts';
import { registerQuotaHandlers } from './quota-handlers.ts';
import type { QuotaMaster } from './quota-master.ts';
import { rename } from './rename.ts';
import type { MutationRunner, Txn } from './reply-cache.ts';
import { getxattr, listxattr, removexattr, setxattr } from './xattr.ts';

export interface HandlerDeps {
  m: ns.Mdt;
  runner: MutationRunner;
  osp: OstProxy;
  /** How long a layout intent waits for precreated object ids before answering EAGAIN. */
  poolWaitMs: number;
  /** Space of the MDT's volume and inodes against its limit. */
  statfs: () => Promise<StatfsValue>;
  /** When clients holding opens were last heard from. */
  leases: ClientLeases;
  /** How long a client with opens may stay silent before it is evicted. */
  leaseMs: number;
  /** The project quota master: grants to the OSTs and their usage reports. */
  quota: QuotaMaster;
}

/** Layout intents retry after waiting for object ids at most this often before giving up. */
const INTENT_ATTEMPTS_MAX = 3;
const EMPTY = Buffer.alloc(0);
const fid = canonicalFid;

/** Registers a handler for every op of messages/mdt.ts. */
export function registerMdtHandlers(rpc: RpcServer, deps: HandlerDeps): void {
  registerReads(rpc, deps);
  registerNamespaceMutations(rpc, deps);
  registerDataMutations(rpc, deps);
  registerCreateOpen(rpc, deps);
  registerOpenHandlers(rpc, deps);
  registerQuotaHandlers(rpc, deps);
}

/**
 * mdt.create_open and mdt.create_open2: a create that may wait for object ids, as mdt.create, plus the
 * caller's open (for mdt.create_open2, with its access mode and the file's PCC tracking).
 */
function registerCreateOpen(rpc: RpcServer, deps: HandlerDeps): void {
  const { m, runner } = deps;
  rpc.register(
    mdt.createOpen2,
    runner.wrap(mdt.createOpen2, (req, _d, txn, ctx) => {
      deps.leases.touch(ctx.clientUuid, Date.now());
      const { write, ...create } = req;
      return withPoolWait(deps, `create and open of "${req.name}"`, () =>
        txn(() => {
          const created = ns.create(m, { ...create, parent: fid(req.parent) });
          // Anything but a regular file fails here, and the transaction takes the create back with it.
          const opened = openFileForAccess(m.store, created.attr.fid, ctx.clientUuid, write);
          return { reply: { ...opened, leaseMs: deps.leaseMs } };
        }),
      );
    }),
  );
  rpc.register(
    mdt.createOpen,
    runner.wrap(mdt.createOpen, (req, _d, txn, ctx) => {
      deps.leases.touch(ctx.clientUuid, Date.now());
      return withPoolWait(deps, `create and open of "${req.name}"`, () =>
        txn(() => {
          const created = ns.create(m, { ...req, parent: fid(req.parent) });
          // Anything but a regular file fails here, and the transaction takes the create back with it.
          const node = openFile(m.store, created.attr.fid, ctx.clientUuid);
          return { reply: { node, leaseMs: deps.leaseMs } };
        }),
      );
    }),
  );
}

function registerReads(rpc: RpcServer, { m }: HandlerDeps): void {
  rpc.register(mdt.getattr, (req) => ({ reply: toNode(requireInode(m.store, fid(req.fid))) }));
  rpc.register(mdt.lookup, (req) => ({ reply: ns.lookup(m, fid(req.parent), req.name) }));
  rpc.register(mdt.readdir, (req) => ({ reply: ns.readdir(m, { ...req, fid: fid(req.fid) }) }));
  rpc.register(mdt.readlink, (req) => ({ reply: { target: ns.readlink(m, fid(req.fid)) } }));
  rpc.register(mdt.getxattr, (req) => ({ reply: {}, data: getxattr(m.store, fid(req.fid), req.name) }));
  rpc.register(mdt.listxattr, (req) => ({ reply: { names: listxattr(m.store, fid(req.fid)) } }));
  rpc.register(mdt.fid2path, (req) => ({ reply: { path: ns.fid2path(m, fid(req.fid)) } }));
  rpc.register(mdt.domRead, (req) => {
    const inode = requireInode(m.store, fid(req.fid));
    return { reply: {}, data: readDom(m.store, inode, req.offset, req.length) };
  });
}

function registerNamespaceMutations(rpc: RpcServer, deps: HandlerDeps): void {
  const { m, runner } = deps;
  rpc.register(
    mdt.create,
    runner.wrap(mdt.create, (req, _d, txn) =>
      withPoolWait(deps, `create of "${req.name}"`, () =>
        txn(() => ({ reply: ns.create(m, { ...req, parent: fid(req.parent) }) })),
      ),
    ),
  );
  rpc.register(
    mdt.unlink,
    runner.wrap(mdt.unlink, (req, _d, txn) =>
      txn(() => {
        ns.unlink(m, fid(req.parent), req.name, req.dir);
        return { reply: {} };
      }),
    ),
  );
  rpc.register(
    mdt.rename,
    runner.wrap(mdt.rename, (req, _d, txn) =>
      txn(() => {
        rename(m, { ...req, srcParent: fid(req.srcParent), dstParent: fid(req.dstParent) });
        return { reply: {} };
      }),
    ),
  );
  rpc.register(
    mdt.link,
    runner.wrap(mdt.link, (req, _d, txn) =>
      txn(() => ({ reply: ns.link(m, fid(req.fid), fid(req.parent), req.name) })),
    ),
  );
  rpc.register(
    mdt.setxattr,
    runner.wrap(mdt.setxattr, (req, data, txn) =>
      txn(() => {
        setxattr(m.store, fid(req.fid), req.name, data, req.flags);
        return { reply: {} };
      }),
    ),
  );
  rpc.register(
    mdt.removexattr,
    runner.wrap(mdt.removexattr, (req, _d, txn) =>
      txn(() => {
        removexattr(m.store, fid(req.fid), req.name);
        return { reply: {} };
      }),
    ),
  );
}

function registerDataMutations(rpc: RpcServer, deps: HandlerDeps): void {
  const { m, runner } = deps;
  rpc.register(
    mdt.setattr,
    runner.wrap(mdt.setattr, (req, _d, txn) =>
      txn(() => ({ reply: setattr(m.store, { ...req, fid: fid(req.fid) }) })),
    ),
  );
  rpc.register(
    mdt.sizeUpdate,
    runner.wrap(mdt.sizeUpdate, (req, _d, txn) =>
      txn(() => ({ reply: sizeUpdate(m.store, { ...req, fid: fid(req.fid) }) })),
    ),
  );
  rpc.register(
    mdt.setLayout,
    runner.wrap(mdt.setLayout, (req, _d, txn) =>
      withPoolWait(deps, req.fid, () =>
        txn(() => {
          const layout = setLayout(m, fid(req.fid), req.layout);
          return { reply: layout === undefined ? {} : { layout } };
        }),
      ),
    ),
  );
  rpc.register(
    mdt.layoutIntent,
    runner.wrap(mdt.layoutIntent, (req, _d, txn) =>
      intentWithWait(deps, txn, fid(req.fid), req.start, req.end),
    ),
  );
  rpc.register(
    mdt.domWrite,
    runner.wrap(mdt.domWrite, (req, data, txn) => {
      const result = txn(() => {
        writeDom(m.store, requireInode(m.store, fid(req.fid)), req.offset, data);
        return { reply: {}, data: EMPTY };
      });
      if (req.sync) m.store.sync();
      return result;
    }),
  );
  rpc.register(mdt.statfs, async () => ({ reply: await deps.statfs() }));
  rpc.register(mdt.sync, () => {
    m.store.sync();
    return { reply: {} };
  });
}

/** A layout intent, waiting outside the transaction for object ids when the pools run short. */
function intentWithWait(deps: HandlerDeps, txn: Txn, fidText: string, start: number, end: number) {
  return withPoolWait(deps, fidText, () =>
    txn(() => ({ reply: { layout: layoutIntent(deps.m, fidText, start, end) } })),
  );
}

/**
 * Runs a transaction that may allocate objects (create, layout intent); when the precreated pools run
 * short it has rolled back, so wait for ids outside it and run it again.
 */
async function withPoolWait<R>(deps: HandlerDeps, what: string, run: () => R): Promise<R> {
  for (let attempt = 1; ; attempt++) {
    try {
      return run();
    } catch (e) {
      if (!(e instanceof PoolShortage)) throw e;
      if (attempt === INTENT_ATTEMPTS_MAX)
        throw new KlError('EAGAIN', `${what}: ${e.message}: pools keep running dry`);
      await deps.osp.waitForIds(e.needed, deps.poolWaitMs);
    }
  }
}
