import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';

/** Whether the target serves requests, and if not, why (shown by /readyz and kubectl describe). */
export type Readiness = { ready: true } | { ready: false; reason: string };

export interface HttpOptions {
  registry: Registry;
  readiness: () => Readiness;
}

/**
 * The target's HTTP endpoints for Kubernetes and Prometheus: /healthz (the process runs: liveness),
 * /readyz (the role serves: readiness) and /metrics. Built without listening, so tests can `inject()`.
 */
export function buildHttpServer(opts: HttpOptions): FastifyInstance {
  const app = Fastify({ logger: false });
  app.get('/healthz', async () => 'ok\n');
  app.get('/readyz', async (_req, reply) => {
    const r = opts.readiness();
    if (r.ready) return 'ready\n';
    return reply.code(503).send(`not ready: ${r.reason}\n`);
  });
  app.get('/metrics', async (_req, reply) => {
    const body = await opts.registry.metrics();
    return reply.type(opts.registry.contentType).send(body);
  });
  return app;
}

/** Listens; resolves with the bound port (port 0 picks a free one). */
export async function listenHttp(app: FastifyInstance, host: string, port: number): Promise<number> {
  await app.listen({ host, port });
  return (app.server.address() as AddressInfo).port;
}
