import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KlError } from '@kubelustre/protocol/errors.ts';
import { silentLogger } from '@kubelustre/protocol/log.ts';
import { afterAll, describe, expect, it } from 'vitest';
import { newPccCounters, type PccCounters } from '../pcc/pcc-state.ts';
import { parseMetricsAddress } from './metrics-options.ts';
import { mountRegistry, serveMountMetrics, startMetricsServer } from './metrics-server.ts';

/** GET `path` over the unix socket `socketPath`: status and body. */
function getUnix(socketPath: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject).end();
  });
}

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
    for (const bad of ['9800', '127.0.0.1', '127.0.0.1:70000', '[zz]:1', ':80', '::1:80', 'run/m.sock']) {
      expect(() => parseMetricsAddress(bad)).toThrow(KlError);
    }
  });

  it('parses metrics=/ABSOLUTE/PATH as a unix socket, within the length a socket path may have', () => {
    expect(parseMetricsAddress('/run/kl/m.sock')).toEqual({ socketPath: '/run/kl/m.sock' });
    expect(parseMetricsAddress(`/${'a'.repeat(106)}`)).toEqual({ socketPath: `/${'a'.repeat(106)}` });
    for (const bad of [`/${'a'.repeat(107)}`, '/run/kl/', '/run/../m.sock', '/run/./m.sock']) {
      expect(() => parseMetricsAddress(bad), bad).toThrow(KlError);
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
    counters = {
      ...counters,
      detaches: 1,
      evictions: 4,
      cacheBytesUsed: 12345,
      writebacks: 5,
      passthroughOpens: 6,
    };
    const after = await scrape();
    const names = ['hits', 'misses', 'bytes_from_cache', 'attaches', 'detaches', 'evictions', 'writebacks'];
    expect(names.map((n) => sample(after, `kubelustre_pcc_${n}_total`))).toEqual([7, 2, 1 << 20, 3, 1, 4, 5]);
    expect(sample(after, 'kubelustre_pcc_passthrough_opens_total')).toBe(6);
    expect(sample(after, 'kubelustre_pcc_cache_bytes')).toBe(12345);
    expect(sample(after, 'kubelustre_pcc_enabled')).toBe(1);
    expect((await fetch(`http://127.0.0.1:${server.port}/other`)).status).toBe(404);
  });

  describe('on a unix socket', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kl-metrics-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('serves there, owner-only, replaces a stale socket and removes its own on close', async () => {
      const socketPath = join(dir, 'stale.sock');
      // A socket file whose server is gone, as a mount process killed by SIGKILL leaves it.
      const script = `require('node:net').createServer().listen(${JSON.stringify(socketPath)}, () => process.kill(process.pid, 'SIGKILL'))`;
      expect(spawnSync(process.execPath, ['-e', script]).signal).toBe('SIGKILL');
      expect(statSync(socketPath).isSocket()).toBe(true);
      let counters: PccCounters | undefined = { ...newPccCounters(), attaches: 2 };
      const server = await startMetricsServer(
        { socketPath },
        mountRegistry(() => counters),
        silentLogger,
      );
      expect(server.port).toBeUndefined();
      expect(statSync(socketPath).mode & 0o777).toBe(0o600);
      const res = await getUnix(socketPath, '/metrics');
      expect(res.status).toBe(200);
      expect(sample(res.body, 'kubelustre_pcc_attaches_total')).toBe(2);
      counters = undefined;
      expect(sample((await getUnix(socketPath, '/metrics')).body, 'kubelustre_pcc_enabled')).toBe(0);
      expect((await getUnix(socketPath, '/x')).status).toBe(404);
      await server.close();
      expect(() => statSync(socketPath)).toThrow(/ENOENT/);
    });

    it('refuses a path that holds something other than a socket, and the mount goes on without metrics', async () => {
      const socketPath = join(dir, 'file.sock');
      writeFileSync(socketPath, 'keep me');
      await expect(
        startMetricsServer(
          { socketPath },
          mountRegistry(() => undefined),
          silentLogger,
        ),
      ).rejects.toMatchObject({ code: 'EEXIST' });
      expect(await serveMountMetrics({ socketPath }, () => undefined, silentLogger)).toBeUndefined();
      expect(statSync(socketPath).isFile()).toBe(true);
    });
  });

  it('logs and goes on without metrics when the port is taken', async () => {
    await using first = await startMetricsServer(
      { host: '127.0.0.1', port: 0 },
      mountRegistry(() => undefined),
      silentLogger,
    );
    const second = await serveMountMetrics(
      { host: '127.0.0.1', port: first.port! },
      () => undefined,
      silentLogger,
    );
    expect(second).toBeUndefined();
  });
});
