import type { Logger } from '@kubelustre/protocol/log.ts';
import { dirStatfs } from '../server/dir-statfs.ts';
import { REPORT_INTERVAL_MS_DEFAULT } from '../server/mgs-link.ts';
import type { RunningTarget, TargetContext } from '../server/role.ts';
import { targetName } from '../server/target-name.ts';
import { registerMgsHandlers } from './mgs-handlers.ts';
import { MgsStore } from './mgs-store.ts';
import { markSilentTargetsDown } from './registry.ts';
import { RecentReplies } from './reply-cache.ts';

/** Reports a target may miss before the MGS marks it down. */
export const SILENT_REPORTS_MAX = 3;

export interface MgsOptions {
  /** How often targets report (their `reportIntervalMs`); silence is measured in these. */
  reportIntervalMs?: number;
}

export interface RunningMgs extends RunningTarget {
  /** Answers resent mutations; main.ts hands it to the RPC server. */
  readonly replyCache: RecentReplies;
}

/** Starts the management service: loads the configuration, serves `mgs.*`, and watches target liveness. */
export async function startMgs(ctx: TargetContext, opts: MgsOptions = {}): Promise<RunningMgs> {
  const reportIntervalMs = opts.reportIntervalMs ?? REPORT_INTERVAL_MS_DEFAULT;
  const store = await MgsStore.open(ctx.dataDir, ctx.fsName);
  const replyCache = new RecentReplies();
  registerMgsHandlers(ctx.rpc, store, replyCache, ctx.log);
  const stopWatching = watchLiveness(store, reportIntervalMs, ctx.log);
  ctx.log.info(
    { version: store.state.version, targets: store.state.targets.length },
    `Loaded the configuration of ${ctx.fsName}`,
  );
  let closed = false;
  return {
    name: 'MGS',
    replyCache,
    ready: () => !closed,
    statfs: () => dirStatfs(ctx.dataDir),
    async close() {
      closed = true;
      stopWatching();
      await store.close();
    },
  };
}

/**
 * Marks targets down once they missed SILENT_REPORTS_MAX reports. Right after the MGS starts, every
 * target's last report is as old as the MGS's downtime, so targets get that long again before judging.
 */
function watchLiveness(store: MgsStore, reportIntervalMs: number, log: Logger): () => void {
  const silentMsMax = SILENT_REPORTS_MAX * reportIntervalMs;
  const startedMs = Date.now();
  const timer = setInterval(() => {
    const nowMs = Date.now();
    if (nowMs - startedMs < silentMsMax) return;
    store
      .update((s) => markSilentTargetsDown(s, nowMs - silentMsMax))
      .then(({ before, after }) => {
        for (const t of after.targets) {
          const was = before.targets.find((b) => b.role === t.role && b.index === t.index);
          if (t.state === 'down' && was?.state === 'up') {
            log.warn(
              { version: after.version, lastSeenMs: t.lastSeenMs },
              `Marked ${targetName(after.fsName, t.role, t.index)} down: no report for ${silentMsMax} ms`,
            );
          }
        }
      })
      .catch((e: Error) => log.error({ err: e.message }, 'Failed to record silent targets as down'));
  }, reportIntervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
