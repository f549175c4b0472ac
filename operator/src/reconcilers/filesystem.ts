import type { Logger } from 'pino';
import type { Role } from '../builders/names.ts';
import type { Reconciler } from '../controller/controller.ts';
import { objectKey, parseKey } from '../controller/keys.ts';
import { done, type ReconcileResult, requeueAfter } from '../controller/result.ts';
import type { LustreFileSystem, StatefulSet } from '../k8s/objects.ts';
import {
  type FsConfigValue,
  fileSystemStatus,
  type MgsView,
  type Problem,
} from '../policy/filesystem-status.ts';
import { planReplicas } from '../policy/replicas.ts';
import type { SharedKey } from '../policy/shared-key.ts';
import type { OperatorContext } from './context.ts';
import { type DefaultLayoutOutcome, syncDefaultLayout } from './filesystem-default-layout.ts';
import { FILESYSTEM_FINALIZER, tearDownFileSystem } from './filesystem-teardown.ts';
import { applyWorkloads, observedWorkloads } from './filesystem-workloads.ts';
import { describeMgsFailure, readSharedKey } from './mgs-session.ts';
import { writeStatus } from './status-writer.ts';

/**
 * LustreFileSystem → its StatefulSets, Services, ConfigMap and PodDisruptionBudgets; its default layout
 * on the MGS; its status from the StatefulSets and the MGS. Gather, decide (pure functions in policy/),
 * act, write the status if it changed.
 */
export class FileSystemReconciler implements Reconciler {
  readonly kind = 'LustreFileSystem';
  readonly #ctx: OperatorContext;

  constructor(ctx: OperatorContext) {
    this.#ctx = ctx;
  }

  async reconcile(key: string, log: Logger): Promise<ReconcileResult> {
    const ctx = this.#ctx;
    const { namespace, name } = parseKey(key);
    const fs = ctx.caches.fileSystems.get(namespace, name);
    if (fs === undefined) {
      ctx.mgs.close(key);
      return done;
    }
    if (fs.metadata.deletionTimestamp !== undefined) return tearDownFileSystem(ctx, fs, log);
    if (!fs.metadata.finalizers?.includes(FILESYSTEM_FINALIZER)) {
      await ctx.client.setFinalizer(fs, FILESYSTEM_FINALIZER, true);
    }
    const sharedKey = await readSharedKey(ctx, fs);
    const observed = observedWorkloads(ctx, fs);
    const plan = planReplicas(fs, observed);
    const problems: Problem[] = [...plan.problems];
    // Without the key, pods would sit in ContainerCreating with a mount error nobody reads; the status
    // says what is missing instead. Workloads that exist already are left as they are.
    if (sharedKey.ok) problems.push(...(await applyWorkloads(ctx, fs, plan.replicas, observed, log)));
    else problems.push({ reason: sharedKey.reason, message: sharedKey.message });
    const { mgs, layout } = await this.#observeMgs(fs, sharedKey, observed, log);
    if (layout?.state === 'problem') problems.push(layout.problem);
    const status = fileSystemStatus({
      fs,
      replicas: plan.replicas,
      workloads: observed,
      mgs,
      problems,
      ctx: ctx.build,
      now: ctx.now(),
    });
    await writeStatus(ctx, fs, status, log);
    return this.#next(sharedKey, status.phase);
  }

  /** Dials the MGS once its pod is ready; sends the default layout once every target serves. */
  async #observeMgs(
    fs: LustreFileSystem,
    sharedKey: SharedKey,
    observed: Partial<Record<Role, StatefulSet>>,
    log: Logger,
  ): Promise<{ mgs: MgsView; layout?: DefaultLayoutOutcome }> {
    const ctx = this.#ctx;
    if (!sharedKey.ok || (observed.mgs?.status?.readyReplicas ?? 0) < 1)
      return { mgs: { state: 'notReady' } };
    const session = ctx.mgs.session(objectKey(fs), ctx.mgsAddressOf(fs), sharedKey.key);
    let config: FsConfigValue;
    try {
      config = await session.config();
    } catch (e) {
      return { mgs: { state: 'unreachable', message: describeMgsFailure(session.address, e) } };
    }
    const mgs: MgsView = { state: 'reachable', config };
    // The MGS checks a layout against the OSTs registered with it: send it once they all are.
    const upOsts = config.targets.filter((t) => t.role === 'ost' && t.state === 'up').length;
    if (upOsts < fs.spec.osts.count) return { mgs };
    return { mgs, layout: await syncDefaultLayout(ctx, fs, session, config, log) };
  }

  #next(sharedKey: SharedKey, phase: string | undefined): ReconcileResult {
    const { timing } = this.#ctx;
    if (!sharedKey.ok) return requeueAfter(timing.waitForSecretMs, 'the shared key Secret is not usable');
    if (phase === 'Ready') return requeueAfter(timing.refreshCapacityMs, 'refreshing the capacity');
    return requeueAfter(timing.waitForTargetsMs, 'waiting for targets');
  }
}
