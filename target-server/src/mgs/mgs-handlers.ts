import type { Logger } from '@kubelustre/protocol/log.ts';
import { config, pool, register, report, setDefaultLayout } from '@kubelustre/protocol/messages/mgs.ts';
import type { RequestOf } from '@kubelustre/protocol/messages/op.ts';
import type { RpcServer } from '@kubelustre/protocol/wire/rpc-server.ts';
import { targetName } from '../server/target-name.ts';
import type { Change, MgsStore } from './mgs-store.ts';
import * as registry from './registry.ts';
import type { RecentReplies } from './reply-cache.ts';

/** Wires the `mgs.*` operations to the store. Mutations go through `replies` so resends happen once. */
export function registerMgsHandlers(
  rpc: RpcServer,
  store: MgsStore,
  replies: RecentReplies,
  log: Logger,
): void {
  rpc.register(
    register,
    replies.remembering(async (req) => {
      const change = await store.update((s) => registry.registerTarget(s, req, Date.now()));
      logRegistration(log, change, req);
      return { reply: { fsName: change.after.fsName, version: change.after.version } };
    }),
  );
  rpc.register(report, async (req) => {
    const change = await store.update((s) => registry.recordReport(s, req, Date.now()));
    if (change.after.version !== change.before.version) {
      log.info(
        { version: change.after.version },
        `Marked ${targetName(change.after.fsName, req.role, req.index)} up again`,
      );
    }
    return { reply: {} };
  });
  rpc.register(config, async (req) => ({ reply: await store.waitForChange(req.sinceVersion, req.waitMs) }));
  rpc.register(
    pool,
    replies.remembering(async (req) => {
      const change = await store.update((s) => registry.applyPoolOp(s, req));
      log.info({ version: change.after.version }, describePoolOp(change.after.fsName, req));
      return { reply: { version: change.after.version } };
    }),
  );
  rpc.register(
    setDefaultLayout,
    replies.remembering(async (req) => {
      const change = await store.update((s) => registry.setDefaultLayout(s, req.layout));
      log.info(
        { version: change.after.version, layout: req.layout },
        `Set the default layout of ${change.after.fsName}`,
      );
      return { reply: { version: change.after.version } };
    }),
  );
}

function logRegistration(log: Logger, change: Change, req: RequestOf<typeof register>): void {
  const name = targetName(change.after.fsName, req.role, req.index);
  const before = change.before.targets.find((t) => t.role === req.role && t.index === req.index);
  const fields = { uuid: req.uuid, address: req.address, version: change.after.version };
  if (!before) log.info(fields, `Registered ${name} at ${req.address}`);
  else if (before.address !== req.address) log.info(fields, `Moved ${name} to ${req.address}`);
  else if (before.state !== 'up') log.info(fields, `Marked ${name} up again`);
  else log.debug(fields, `Confirmed the registration of ${name}`);
}

function describePoolOp(fsName: string, req: RequestOf<typeof pool>): string {
  const name = `${fsName}.${req.pool}`;
  const osts = req.osts.map((i) => targetName(fsName, 'ost', i)).join(', ');
  switch (req.op) {
    case 'new':
      return `Created pool ${name}`;
    case 'destroy':
      return `Destroyed pool ${name}`;
    case 'add':
      return `Added ${osts} to pool ${name}`;
    case 'remove':
      return `Removed ${osts} from pool ${name}`;
  }
}
