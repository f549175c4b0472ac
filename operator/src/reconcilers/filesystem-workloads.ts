import type { Logger } from 'pino';
import { configMap } from '../builders/config-map.ts';
import { ROLE_TITLES, ROLES, type Role, workloadName } from '../builders/names.ts';
import { podDisruptionBudget } from '../builders/pod-disruption-budget.ts';
import { headlessService } from '../builders/service.ts';
import { mgsStatefulSet, targetStatefulSet } from '../builders/stateful-set.ts';
import type { KubeObject, LustreFileSystem, StatefulSet } from '../k8s/objects.ts';
import { ApiError } from '../k8s/rest.ts';
import type { Problem } from '../policy/filesystem-status.ts';
import type { OperatorContext } from './context.ts';

/** The filesystem's StatefulSets as the cache has them, by role. */
export function observedWorkloads(
  ctx: OperatorContext,
  fs: LustreFileSystem,
): Partial<Record<Role, StatefulSet>> {
  const out: Partial<Record<Role, StatefulSet>> = {};
  for (const role of ROLES) {
    const sts = ctx.caches.statefulSets.get(fs.metadata.namespace, workloadName(fs, role));
    if (sts !== undefined) out[role] = sts;
  }
  return out;
}

/** Everything the filesystem runs on, built from its spec; StatefulSets with the planned replicas. */
export function desiredObjects(
  ctx: OperatorContext,
  fs: LustreFileSystem,
  replicas: Record<Role, number>,
): KubeObject[] {
  const objects: KubeObject[] = [configMap(fs, ctx.build)];
  for (const role of ROLES) {
    objects.push(headlessService(fs, role), podDisruptionBudget(fs, role));
    objects.push(
      role === 'mgs' ? mgsStatefulSet(fs, ctx.build) : targetStatefulSet(fs, role, ctx.build, replicas[role]),
    );
  }
  return objects;
}

/**
 * Applies every desired object (server-side apply: an unchanged object is not written) and records
 * an Event for each StatefulSet created or grown; returns the objects the API server refused as problems. The MGS's Service and StatefulSet go first, so that
 * targets starting in a cluster find their MGS's name resolving.
 */
export async function applyWorkloads(
  ctx: OperatorContext,
  fs: LustreFileSystem,
  replicas: Record<Role, number>,
  observed: Partial<Record<Role, StatefulSet>>,
  log: Logger,
): Promise<Problem[]> {
  const problems: Problem[] = [];
  for (const object of desiredObjects(ctx, fs, replicas)) {
    try {
      await ctx.client.apply(object);
    } catch (e) {
      // Invalid: retrying the same object cannot succeed; the status says why until the spec changes.
      if (!(e instanceof ApiError && e.status === 422)) throw e;
      problems.push({
        reason: 'ApplyRefused',
        message: `the API server refused ${object.kind} ${object.metadata.name}: ${e.message}`,
      });
      continue;
    }
    if (object.kind !== 'StatefulSet') continue;
    const role = object.metadata.labels?.['app.kubernetes.io/component'] as Role;
    const before = observed[role]?.spec.replicas;
    const after = replicas[role];
    if (before === undefined) {
      ctx.events.record(
        fs,
        'Normal',
        'Created',
        'CreateStatefulSet',
        `Created StatefulSet ${object.metadata.name} with ${after} ${ROLE_TITLES[role]}(s)`,
      );
      log.info({ replicas: after }, `Created StatefulSet ${object.metadata.name}`);
    } else if (after > before) {
      ctx.events.record(
        fs,
        'Normal',
        'ScaledUp',
        'ScaleStatefulSet',
        `Scaled StatefulSet ${object.metadata.name} from ${before} to ${after} ${ROLE_TITLES[role]}s`,
      );
      log.info({ from: before, to: after }, `Scaled StatefulSet ${object.metadata.name} up`);
    }
  }
  return problems;
}
