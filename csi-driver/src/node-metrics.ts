import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { type MetricsSource, PCC_METRIC_PREFIX } from '@kubelustre/client/mount/metrics-server.ts';
import type { Logger } from '@kubelustre/protocol/log.ts';
import { Counter, collectDefaultMetrics, Registry } from 'prom-client';
import { mergeExpositions } from './metrics-merge.ts';
import type { NodeStateData } from './node-state.ts';

/** The state directory's folder of the mount processes' metrics sockets. */
const SOCKET_DIR = 'metrics';
/** A mount's /metrics that has not answered by then counts as a failed scrape of it. */
export const MOUNT_SCRAPE_TIMEOUT_MS = 2_000;
/** A mount's exposition larger than this is refused (it has a few dozen samples). */
export const MOUNT_SCRAPE_BYTES_MAX = 1 << 20;

/**
 * Where the mount process of filesystem mount `mountKey` serves its metrics (`-o metrics=PATH`): named
 * by a hash of the key, since a unix socket's path must stay within 107 bytes and keys can be long.
 */
export function metricsSocketPath(stateDir: string, mountKey: string): string {
  const name = createHash('sha256').update(mountKey).digest('hex').slice(0, 16);
  return join(stateDir, SOCKET_DIR, `${name}.sock`);
}

export function metricsSocketDir(stateDir: string): string {
  return join(stateDir, SOCKET_DIR);
}

/** A filesystem mount whose mount process serves metrics, and the labels its samples get. */
export interface MountEndpoint {
  /** The mount's key (its directory under `mounts/`): the `mount` label. */
  key: string;
  /** Its PCCClass: the `pcc_class` label. */
  pccClass: string;
  socketPath: string;
}

/**
 * The mounts of `state` with a metrics socket: the one recorded, else where this plugin would have
 * put it (a mount adopted from state written before sockets were recorded); a socket that is not
 * there (a mount started without `metrics=`) is no endpoint.
 */
export function mountEndpoints(state: NodeStateData, stateDir: string): MountEndpoint[] {
  const endpoints: MountEndpoint[] = [];
  for (const [key, fs] of Object.entries(state)) {
    const socketPath = fs.metricsSocket ?? metricsSocketPath(stateDir, key);
    if (existsSync(socketPath)) endpoints.push({ key, pccClass: fs.pccClass ?? '', socketPath });
  }
  return endpoints;
}

/** `GET /metrics` over the unix socket at `socketPath`: the body of a 200 answer, within the bounds. */
export function scrapeUnixSocket(
  socketPath: string,
  timeoutMs = MOUNT_SCRAPE_TIMEOUT_MS,
  bytesMax = MOUNT_SCRAPE_BYTES_MAX,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path: '/metrics', agent: false }, (res) => {
      if (res.statusCode !== 200) {
        fail(new Error(`answered HTTP ${res.statusCode}`));
        return;
      }
      const chunks: Buffer[] = [];
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes > bytesMax) fail(new Error(`answered more than ${bytesMax} bytes`));
        else chunks.push(chunk);
      });
      res.on('end', () => {
        clearTimeout(timer);
        resolve(Buffer.concat(chunks).toString('utf8'));
      });
      res.on('error', fail);
    });
    const timer = setTimeout(() => fail(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    function fail(e: Error) {
      clearTimeout(timer);
      req.destroy();
      reject(e);
    }
    req.on('error', fail);
    req.end();
  });
}

export interface NodeMetricsOptions {
  /** The mounts to scrape now (read at every scrape). */
  endpoints: () => MountEndpoint[];
  log: Logger;
  scrapeTimeoutMs?: number;
}

/**
 * The node plugin's /metrics: its own process metrics and scrape-error counter, then the
 * `kubelustre_pcc_*` samples of every mount process, fetched at each scrape over their unix sockets
 * (in parallel, each bounded) and labelled with the mount's key and PCCClass. A mount that fails is
 * left out of that scrape and counted.
 */
export class NodeMetrics implements MetricsSource {
  readonly #registry = new Registry();
  readonly #options: NodeMetricsOptions;
  readonly #scrapeErrors: Counter;

  constructor(options: NodeMetricsOptions) {
    this.#options = options;
    collectDefaultMetrics({ register: this.#registry });
    this.#scrapeErrors = new Counter({
      name: 'kubelustre_csi_metrics_scrape_errors_total',
      help: "Scrapes of a mount process's /metrics socket that failed (refused, timed out, bad answer)",
      registers: [this.#registry],
    });
  }

  get contentType(): string {
    return this.#registry.contentType;
  }

  async metrics(): Promise<string> {
    const endpoints = this.#options.endpoints();
    const timeoutMs = this.#options.scrapeTimeoutMs ?? MOUNT_SCRAPE_TIMEOUT_MS;
    const results = await Promise.allSettled(endpoints.map((e) => scrapeUnixSocket(e.socketPath, timeoutMs)));
    const scraped: Array<{ text: string; labels: Array<[string, string]> }> = [];
    results.forEach((r, i) => {
      const e = endpoints[i]!;
      if (r.status === 'fulfilled') {
        scraped.push({
          text: r.value,
          labels: [
            ['mount', e.key],
            ['pcc_class', e.pccClass],
          ],
        });
        return;
      }
      this.#scrapeErrors.inc();
      this.#options.log.warn(
        { mount: e.key, socketPath: e.socketPath, err: (r.reason as Error).message },
        "Skipped a mount's metrics: its socket did not answer",
      );
    });
    return (await this.#registry.metrics()) + mergeExpositions(scraped, PCC_METRIC_PREFIX);
  }
}
