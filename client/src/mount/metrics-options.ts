import { isIP } from 'node:net';
import { KlError } from '@kubelustre/protocol/errors.ts';

/** The mount option that turns on the mount process's Prometheus endpoint: `-o metrics=HOST:PORT|/PATH`. */
export const METRICS_OPTION = 'metrics';

/** Where the mount process serves /metrics over TCP. */
export interface TcpMetricsAddress {
  host: string;
  /** 0: any free port (logged once bound). */
  port: number;
}

/** Where the mount process serves /metrics on a unix socket (what the CSI node plugin scrapes). */
export interface UnixMetricsAddress {
  /** Absolute path of the socket; a stale socket there is replaced. */
  socketPath: string;
}

export type MetricsAddress = TcpMetricsAddress | UnixMetricsAddress;

/** sun_path holds 108 bytes on Linux, its terminating NUL included. */
export const SOCKET_PATH_BYTES_MAX = 107;

export function isUnixAddress(a: MetricsAddress): a is UnixMetricsAddress {
  return 'socketPath' in a;
}

/** How an address reads in logs: `HOST:PORT` or `unix:PATH`. */
export function formatMetricsAddress(a: MetricsAddress): string {
  if (isUnixAddress(a)) return `unix:${a.socketPath}`;
  return `${isIP(a.host) === 6 ? `[${a.host}]` : a.host}:${a.port}`;
}

/**
 * `metrics=HOST:PORT`: HOST an IPv4 address, a bracketed IPv6 address or a host name; PORT 0..65535.
 * Bind to 127.0.0.1 unless something off the node must scrape: the endpoint has no authentication.
 * `metrics=/ABSOLUTE/PATH`: a unix socket (at most 107 bytes, no `..` component), which only processes
 * allowed into its directory can reach.
 */
export function parseMetricsAddress(value: string): MetricsAddress {
  if (value.startsWith('/')) return { socketPath: socketPath(value) };
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]\s]+):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[2]) : Number.NaN;
  const host = m?.[1]?.replace(/^\[(.*)\]$/, '$1') ?? '';
  const bracketed = m?.[1]?.startsWith('[') ?? false;
  if (!m || port > 65535 || (bracketed && isIP(host) !== 6)) {
    throw new KlError(
      'EINVAL',
      `mount option ${METRICS_OPTION}=${value}: HOST:PORT or /ABSOLUTE/PATH.sock, e.g. 127.0.0.1:9800`,
    );
  }
  return { host, port };
}

function socketPath(value: string): string {
  const parts = value.split('/');
  const why =
    Buffer.byteLength(value) > SOCKET_PATH_BYTES_MAX
      ? `longer than ${SOCKET_PATH_BYTES_MAX} bytes (a unix socket path)`
      : value.endsWith('/') || value.includes('\0') || parts.includes('..') || parts.includes('.')
        ? 'not a plain absolute file path'
        : undefined;
  if (why) throw new KlError('EINVAL', `mount option ${METRICS_OPTION}=${value}: ${why}`);
  return value;
}
