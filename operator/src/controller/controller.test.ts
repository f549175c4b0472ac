import { pino } from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { Controller, type Reconciler } from './controller.ts';
import { OperatorMetrics } from './metrics.ts';
import { done, type ReconcileResult, requeueAfter, terminal } from './result.ts';

const log = pino({ level: 'silent' });

/** A reconciler that answers from a script and records how many run at once. */
function scripted(results: Array<ReconcileResult | Error>) {
  const calls: string[] = [];
  let running = 0;
  let maxRunning = 0;
  const reconciler: Reconciler = {
    kind: 'Test',
    async reconcile(key) {
      calls.push(key);
      running++;
      maxRunning = Math.max(maxRunning, running);
      await new Promise((r) => setTimeout(r, 5));
      running--;
      const next = results.shift() ?? done;
      if (next instanceof Error) throw next;
      return next;
    },
  };
  return { reconciler, calls, maxRunning: () => maxRunning };
}

async function until(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 2000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not reached within 2 s');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('Controller', () => {
  it('retries a failing key with backoff and counts results by kind', async () => {
    const registry = new Registry();
    const s = scripted([new Error('boom'), requeueAfter(10, 'later'), terminal('Bad', 'fix it')]);
    const c = new Controller({
      reconciler: s.reconciler,
      metrics: new OperatorMetrics(registry),
      log,
      queue: { backoffBaseMs: 10 },
    });
    c.start();
    c.enqueue('ns/a');
    await until(() => s.calls.length === 3);
    await c.stop();
    const metrics = await registry.metrics();
    expect(metrics).toContain('kubelustre_operator_reconciles_total{kind="Test",result="error"} 1');
    expect(metrics).toContain('kubelustre_operator_reconciles_total{kind="Test",result="requeue"} 1');
    expect(metrics).toContain('kubelustre_operator_reconciles_total{kind="Test",result="terminal"} 1');
  });

  it('never runs one key twice at once, however many workers', async () => {
    const s = scripted([]);
    const c = new Controller({
      reconciler: s.reconciler,
      metrics: new OperatorMetrics(new Registry()),
      log,
      workers: 4,
    });
    c.start();
    for (let i = 0; i < 20; i++) {
      c.enqueue('ns/same');
      await new Promise((r) => setTimeout(r, 1));
    }
    await until(() => c.queue.length === 0);
    await new Promise((r) => setTimeout(r, 20));
    await c.stop();
    expect(s.maxRunning()).toBe(1);
    expect(s.calls.length).toBeGreaterThan(1);
    expect(s.calls.length).toBeLessThan(20);
  });
});
