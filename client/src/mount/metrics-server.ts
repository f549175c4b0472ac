import { chmod, lstat, unlink } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KlError } from '@kubelustre/protocol/errors.ts';
import type { Logger } from '@kubelustre/protocol/log.ts';
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { PccCounters } from '../pcc/pcc-state.ts';
import { formatMetricsAddress, isUnixAddress, type MetricsAddress } from './metrics-options.ts';

/** The mount's PCC counters now; undefined when the mount has no PCC. */
export type PccCountersSource = () => PccCounters | undefined;

/** The prefix of every PCC metric: what the CSI node plugin re-exposes from its mounts. */
export const PCC_METRIC_PREFIX = 'kubelustre_pcc_';

/** Cumulative PCC counters as Prometheus counters: name, counter field, help. */
const PCC_COUNTERS: ReadonlyArray<[string, keyof PccCounters, string]> = [
  ['kubelustre_pcc_hits_total', 'hits', 'Reads served from a PCC copy'],
  [
    'kubelustre_pcc_misses_total',
    'misses',
    'Read-only opens of files not attached, and reads that found the copy stale',
  ],
  ['kubelustre_pcc_bytes_from_cache_total', 'bytesFromCache', 'Bytes read from PCC copies'],
  ['kubelustre_pcc_attaches_total', 'attaches', 'Files attached to the PCC (copied into the cache)'],
  [
    'kubelustre_pcc_detaches_total',
    'detaches',
    'Files detached from the PCC (by request, revocation or eviction)',
  ],
  ['kubelustre_pcc_evictions_total', 'evictions', 'Read-only copies dropped by LRU eviction (watermarks)'],
  ['kubelustre_pcc_writebacks_total', 'writebacks', 'Write-backs of read-write copies to the OSTs'],
  [
    'kubelustre_pcc_passthrough_opens_total',
    'passthroughOpens',
    'Opens whose reads the kernel serves from a PCC copy by FUSE passthrough (not counted in hits)',
  ],
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
  for (const [name, field, help] of PCC_COUNTERS) {
    new Counter({
      name,
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
  /** The TCP port bound (the one asked, or the one the kernel chose for 0); undefined on a unix socket. */
  readonly port: number | undefined;
  close(): Promise<void>;
}

/** What /metrics answers: a prom-client Registry, or anything that renders the text format likewise. */
export interface MetricsSource {
  metrics(): Promise<string>;
  readonly contentType: string;
}

/**
 * Serves `GET /metrics` (Prometheus text format) from `source` on `address`; anything else is 404. A
 * unix socket replaces a stale socket at its path (left by a process that was killed), is made
 * readable and writable by its owner only, and is removed on close.
 */
export async function startMetricsServer(
  address: MetricsAddress,
  source: MetricsSource,
  log: Logger,
): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    source.metrics().then(
      (text) => res.writeHead(200, { 'content-type': source.contentType }).end(text),
      (e: unknown) => {
        log.error({ err: (e as Error).message }, 'Failed to collect metrics');
        res.writeHead(500, { 'content-type': 'text/plain' }).end('collection failed\n');
      },
    );
  });
  if (isUnixAddress(address)) await removeStaleSocket(address.socketPath, log);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const listening = () => {
      server.off('error', reject);
      resolve();
    };
    if (isUnixAddress(address)) server.listen(address.socketPath, listening);
    else server.listen(address.port, address.host, listening);
  });
  // The mount process must exit when unmounted: an idle metrics listener does not hold it up.
  server.unref();
  const close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  let port: number | undefined;
  if (isUnixAddress(address)) {
    await chmod(address.socketPath, 0o600).catch(async (e: unknown) => {
      await close();
      throw e;
    });
  } else port = (server.address() as AddressInfo).port;
  const bound = isUnixAddress(address) ? address : { host: address.host, port: port! };
  log.info({ address: formatMetricsAddress(bound) }, `Opened /metrics on ${formatMetricsAddress(bound)}`);
  return { port, close, [Symbol.asyncDispose]: close };
}

/** A socket left at `path` by a killed process would fail the bind (EADDRINUSE); anything else is kept. */
async function removeStaleSocket(path: string, log: Logger): Promise<void> {
  const st = await lstat(path).catch((e: NodeJS.ErrnoException) =>
    e.code === 'ENOENT' ? undefined : Promise.reject(e),
  );
  if (!st) return;
  if (!st.isSocket()) throw new KlError('EEXIST', `${path} exists and is not a socket`);
  await unlink(path);
  log.info({ path }, 'Removed stale metrics socket');
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
      { address: formatMetricsAddress(address), err: (e as Error).message },
      'Could not open /metrics; the mount runs without it',
    );
    return undefined;
  }
}
