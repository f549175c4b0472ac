import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { WorkQueue } from './work-queue.ts';

export type ResultLabel = 'done' | 'requeue' | 'error' | 'terminal';

/** The operator's metrics, in the registry it is given (one per operator instance). */
export class OperatorMetrics {
  readonly reconciles: Counter<'kind' | 'result'>;
  readonly reconcileSeconds: Histogram<'kind'>;
  readonly leader: Gauge;
  readonly #queues = new Map<string, WorkQueue>();

  constructor(registry: Registry) {
    this.reconciles = new Counter({
      name: 'kubelustre_operator_reconciles_total',
      help: 'Reconciles by kind and result (done, requeue, error, terminal).',
      labelNames: ['kind', 'result'],
      registers: [registry],
    });
    this.reconcileSeconds = new Histogram({
      name: 'kubelustre_operator_reconcile_duration_seconds',
      help: 'How long one reconcile took, by kind.',
      labelNames: ['kind'],
      buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    });
    const queues = this.#queues;
    new Gauge({
      name: 'kubelustre_operator_queue_depth',
      help: 'Keys waiting in each work queue.',
      labelNames: ['kind'],
      registers: [registry],
      collect() {
        for (const [kind, queue] of queues) this.set({ kind }, queue.length);
      },
    });
    this.leader = new Gauge({
      name: 'kubelustre_operator_leader',
      help: '1 while this instance holds the leader lease and runs the controllers.',
      registers: [registry],
    });
  }

  watchQueue(kind: string, queue: WorkQueue): void {
    this.#queues.set(kind, queue);
  }
}
