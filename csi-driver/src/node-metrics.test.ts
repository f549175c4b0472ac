import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mountRegistry, startMetricsServer } from '@kubelustre/client/mount/metrics-server.ts';
import { newPccCounters } from '@kubelustre/client/pcc/pcc-state.ts';
import { silentLogger } from '@kubelustre/protocol/log.ts';
import { afterAll, describe, expect, it } from 'vitest';
import { parseExposition } from './metrics-merge.ts';
import { type MountEndpoint, metricsSocketPath, mountEndpoints, NodeMetrics } from './node-metrics.ts';
import type { NodeStateData } from './node-state.ts';

const dir = mkdtempSync(join(tmpdir(), 'kl-csi-metrics-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The value of the sample `name{labels}` exactly as written, e.g. `{mount="a",pcc_class="fast"}`. */
function value(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}

/** A socket file whose server was killed, as a mount process killed by SIGKILL leaves it. */
function staleSocket(path: string): void {
  const script = `require('node:net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`;
  expect(spawnSync(process.execPath, ['-e', script]).signal).toBe('SIGKILL');
}

describe('node plugin metrics', () => {
  it('finds the mounts with a socket: recorded, or where the plugin puts it', () => {
    const stateDir = join(dir, 'state');
    mkdirSync(join(stateDir, 'metrics'), { recursive: true });
    const recorded = join(dir, 'recorded.sock');
    staleSocket(recorded);
    staleSocket(metricsSocketPath(stateDir, 'fs-b-pcc-slow'));
    const fs = { spec: 's', mountpoint: '/m', volumes: { v: '/st' } };
    const state: NodeStateData = {
      'fs-a-pcc-fast': { ...fs, pccClass: 'fast', metricsSocket: recorded },
      // Adopted from an older state file: no socket recorded, but one is where we would put it.
      'fs-b-pcc-slow': { ...fs, pccClass: 'slow' },
      // A plain mount (no metrics=) and a PCC mount whose socket is gone.
      'fs-c': fs,
      'fs-d-pcc-fast': { ...fs, pccClass: 'fast', metricsSocket: join(dir, 'gone.sock') },
    };
    expect(mountEndpoints(state, stateDir)).toEqual([
      { key: 'fs-a-pcc-fast', pccClass: 'fast', socketPath: recorded },
      { key: 'fs-b-pcc-slow', pccClass: 'slow', socketPath: metricsSocketPath(stateDir, 'fs-b-pcc-slow') },
    ]);
  });

  it("re-exposes live mounts' PCC samples by mount and class, skipping and counting the ones that fail", async () => {
    const sockets = { a: join(dir, 'a.sock'), b: join(dir, 'b.sock'), dead: join(dir, 'dead.sock') };
    await using _a = await startMetricsServer(
      { socketPath: sockets.a },
      mountRegistry(() => ({ ...newPccCounters(), attaches: 3, hits: 10, cacheBytesUsed: 512 })),
      silentLogger,
    );
    await using _b = await startMetricsServer(
      { socketPath: sockets.b },
      mountRegistry(() => ({ ...newPccCounters(), attaches: 1 })),
      silentLogger,
    );
    staleSocket(sockets.dead);
    // A mount process that accepts the connection and never answers (hung FUSE server, say).
    const hung = createServer(() => undefined);
    const hungPath = join(dir, 'hung.sock');
    await new Promise<void>((resolve) => hung.listen(hungPath, resolve));
    let endpoints: MountEndpoint[] = [
      { key: 'fs-1-pcc-fast', pccClass: 'fast', socketPath: sockets.a },
      { key: 'fs-2-pcc-slow', pccClass: 'slow', socketPath: sockets.b },
      { key: 'fs-3-pcc-fast', pccClass: 'fast', socketPath: sockets.dead },
      { key: 'fs-4-pcc-fast', pccClass: 'fast', socketPath: hungPath },
    ];
    const metrics = new NodeMetrics({ endpoints: () => endpoints, log: silentLogger, scrapeTimeoutMs: 300 });
    const started = Date.now();
    const text = await metrics.metrics();
    expect(Date.now() - started).toBeLessThan(2_000);
    const a = '{mount="fs-1-pcc-fast",pcc_class="fast"}';
    const b = '{mount="fs-2-pcc-slow",pcc_class="slow"}';
    expect(value(text, 'kubelustre_pcc_attaches_total', a)).toBe(3);
    expect(value(text, 'kubelustre_pcc_attaches_total', b)).toBe(1);
    expect(value(text, 'kubelustre_pcc_hits_total', a)).toBe(10);
    expect(value(text, 'kubelustre_pcc_cache_bytes', a)).toBe(512);
    expect(value(text, 'kubelustre_pcc_enabled', b)).toBe(1);
    expect(text).not.toContain('fs-3-pcc-fast');
    expect(text).not.toContain('fs-4-pcc-fast');
    expect(value(text, 'kubelustre_csi_metrics_scrape_errors_total')).toBe(2);
    // The plugin's own process metrics, and the mounts' are not repeated (one family each).
    expect(text).toContain('process_cpu_seconds_total');
    const names = parseExposition(text).map((f) => f.name);
    expect(names.length).toBe(new Set(names).size);
    expect(text.match(/^# TYPE kubelustre_pcc_attaches_total counter$/gm)).toHaveLength(1);
    expect(text.match(/^# TYPE process_cpu_seconds_total /gm)).toHaveLength(1);
    // Counted again on the next scrape; with no mounts, only the plugin's own metrics.
    endpoints = endpoints.slice(2, 3);
    expect(value(await metrics.metrics(), 'kubelustre_csi_metrics_scrape_errors_total')).toBe(3);
    endpoints = [];
    const alone = await metrics.metrics();
    expect(alone).not.toContain('kubelustre_pcc_');
    expect(value(alone, 'kubelustre_csi_metrics_scrape_errors_total')).toBe(3);
    hung.close();
  });
});
