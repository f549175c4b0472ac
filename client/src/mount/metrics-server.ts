import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '@kubelustre/protocol/log.ts';
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { PccCounters } from '../pcc/pcc-state.ts';
import type { MetricsAddress } from './metrics-options.ts';

/** The mount's PCC counters now; undefined when the mount has no PCC. */
export type PccCountersSource = () => PccCounters | undefined;

/** Cumulative PCC counters as Prometheus counters: name suffix, counter field, help. */
const PCC_COUNTERS: ReadonlyArray<[string, keyof PccCounters, string]> = [
  ['hits_total', 'hits', 'Reads served from a PCC copy'],
  ['misses_total', 'misses', 'Read-only opens of files not attached, and reads that found the copy stale'],
  ['bytes_from_cache_total', 'bytesFromCache', 'Bytes read from PCC copies'],
  ['attaches_total', 'attaches', 'Files attached to the PCC (copied into the cache)'],
  ['detaches_total', 'detaches', 'Files detached from the PCC (by request, revocation or eviction)'],
  ['evictions_total', 'evictions', 'Read-only copies dropped by LRU eviction (watermarks)'],
  ['writebacks_total', 'writebacks', 'Write-backs of read-write copies to the OSTs'],
];

/**
 * The mount process's registry (one per process): the PCC counters, read from `counters` at each
 * scrape, and Node's default process metrics. Without PCC the counters read 0 and
 * kubelustre_pcc_enabled 0.
 */
export function mountRegistry(counters: PccCountersSource): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  for (const [suffix, field, help] of PCC_COUNTERS) {
    new Counter({
      name: `kubelustre_pcc_${suffix}`,
      help,
      registers,
      collect() {
        this.reset();
        this.inc(Math.max(0, counters()?.[field] ?? 0));
      },
    });
  }
  new Gauge({
    name: 'kubelustre_pcc_cache_bytes',
    help: 'Bytes held in PCC copies on the local cache now',
    registers,
    collect() {
      this.set(counters()?.cacheBytesUsed ?? 0);
    },
  });
  new Gauge({
    name: 'kubelustre_pcc_enabled',
    help: '1 when the mount runs with a Persistent Client Cache (-o pcc=DIR), else 0',
    registers,
    collect() {
      this.set(counters() === undefined ? 0 : 1);
    },
  });
  return registry;
}

export interface MetricsServer extends AsyncDisposable {
  /** The port bound (the one asked, or the one the kernel chose for 0). */
  readonly port: number;
  close(): Promise<void>;
}

/** Serves `GET /metrics` (Prometheus text format) from `registry` on `address`; anything else is 404. */
export async function startMetricsServer(
  address: MetricsAddress,
  registry: Registry,
  log: Logger,
): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (e: unknown) => {
        log.error({ err: (e as Error).message }, 'Failed to collect metrics');
        res.writeHead(500, { 'content-type': 'text/plain' }).end('collection failed\n');
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // The mount process must exit when unmounted: an idle metrics listener does not hold it up.
  server.unref();
  const port = (server.address() as AddressInfo).port;
  log.info({ host: address.host, port }, `Opened /metrics on ${address.host}:${port}`);
  const close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return { port, close, [Symbol.asyncDispose]: close };
}

/**
 * The mount process's /metrics on `address` with its PCC counters: what mount-main starts after the
 * mount is up. A failure to listen (the port taken) is logged and the mount serves on without metrics.
 */
export async function serveMountMetrics(
  address: MetricsAddress,
  counters: PccCountersSource,
  log: Logger,
): Promise<MetricsServer | undefined> {
  try {
    return await startMetricsServer(address, mountRegistry(counters), log);
  } catch (e) {
    log.error(
      { host: address.host, port: address.port, err: (e as Error).message },
      'Could not open /metrics; the mount runs without it',
    );
    return undefined;
  }
}
