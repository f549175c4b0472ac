import type { Logger } from 'pino';
import type { OperatorMetrics, ResultLabel } from './metrics.ts';
import type { ReconcileResult } from './result.ts';
import { WorkQueue, type WorkQueueOptions } from './work-queue.ts';

/** One kind's reconcile: read the world for `key`, make it match, say how it went. Level-triggered. */
export interface Reconciler {
  readonly kind: string;
  reconcile(key: string, log: Logger): Promise<ReconcileResult>;
}

export interface ControllerOptions {
  reconciler: Reconciler;
  metrics: OperatorMetrics;
  log: Logger;
  /** Keys reconciled at once (never the same key twice at once: the queue sees to that). */
  workers?: number;
  queue?: WorkQueueOptions;
}

const WORKERS_DEFAULT = 4;

/** A work queue of one kind's keys and the workers that reconcile them. */
export class Controller {
  readonly queue: WorkQueue;
  readonly #opts: ControllerOptions;
  #workers: Promise<void>[] = [];

  constructor(opts: ControllerOptions) {
    this.#opts = opts;
    this.queue = new WorkQueue(opts.queue);
    opts.metrics.watchQueue(opts.reconciler.kind, this.queue);
  }

  get kind(): string {
    return this.#opts.reconciler.kind;
  }

  enqueue(key: string): void {
    this.queue.add(key);
  }

  start(): void {
    const n = this.#opts.workers ?? WORKERS_DEFAULT;
    this.#workers = Array.from({ length: n }, () => this.#work());
  }

  /** Stops taking keys and waits for reconciles in progress to end. */
  async stop(): Promise<void> {
    this.queue.shutDown();
    await Promise.all(this.#workers);
  }

  async #work(): Promise<void> {
    for (let key = await this.queue.get(); key !== undefined; key = await this.queue.get()) {
      try {
        await this.#reconcileOnce(key);
      } finally {
        this.queue.done(key);
      }
    }
  }

  async #reconcileOnce(key: string): Promise<void> {
    const { reconciler, metrics } = this.#opts;
    const log = this.#opts.log.child({ kind: reconciler.kind, key });
    const endTimer = metrics.reconcileSeconds.startTimer({ kind: reconciler.kind });
    let result: ResultLabel;
    try {
      result = this.#handle(key, await reconciler.reconcile(key, log), log);
    } catch (e) {
      const delayMs = this.queue.addRateLimited(key);
      const failures = this.queue.failures(key);
      log.warn({ err: e, retryInMs: delayMs, failures }, `Failed to reconcile ${reconciler.kind} ${key}`);
      result = 'error';
    }
    endTimer();
    metrics.reconciles.inc({ kind: reconciler.kind, result });
  }

  #handle(key: string, result: ReconcileResult, log: Logger): ResultLabel {
    if (result.kind === 'retry') {
      const delayMs = this.queue.addRateLimited(key);
      log.info(
        { reason: result.reason, retryInMs: delayMs },
        `Will retry ${this.kind} ${key}: ${result.message}`,
      );
      return 'error';
    }
    this.queue.forget(key);
    switch (result.kind) {
      case 'done':
        log.debug({}, `Reconciled ${this.kind} ${key}`);
        return 'done';
      case 'requeueAfter':
        log.debug({ delayMs: result.delayMs, why: result.why }, `Requeued ${this.kind} ${key}`);
        this.queue.addAfter(key, result.delayMs);
        return 'requeue';
      case 'terminal':
        log.info(
          { reason: result.reason },
          `Gave up on ${this.kind} ${key} until it changes: ${result.message}`,
        );
        return 'terminal';
    }
  }
}
