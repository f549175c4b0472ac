import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';

/** Whether the operator is ready, and if not, why (shown by /readyz). */
export type Readiness = { ready: true; detail: string } | { ready: false; reason: string };

/**
 * /healthz (the process runs), /readyz (caches synced, or standing by for the lease) and /metrics.
 * Built without listening, so tests can `inject()`.
 */
export function buildHttpServer(registry: Registry, readiness: () => Readiness): FastifyInstance {
  const app = Fastify({ logger: false });
  app.get('/healthz', async () => 'ok\n');
  app.get('/readyz', async (_req, reply) => {
    const r = readiness();
    if (r.ready) return `ready: ${r.detail}\n`;
    return reply.code(503).send(`not ready: ${r.reason}\n`);
  });
  app.get('/metrics', async (_req, reply) => reply.type(registry.contentType).send(await registry.metrics()));
  return app;
}

/** Listens; resolves with the bound port (port 0 picks a free one). */
export async function listenHttp(app: FastifyInstance, host: string, port: number): Promise<number> {
  await app.listen({ host, port });
  return (app.server.address() as AddressInfo).port;
}
