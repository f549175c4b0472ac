import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { LABELS, MANAGED_BY } from '../builders/names.ts';
import type { KubeClient } from '../k8s/client.ts';
import type { KubeObject, LayoutPolicy, LustreFileSystem, OstPool } from '../k8s/objects.ts';
import { type Resource, Resources } from '../k8s/resources.ts';
import type { Caches } from '../reconcilers/context.ts';
import { Controller, type Reconciler } from './controller.ts';
import { Informer } from './informer.ts';
import { controllerKey, keyOf, objectKey } from './keys.ts';
import type { OperatorMetrics } from './metrics.ts';

/** How long the caches may take to fill before the operator gives up starting. */
const CACHE_SYNC_TIMEOUT_MS = 60_000;
const CACHE_SYNC_POLL_MS = 100;

export interface Reconcilers {
  fileSystems: Reconciler;
  pools: Reconciler;
  policies: Reconciler;
  pccClasses: Reconciler;
}

interface Controllers {
  fileSystems: Controller;
  pools: Controller;
  policies: Controller;
  pccClasses: Controller;
}

/** The informers and controllers of one operator, and which object changes enqueue which keys. */
export class Manager {
  readonly caches: Caches;
  readonly #kc: KubeConfig;
  readonly #client: KubeClient;
  readonly #log: Logger;
  #controllers: Controllers | undefined;

  constructor(kc: KubeConfig, client: KubeClient, log: Logger) {
    this.#kc = kc;
    this.#client = client;
    this.#log = log;
    // Only what the operator made: it never needs every ConfigMap and Service of the cluster in memory.
    const ours = `${LABELS.managedBy}=${MANAGED_BY}`;
    this.caches = {
      fileSystems: this.#informer(Resources.LustreFileSystem),
      pools: this.#informer(Resources.OSTPool),
      policies: this.#informer(Resources.LayoutPolicy),
      pccClasses: this.#informer(Resources.PCCClass),
      statefulSets: this.#informer(Resources.StatefulSet, ours),
      services: this.#informer(Resources.Service, ours),
      configMaps: this.#informer(Resources.ConfigMap, ours),
      podDisruptionBudgets: this.#informer(Resources.PodDisruptionBudget, ours),
    };
  }

  get synced(): boolean {
    return Object.values(this.caches).every((i: Informer<KubeObject>) => i.synced);
  }

  /**
   * Fills the caches, then starts the controllers: a reconcile never sees a half-listed world. Throws
   * if the caches do not fill in time; returns early, controllers not started, if `signal` aborts.
   */
  async start(
    reconcilers: Reconcilers,
    metrics: OperatorMetrics,
    signal: AbortSignal,
    workers?: number,
  ): Promise<void> {
    const make = (reconciler: Reconciler) =>
      new Controller({ reconciler, metrics, log: this.#log, ...(workers !== undefined && { workers }) });
    const c: Controllers = {
      fileSystems: make(reconcilers.fileSystems),
      pools: make(reconcilers.pools),
      policies: make(reconcilers.policies),
      pccClasses: make(reconcilers.pccClasses),
    };
    this.#controllers = c;
    this.#wire(c);
    await Promise.all(Object.values(this.caches).map((i: Informer<KubeObject>) => i.start()));
    const deadline = Date.now() + CACHE_SYNC_TIMEOUT_MS;
    while (!this.synced) {
      if (signal.aborted) return;
      if (Date.now() > deadline) {
        const missing = Object.values(this.caches).filter((i: Informer<KubeObject>) => !i.synced);
        const kinds = missing.map((i: Informer<KubeObject>) => i.resource.kind).join(', ');
        throw new Error(
          `could not list ${kinds} within ${CACHE_SYNC_TIMEOUT_MS} ms (are the CRDs installed?)`,
        );
      }
      await new Promise((r) => setTimeout(r, CACHE_SYNC_POLL_MS));
    }
    for (const controller of Object.values(c)) controller.start();
    this.#log.info({}, 'Started the controllers');
  }

  async stop(): Promise<void> {
    await Promise.all(Object.values(this.caches).map((i: Informer<KubeObject>) => i.stop()));
    if (this.#controllers)
      await Promise.all(Object.values(this.#controllers).map((c: Controller) => c.stop()));
  }

  /**
   * A filesystem's key on changes to itself and to what it owns or what refers to it; pools and
   * policies on changes to themselves and to their filesystem (its readiness gates them).
   */
  #wire(c: Controllers): void {
    const { caches } = this;
    caches.fileSystems.onChange((fs: LustreFileSystem) => {
      c.fileSystems.enqueue(objectKey(fs));
      for (const pool of caches.pools.list(fs.metadata.namespace)) {
        if (pool.spec.fileSystem === fs.metadata.name) c.pools.enqueue(objectKey(pool));
      }
      for (const policy of caches.policies.list(fs.metadata.namespace)) {
        if (policy.spec.fileSystem === fs.metadata.name) c.policies.enqueue(objectKey(policy));
      }
    });
    const toFileSystem = (o: KubeObject) => {
      const key = controllerKey(o, 'LustreFileSystem');
      if (key !== undefined) c.fileSystems.enqueue(key);
      const pcc = o.metadata.ownerReferences?.find((r) => r.controller === true && r.kind === 'PCCClass');
      if (pcc !== undefined) c.pccClasses.enqueue(pcc.name);
    };
    for (const owned of [
      caches.statefulSets,
      caches.services,
      caches.configMaps,
      caches.podDisruptionBudgets,
    ]) {
      owned.onChange(toFileSystem);
    }
    caches.pools.onChange((pool: OstPool) => {
      c.pools.enqueue(objectKey(pool));
      c.fileSystems.enqueue(keyOf(pool.metadata.namespace, pool.spec.fileSystem));
      for (const policy of caches.policies.list(pool.metadata.namespace))
        c.policies.enqueue(objectKey(policy));
    });
    caches.policies.onChange((policy: LayoutPolicy) => {
      // Which policy is a filesystem's default depends on its siblings (the oldest one wins).
      for (const sibling of caches.policies.list(policy.metadata.namespace)) {
        if (sibling.spec.fileSystem === policy.spec.fileSystem) c.policies.enqueue(objectKey(sibling));
      }
      c.policies.enqueue(objectKey(policy));
      c.fileSystems.enqueue(keyOf(policy.metadata.namespace, policy.spec.fileSystem));
    });
    caches.pccClasses.onChange((pcc) => c.pccClasses.enqueue(objectKey(pcc)));
  }

  #informer<T extends KubeObject>(resource: Resource, labelSelector?: string): Informer<T> {
    return new Informer<T>(this.#kc, this.#client, resource, this.#log, labelSelector);
  }
}
