import { KlError } from '@kubelustre/protocol/errors.ts';
import type { Logger } from 'pino';
import type { Reconciler } from '../controller/controller.ts';
import { parseKey } from '../controller/keys.ts';
import { done, type ReconcileResult, requeueAfter, retry, terminal } from '../controller/result.ts';
import type { OstPoolStatus } from '../crds/ost-pool.ts';
import type { Condition, LustreFileSystem, OstPool } from '../k8s/objects.ts';
import type { MgsSession } from '../mgs/mgs-connections.ts';
import { type ConditionSpec, findCondition, mergeConditions } from '../policy/conditions.ts';
import { formatIndexes, missingOsts, poolMembers, poolOps, poolTeardownOps } from '../policy/pool.ts';
import type { OperatorContext } from './context.ts';
import { describeMgsFailure, mgsSessionFor } from './mgs-session.ts';
import { writeStatus } from './status-writer.ts';

/** Holds an OSTPool until its pool is off the MGS. */
export const POOL_FINALIZER = 'kubelustre.io/mgs-pool';

/** OSTPool → the pool on its filesystem's MGS (lctl pool_new / pool_add / pool_remove). */
export class OstPoolReconciler implements Reconciler {
  readonly kind = 'OSTPool';
  readonly #ctx: OperatorContext;

  constructor(ctx: OperatorContext) {
    this.#ctx = ctx;
  }

  async reconcile(key: string, log: Logger): Promise<ReconcileResult> {
    const ctx = this.#ctx;
    const { namespace, name } = parseKey(key);
    const pool = ctx.caches.pools.get(namespace, name);
    if (pool === undefined) return done;
    const fs = ctx.caches.fileSystems.get(namespace, pool.spec.fileSystem);
    if (pool.metadata.deletionTimestamp !== undefined) return this.#remove(pool, fs, log);
    if (!pool.metadata.finalizers?.includes(POOL_FINALIZER))
      await ctx.client.setFinalizer(pool, POOL_FINALIZER, true);
    const members = poolMembers(pool.spec);
    const report = (c: Omit<ConditionSpec, 'type'>) => this.#report(pool, members.length, c, log);
    if (fs === undefined) {
      await report({
        status: 'False',
        reason: 'FileSystemNotFound',
        message: `LustreFileSystem ${pool.spec.fileSystem} does not exist`,
      });
      return done;
    }
    const missing = missingOsts(members, fs.spec.osts.count);
    if (missing.length > 0) {
      const message = `OST ${formatIndexes(missing)} not in ${fs.metadata.name}, which has ${fs.spec.osts.count} OSTs (0-${fs.spec.osts.count - 1})`;
      await report({ status: 'False', reason: 'OSTNotFound', message });
      return terminal('OSTNotFound', message);
    }
    const mgs = await this.#session(fs);
    if (!mgs.ok) {
      await report({ status: 'False', reason: mgs.reason, message: mgs.message });
      return requeueAfter(ctx.timing.waitForTargetsMs, mgs.message);
    }
    try {
      const applied = await this.#push(pool, mgs.session, members, log);
      await report({ status: 'True', reason: 'Applied', message: applied });
      return done;
    } catch (e) {
      const refused = e instanceof KlError && e.code !== 'ETIMEDOUT' && e.code !== 'ESHUTDOWN';
      const message = refused
        ? `the MGS refused the pool: ${e.reason}`
        : describeMgsFailure(mgs.session.address, e);
      await report({ status: 'False', reason: refused ? 'MGSRefused' : 'MGSUnreachable', message });
      return retry(refused ? 'MGSRefused' : 'MGSUnreachable', message);
    }
  }

  /** A session once the filesystem is Ready (every OST registered, so pool_add can name them). */
  async #session(fs: LustreFileSystem) {
    const ready = findCondition(fs.status?.conditions as Condition[] | undefined, 'Ready');
    if (ready?.status !== 'True') {
      return {
        ok: false as const,
        reason: 'FileSystemNotReady',
        message: `waiting for LustreFileSystem ${fs.metadata.name} to be Ready`,
      };
    }
    return mgsSessionFor(this.#ctx, fs);
  }

  async #push(pool: OstPool, session: MgsSession, members: number[], log: Logger): Promise<string> {
    const config = await session.config();
    const poolName = `${config.fsName}.${pool.metadata.name}`;
    for (const op of poolOps(pool.metadata.name, config.pools[pool.metadata.name], members)) {
      await session.pool(op);
      log.info({ op: op.op, osts: op.osts }, `Sent pool_${op.op} ${poolName} to the MGS`);
    }
    return `Pool ${poolName} holds OSTs ${formatIndexes(members)}`;
  }

  /**
   * Takes the pool off the MGS. Nothing to take off when the filesystem is gone or going (its MGS goes
   * with it) or the pool never reached the MGS (not Ready); otherwise deletion waits for the MGS.
   */
  async #remove(pool: OstPool, fs: LustreFileSystem | undefined, log: Logger): Promise<ReconcileResult> {
    const ctx = this.#ctx;
    if (!pool.metadata.finalizers?.includes(POOL_FINALIZER)) return done;
    const onMgs =
      findCondition(pool.status?.conditions as Condition[] | undefined, 'Ready')?.status === 'True';
    if (fs !== undefined && fs.metadata.deletionTimestamp === undefined && onMgs) {
      const mgs = await this.#session(fs);
      if (!mgs.ok) return retry(mgs.reason, `cannot remove pool ${pool.metadata.name} yet: ${mgs.message}`);
      const config = await mgs.session.config();
      for (const op of poolTeardownOps(pool.metadata.name, config.pools[pool.metadata.name]))
        await mgs.session.pool(op);
      log.info({}, `Destroyed pool ${config.fsName}.${pool.metadata.name} on the MGS`);
    }
    await ctx.client.setFinalizer(pool, POOL_FINALIZER, false);
    return done;
  }

  async #report(pool: OstPool, ostCount: number, c: Omit<ConditionSpec, 'type'>, log: Logger): Promise<void> {
    const ctx = this.#ctx;
    const conditions = mergeConditions(
      pool.status?.conditions as Condition[] | undefined,
      [{ type: 'Ready', ...c }],
      pool.metadata.generation,
      ctx.now(),
    );
    const status = { conditions, observedGeneration: pool.metadata.generation, ostCount } as OstPoolStatus;
    await writeStatus(ctx, pool, status, log);
  }
}
