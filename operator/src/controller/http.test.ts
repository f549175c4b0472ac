import { Registry } from 'prom-client';
import { expect, it } from 'vitest';
import { buildHttpServer, type Readiness } from './http.ts';
import { OperatorMetrics } from './metrics.ts';

it('answers /healthz, /readyz with the reason and /metrics', async () => {
  const registry = new Registry();
  new OperatorMetrics(registry);
  let readiness: Readiness = { ready: false, reason: 'filling the caches' };
  const app = buildHttpServer(registry, () => readiness);
  expect((await app.inject('/healthz')).statusCode).toBe(200);
  const notReady = await app.inject('/readyz');
  expect([notReady.statusCode, notReady.body]).toEqual([503, 'not ready: filling the caches\n']);
  readiness = { ready: true, detail: 'leading' };
  expect((await app.inject('/readyz')).body).toBe('ready: leading\n');
  expect((await app.inject('/metrics')).body).toContain('kubelustre_operator_leader 0');
  await app.close();
});
