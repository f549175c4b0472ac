import { KlError } from '@kubelustre/protocol/errors.ts';
import { silentLogger } from '@kubelustre/protocol/log.ts';
import { describe, expect, it } from 'vitest';
import { newPccCounters, type PccCounters } from '../pcc/pcc-state.ts';
import { parseMetricsAddress } from './metrics-options.ts';
import { mountRegistry, serveMountMetrics, startMetricsServer } from './metrics-server.ts';

/** The value of an unlabelled sample in Prometheus text. */
function sample(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}

describe('mount metrics', () => {
  it('parses metrics=HOST:PORT', () => {
    expect(parseMetricsAddress('127.0.0.1:9800')).toEqual({ host: '127.0.0.1', port: 9800 });
    expect(parseMetricsAddress('[::1]:0')).toEqual({ host: '::1', port: 0 });
    expect(parseMetricsAddress('node-a:80')).toEqual({ host: 'node-a', port: 80 });
    for (const bad of ['9800', '127.0.0.1', '127.0.0.1:70000', '[zz]:1', ':80', '::1:80']) {
      expect(() => parseMetricsAddress(bad)).toThrow(KlError);
    }
  });

  it('serves the PCC counters to a real HTTP scrape, read at scrape time', async () => {
    let counters: PccCounters | undefined;
    await using server = await startMetricsServer(
      { host: '127.0.0.1', port: 0 },
      mountRegistry(() => counters),
      silentLogger,
    );
    const scrape = async () => {
      const res = await fetch(`http://127.0.0.1:${server.port}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
      return res.text();
    };
    const before = await scrape();
    expect([sample(before, 'kubelustre_pcc_enabled'), sample(before, 'kubelustre_pcc_hits_total')]).toEqual([
      0, 0,
    ]);
    expect(before).toContain('# TYPE kubelustre_pcc_hits_total counter');
    expect(before).toContain('# TYPE kubelustre_pcc_cache_bytes gauge');
    expect(before).toContain('process_cpu_seconds_total');
    counters = { ...newPccCounters(), hits: 7, misses: 2, bytesFromCache: 1 << 20, attaches: 3 };
    counters = { ...counters, detaches: 1, evictions: 4, cacheBytesUsed: 12345, writebacks: 5 };
    const after = await scrape();
    const names = ['hits', 'misses', 'bytes_from_cache', 'attaches', 'detaches', 'evictions', 'writebacks'];
    expect(names.map((n) => sample(after, `kubelustre_pcc_${n}_total`))).toEqual([7, 2, 1 << 20, 3, 1, 4, 5]);
    expect(sample(after, 'kubelustre_pcc_cache_bytes')).toBe(12345);
    expect(sample(after, 'kubelustre_pcc_enabled')).toBe(1);
    expect((await fetch(`http://127.0.0.1:${server.port}/other`)).status).toBe(404);
  });

  it('logs and goes on without metrics when the port is taken', async () => {
    await using first = await startMetricsServer(
      { host: '127.0.0.1', port: 0 },
      mountRegistry(() => undefined),
      silentLogger,
    );
    const second = await serveMountMetrics(
      { host: '127.0.0.1', port: first.port },
      () => undefined,
      silentLogger,
    );
    expect(second).toBeUndefined();
  });
});
