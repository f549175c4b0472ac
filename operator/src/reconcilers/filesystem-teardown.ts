import type { Logger } from 'pino';
import {
  configMapName,
  LABELS,
  labelSelector,
  ROLE_TITLES,
  ROLES,
  type Role,
  selectorLabels,
  TEARDOWN_ORDER,
  workloadName,
} from '../builders/names.ts';
import { objectKey } from '../controller/keys.ts';
import { done, type ReconcileResult, requeueAfter } from '../controller/result.ts';
import type { LustreFileSystem } from '../k8s/objects.ts';
import { Resources } from '../k8s/resources.ts';
import type { OperatorContext } from './context.ts';

/** Holds a LustreFileSystem until its targets are stopped in order. */
export const FILESYSTEM_FINALIZER = 'kubelustre.io/teardown';

/**
 * Deleting a filesystem: OSTs, then MDTs, then the MGS, each StatefulSet deleted and gone, pods
 * included, before the next, so that no MDT is left sending to vanished OSTs and no target outlives the
 * MGS it reports to. Then its claims (only with reclaimPolicy: Delete), Services, ConfigMap and
 * PodDisruptionBudgets, and the finalizer. Garbage collection would remove the owned objects too, but
 * in no order, and StatefulSets would take their pods down all at once.
 */
export async function tearDownFileSystem(
  ctx: OperatorContext,
  fs: LustreFileSystem,
  log: Logger,
): Promise<ReconcileResult> {
  if (!fs.metadata.finalizers?.includes(FILESYSTEM_FINALIZER)) return done;
  for (const role of TEARDOWN_ORDER) {
    const waiting = await stopRole(ctx, fs, role, log);
    if (waiting !== undefined) return requeueAfter(ctx.timing.teardownPollMs, waiting);
  }
  await deleteLeftovers(ctx, fs, log);
  ctx.mgs.close(objectKey(fs));
  await ctx.client.setFinalizer(fs, FILESYSTEM_FINALIZER, false);
  log.info({}, `Tore down LustreFileSystem ${fs.metadata.name}`);
  return done;
}

/** Deletes `role`'s StatefulSet; what it still waits for, or undefined once the role's pods are gone. */
async function stopRole(
  ctx: OperatorContext,
  fs: LustreFileSystem,
  role: Role,
  log: Logger,
): Promise<string | undefined> {
  const namespace = fs.metadata.namespace;
  const name = workloadName(fs, role);
  const sts = ctx.caches.statefulSets.get(namespace, name);
  if (sts !== undefined) {
    if (
      sts.metadata.deletionTimestamp === undefined &&
      (await ctx.client.delete(Resources.StatefulSet, { namespace, name }))
    ) {
      ctx.events.record(
        fs,
        'Normal',
        'Stopping',
        'DeleteStatefulSet',
        `Deleted StatefulSet ${name}: stopping the ${ROLE_TITLES[role]}s`,
      );
      log.info({}, `Deleted StatefulSet ${name}`);
    }
    return `StatefulSet ${name} to go`;
  }
  const pods = await ctx.client.list(Resources.Pod, {
    namespace,
    labelSelector: labelSelector(selectorLabels(fs, role)),
  });
  return pods.items.length > 0
    ? `${pods.items.length} ${ROLE_TITLES[role]} pod(s) of ${name} to stop`
    : undefined;
}

async function deleteLeftovers(ctx: OperatorContext, fs: LustreFileSystem, log: Logger): Promise<void> {
  const namespace = fs.metadata.namespace ?? 'default';
  if (fs.spec.reclaimPolicy === 'Delete') {
    const selector = `${LABELS.fileSystem}=${fs.metadata.name},${LABELS.name}=kubelustre-target`;
    await ctx.client.deleteCollection(Resources.PersistentVolumeClaim, namespace, selector);
    ctx.events.record(
      fs,
      'Normal',
      'DeletedClaims',
      'DeleteClaims',
      "Deleted the targets' PersistentVolumeClaims (reclaimPolicy: Delete)",
    );
    log.info({}, `Deleted the PersistentVolumeClaims of ${fs.metadata.name}`);
  }
  for (const role of ROLES) {
    await ctx.client.delete(Resources.Service, { namespace, name: workloadName(fs, role) });
    await ctx.client.delete(Resources.PodDisruptionBudget, { namespace, name: workloadName(fs, role) });
  }
  await ctx.client.delete(Resources.ConfigMap, { namespace, name: configMapName(fs) });
}
