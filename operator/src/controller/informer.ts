import {
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  makeInformer,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { KubeClient } from '../k8s/client.ts';
import type { KubeObject } from '../k8s/objects.ts';
import { type Resource, resourcePath } from '../k8s/resources.ts';

/**
 * After a failed list or watch, client-node's informer stays stopped; we restart it after a delay that
 * doubles while lists keep failing (the CRDs not installed yet, the API server down).
 */
const RESTART_DELAY_MS_MIN = 500;
const RESTART_DELAY_MS_MAX = 30_000;

export type ChangeHandler<T> = (object: T) => void;

/**
 * A cache of one kind's objects (all namespaces), kept current by list + watch (client-node's
 * ListWatch), calling handlers on every add, update and delete. Reconcilers read from here, never
 * from events: a handler only says which key to look at again.
 */
export class Informer<T extends KubeObject> {
  readonly resource: Resource;
  readonly #inner: ReturnType<typeof makeInformer<KubernetesObject>>;
  readonly #log: Logger;
  #restartDelayMs = RESTART_DELAY_MS_MIN;
  #restartTimer: NodeJS.Timeout | undefined;
  #stopped = false;
  #synced = false;

  constructor(kc: KubeConfig, client: KubeClient, resource: Resource, log: Logger, labelSelector?: string) {
    this.resource = resource;
    this.#log = log.child({ informer: resource.kind });
    const list = async () => {
      const listed = await client.list<T>(resource, labelSelector === undefined ? {} : { labelSelector });
      this.#synced = true;
      this.#restartDelayMs = RESTART_DELAY_MS_MIN;
      return listed as unknown as KubernetesListObject<KubernetesObject>;
    };
    this.#inner = makeInformer(kc, resourcePath(resource), list, labelSelector);
    this.#inner.on('error', (err) => this.#restartLater(err));
  }

  /** True once the first list completed: the cache holds every object that existed then. */
  get synced(): boolean {
    return this.#synced;
  }

  onChange(handler: ChangeHandler<T>): void {
    this.#inner.on('change', handler as unknown as ChangeHandler<KubernetesObject>);
  }

  /** Lists, then watches. A failed list is retried in the background: see `synced`. */
  async start(): Promise<void> {
    await this.#inner.start();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#restartTimer);
    await this.#inner.stop();
  }

  get(namespace: string | undefined, name: string): T | undefined {
    return this.#inner.get(name, namespace) as T | undefined;
  }

  list(namespace?: string): T[] {
    return this.#inner.list(namespace) as unknown as T[];
  }

  #restartLater(err: unknown): void {
    if (this.#stopped) return;
    const delayMs = this.#restartDelayMs;
    this.#restartDelayMs = Math.min(delayMs * 2, RESTART_DELAY_MS_MAX);
    this.#log.warn({ err, retryInMs: delayMs }, `Lost the watch on ${this.resource.kind}; restarting it`);
    this.#restartTimer = setTimeout(() => {
      if (!this.#stopped) void this.#inner.start().catch((e: unknown) => this.#restartLater(e));
    }, delayMs);
  }
}
