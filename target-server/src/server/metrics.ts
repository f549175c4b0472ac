import { codeOfErrno } from '@kubelustre/protocol/errors.ts';
import type { RequestObserver } from '@kubelustre/protocol/wire/rpc-server.ts';
import { Counter, collectDefaultMetrics, Gauge, Histogram, type Registry } from 'prom-client';
import type { StatfsValue } from './role.ts';

/** Operations whose reply data is file data read, and whose request data is file data written. */
const READ_OPS = new Set(['ost.read', 'mdt.dom_read']);
const WRITE_OPS = new Set(['ost.write', 'mdt.dom_write']);

/** A scrape asks each gauge in turn; they share one statfs this young. */
const STATFS_REUSE_MS = 1000;

/** Where scrape-time gauges come from, once the RPC server and the role exist. */
export interface MetricSources {
  connections(): number;
  statfs(): Promise<StatfsValue>;
}

/**
 * The metrics every target exports, in the target's own registry: RPC counts and latencies (fed by the
 * RPC server's observer), bytes moved, and space, inodes and connections read when scraped.
 */
export class TargetMetrics {
  readonly #requests: Counter<'op' | 'result'>;
  readonly #duration: Histogram<'op'>;
  readonly #readBytes: Counter;
  readonly #writeBytes: Counter;
  #sources: MetricSources | undefined;
  #statfs: { atMs: number; value: Promise<StatfsValue | undefined> } | undefined;

  constructor(registry: Registry) {
    collectDefaultMetrics({ register: registry });
    const registers = [registry];
    this.#requests = new Counter({
      name: 'kubelustre_target_requests_total',
      help: 'RPC requests handled, by operation and result (ok, or the errno name)',
      labelNames: ['op', 'result'],
      registers,
    });
    this.#duration = new Histogram({
      name: 'kubelustre_target_request_duration_seconds',
      help: 'Time to handle one RPC request, by operation',
      labelNames: ['op'],
      buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
      registers,
    });
    this.#readBytes = new Counter({
      name: 'kubelustre_target_read_bytes_total',
      help: 'File data bytes sent to clients (ost.read, mdt.dom_read)',
      registers,
    });
    this.#writeBytes = new Counter({
      name: 'kubelustre_target_write_bytes_total',
      help: 'File data bytes received from clients (ost.write, mdt.dom_write)',
      registers,
    });
    this.#registerGauges(registers);
  }

  /** The RPC server's request observer. */
  readonly observe: RequestObserver = (op, durationMs, errno, bytesIn, bytesOut) => {
    this.#requests.inc({ op, result: errno === 0 ? 'ok' : codeOfErrno(errno) });
    this.#duration.observe({ op }, durationMs / 1000);
    if (errno !== 0) return;
    if (READ_OPS.has(op)) this.#readBytes.inc(bytesOut);
    if (WRITE_OPS.has(op)) this.#writeBytes.inc(bytesIn);
  };

  /** Starts reporting the gauges (until then they read 0). */
  watch(sources: MetricSources): void {
    this.#sources = sources;
  }

  /** One statfs per scrape serves all four gauges; a failed one leaves them at their last values. */
  #scrapeStatfs(): Promise<StatfsValue | undefined> {
    const nowMs = Date.now();
    if (!this.#statfs || nowMs - this.#statfs.atMs > STATFS_REUSE_MS) {
      const value = this.#sources?.statfs().catch(() => undefined) ?? Promise.resolve(undefined);
      this.#statfs = { atMs: nowMs, value };
    }
    return this.#statfs.value;
  }

  #registerGauges(registers: Registry[]): void {
    const space: Array<[string, string, keyof StatfsValue]> = [
      ['kubelustre_target_space_total_bytes', 'Size of the target storage', 'totalBytes'],
      ['kubelustre_target_space_free_bytes', 'Free space on the target storage', 'freeBytes'],
      ['kubelustre_target_inodes_total', 'Inodes (objects) the target storage holds at most', 'files'],
      ['kubelustre_target_inodes_free', 'Inodes (objects) still free on the target storage', 'filesFree'],
    ];
    const metrics = this;
    for (const [name, help, field] of space) {
      new Gauge({
        name,
        help,
        registers,
        async collect() {
          const s = await metrics.#scrapeStatfs();
          if (s) this.set(s[field]);
        },
      });
    }
    new Gauge({
      name: 'kubelustre_target_connections',
      help: 'Authenticated and handshaking RPC connections open now',
      registers,
      collect() {
        this.set(metrics.#sources?.connections() ?? 0);
      },
    });
  }
}
