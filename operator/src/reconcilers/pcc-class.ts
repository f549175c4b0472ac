import type { Logger } from 'pino';
import { pccClassProblem, pccConfigMap } from '../builders/pcc-config-map.ts';
import type { Reconciler } from '../controller/controller.ts';
import { parseKey } from '../controller/keys.ts';
import { done, type ReconcileResult } from '../controller/result.ts';
import type { PccClassStatus } from '../crds/pcc-class.ts';
import type { Condition } from '../k8s/objects.ts';
import { type ConditionSpec, mergeConditions } from '../policy/conditions.ts';
import type { OperatorContext } from './context.ts';
import { writeStatus } from './status-writer.ts';

/**
 * PCCClass → a ConfigMap for the CSI node plugin, which attaches the cache on matching nodes and
 * will report `readyNodes`. The ConfigMap is owned by the class: garbage collection removes it with it.
 */
export class PccClassReconciler implements Reconciler {
  readonly kind = 'PCCClass';
  readonly #ctx: OperatorContext;

  constructor(ctx: OperatorContext) {
    this.#ctx = ctx;
  }

  async reconcile(key: string, log: Logger): Promise<ReconcileResult> {
    const ctx = this.#ctx;
    const pcc = ctx.caches.pccClasses.get(undefined, parseKey(key).name);
    if (pcc === undefined || pcc.metadata.deletionTimestamp !== undefined) return done;
    // A class the mounts could not use is not published: nodes keep the last good version, if any.
    const problem = pccClassProblem(pcc.spec);
    let ready: ConditionSpec;
    if (problem !== undefined) {
      ready = { type: 'Ready', status: 'False', reason: 'InvalidSpec', message: problem };
    } else {
      const cm = pccConfigMap(pcc, ctx.namespace);
      await ctx.client.apply(cm);
      const where = `ConfigMap ${cm.metadata.namespace}/${cm.metadata.name}`;
      ready = {
        type: 'Ready',
        status: 'True',
        reason: 'Published',
        message: `Published for the CSI node plugin in ${where}`,
      };
    }
    const conditions = mergeConditions(
      pcc.status?.conditions as Condition[] | undefined,
      [ready],
      pcc.metadata.generation,
      ctx.now(),
    );
    const status: PccClassStatus = { conditions: conditions as PccClassStatus['conditions'] };
    if (pcc.metadata.generation !== undefined) status.observedGeneration = pcc.metadata.generation;
    // readyNodes is the node plugin's to write: left out of our apply and of the comparison.
    await writeStatus(ctx, pcc, status, log, ['readyNodes']);
    return done;
  }
}
