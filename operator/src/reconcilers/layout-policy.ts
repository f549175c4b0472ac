import type { Logger } from 'pino';
import type { Reconciler } from '../controller/controller.ts';
import { parseKey } from '../controller/keys.ts';
import { done, type ReconcileResult, requeueAfter, retry, terminal } from '../controller/result.ts';
import type { LayoutPolicyStatus } from '../crds/layout-policy.ts';
import type { Condition, LayoutPolicy, LustreFileSystem } from '../k8s/objects.ts';
import { type ConditionSpec, findCondition, mergeConditions } from '../policy/conditions.ts';
import { defaultLayoutSource } from '../policy/default-layout.ts';
import { layoutProblem, layoutTemplate, poolsOf, sameLayout } from '../policy/layout.ts';
import { poolMembers } from '../policy/pool.ts';
import type { OperatorContext } from './context.ts';
import { describeMgsFailure, mgsSessionFor } from './mgs-session.ts';
import { writeStatus } from './status-writer.ts';

type Verdict = { condition: Omit<ConditionSpec, 'type'>; result: ReconcileResult };

/**
 * LayoutPolicy → its status: whether its layout is valid for the filesystem (pools that exist, OSTs
 * within the count) and, for the filesystem's default, whether the MGS has it. The filesystem's
 * reconciler sends the default layout (one writer); this one checks and reports.
 */
export class LayoutPolicyReconciler implements Reconciler {
  readonly kind = 'LayoutPolicy';
  readonly #ctx: OperatorContext;

  constructor(ctx: OperatorContext) {
    this.#ctx = ctx;
  }

  async reconcile(key: string, log: Logger): Promise<ReconcileResult> {
    const ctx = this.#ctx;
    const { namespace, name } = parseKey(key);
    const policy = ctx.caches.policies.get(namespace, name);
    if (policy === undefined || policy.metadata.deletionTimestamp !== undefined) return done;
    const verdict = await this.#judge(policy);
    const conditions = mergeConditions(
      policy.status?.conditions as Condition[] | undefined,
      [{ type: 'Ready', ...verdict.condition }],
      policy.metadata.generation,
      ctx.now(),
    );
    const status = { conditions, observedGeneration: policy.metadata.generation } as LayoutPolicyStatus;
    await writeStatus(ctx, policy, status, log);
    return verdict.result;
  }

  async #judge(policy: LayoutPolicy): Promise<Verdict> {
    const ctx = this.#ctx;
    const fs = ctx.caches.fileSystems.get(policy.metadata.namespace, policy.spec.fileSystem);
    if (fs === undefined) {
      return notReady(
        'FileSystemNotFound',
        `LustreFileSystem ${policy.spec.fileSystem} does not exist`,
        done,
      );
    }
    const pools = Object.fromEntries(
      ctx.caches.pools
        .list(policy.metadata.namespace)
        .filter((p) => p.spec.fileSystem === fs.metadata.name)
        .map((p) => [p.metadata.name, poolMembers(p.spec)]),
    );
    const missing = poolsOf(policy.spec.components).filter((p) => !Object.hasOwn(pools, p));
    if (missing.length > 0) {
      const message = `no OSTPool ${missing.join(', ')} for filesystem ${fs.metadata.name}`;
      return notReady('PoolNotFound', message, done);
    }
    const layout = layoutTemplate(policy.spec.components);
    const invalid = layoutProblem(layout, fs.spec.osts.count, pools);
    if (invalid !== undefined) return notReady('InvalidLayout', invalid, terminal('InvalidLayout', invalid));
    if (policy.spec.appliesTo.directories !== undefined) {
      // Directory defaults are set through an MDT (lfs setstripe on the directory), which the operator
      // does not talk to; saying so beats a Ready policy that changed nothing.
      const message = 'directory layouts are not applied by the operator yet; use kubelustre lfs setstripe';
      return notReady('DirectoryLayoutsUnsupported', message, done);
    }
    return this.#judgeDefault(policy, fs, layout);
  }

  /** Whether this policy is the filesystem's default, and whether the MGS has it. */
  async #judgeDefault(
    policy: LayoutPolicy,
    fs: LustreFileSystem,
    layout: ReturnType<typeof layoutTemplate>,
  ): Promise<Verdict> {
    const ctx = this.#ctx;
    const source = defaultLayoutSource(fs, ctx.caches.policies.list(policy.metadata.namespace));
    if (source.kind !== 'policy' || source.policy.metadata.name !== policy.metadata.name) {
      const message = `${fs.metadata.name}'s default layout comes from ${describeSource(source)}`;
      return notReady('Superseded', message, done);
    }
    const waiting = requeueAfter(
      ctx.timing.waitForTargetsMs,
      'waiting for the filesystem to send the layout',
    );
    if (findCondition(fs.status?.conditions as Condition[] | undefined, 'Ready')?.status !== 'True') {
      return notReady(
        'FileSystemNotReady',
        `waiting for LustreFileSystem ${fs.metadata.name} to be Ready`,
        waiting,
      );
    }
    const mgs = await mgsSessionFor(ctx, fs);
    if (!mgs.ok) return notReady(mgs.reason, mgs.message, waiting);
    try {
      const config = await mgs.session.config();
      if (!sameLayout(layout, config.defaultLayout)) {
        return notReady(
          'NotYetApplied',
          `the MGS of ${fs.metadata.name} does not have this layout yet`,
          waiting,
        );
      }
    } catch (e) {
      const message = describeMgsFailure(mgs.session.address, e);
      return notReady('MGSUnreachable', message, retry('MGSUnreachable', message));
    }
    return {
      condition: { status: 'True', reason: 'Applied', message: `The default layout of ${fs.metadata.name}` },
      result: done,
    };
  }
}

function notReady(reason: string, message: string, result: ReconcileResult): Verdict {
  return { condition: { status: 'False', reason, message }, result };
}

function describeSource(source: ReturnType<typeof defaultLayoutSource>): string {
  switch (source.kind) {
    case 'none':
      return 'nowhere (this policy does not apply to it)';
    case 'inline':
      return 'its spec.defaultLayout';
    case 'policy':
      return `LayoutPolicy ${source.policy.metadata.name}`;
    case 'problem':
      return `nowhere: ${source.problem.message}`;
  }
}
