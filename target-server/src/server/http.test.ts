import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { buildHttpServer, type Readiness } from './http.ts';
import { TargetMetrics } from './metrics.ts';

const space = { totalBytes: 1000, freeBytes: 600, availBytes: 500, files: 100, filesFree: 90 };

function build(readiness: () => Readiness) {
  const registry = new Registry();
  const metrics = new TargetMetrics(registry);
  return { app: buildHttpServer({ registry, readiness }), metrics };
}

describe('target HTTP endpoints', () => {
  it('answers /healthz whatever the readiness', async () => {
    const { app } = build(() => ({ ready: false, reason: 'registering with the MGS' }));
    expect((await app.inject('/healthz')).statusCode).toBe(200);
  });

  it('answers /readyz 503 with the reason, then 200', async () => {
    let ready: Readiness = { ready: false, reason: 'registering with the MGS at mgs:988' };
    const { app } = build(() => ready);
    const before = await app.inject('/readyz');
    expect(before.statusCode).toBe(503);
    expect(before.body).toBe('not ready: registering with the MGS at mgs:988\n');
    ready = { ready: true };
    expect((await app.inject('/readyz')).statusCode).toBe(200);
  });

  it('exports request, byte, space and connection metrics', async () => {
    const { app, metrics } = build(() => ({ ready: true }));
    metrics.observe('ost.write', 2, 0, 4096, 0);
    metrics.observe('ost.read', 1, 0, 0, 1000);
    metrics.observe('mdt.dom_read', 1, 0, 0, 24);
    metrics.observe('ost.read', 1, 28, 0, 0); // ENOSPC
    metrics.watch({ connections: () => 3, statfs: async () => space });
    const res = await app.inject('/metrics');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/plain');
    const body = res.body;
    expect(body).toContain('kubelustre_target_requests_total{op="ost.write",result="ok"} 1');
    expect(body).toContain('kubelustre_target_requests_total{op="ost.read",result="ENOSPC"} 1');
    expect(body).toContain('kubelustre_target_request_duration_seconds_count{op="ost.read"} 2');
    expect(body).toContain('kubelustre_target_read_bytes_total 1024');
    expect(body).toContain('kubelustre_target_write_bytes_total 4096');
    expect(body).toContain('kubelustre_target_space_total_bytes 1000');
    expect(body).toContain('kubelustre_target_space_free_bytes 600');
    expect(body).toContain('kubelustre_target_inodes_total 100');
    expect(body).toContain('kubelustre_target_inodes_free 90');
    expect(body).toContain('kubelustre_target_connections 3');
    expect(body).toContain('process_cpu_user_seconds_total');
  });

  it('still answers /metrics when statfs fails', async () => {
    const { app, metrics } = build(() => ({ ready: true }));
    metrics.watch({ connections: () => 0, statfs: () => Promise.reject(new Error('EIO')) });
    const res = await app.inject('/metrics');
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('kubelustre_target_space_total_bytes 0');
  });
});
