import { isIP } from 'node:net';
import { KlError } from '@kubelustre/protocol/errors.ts';

/** The mount option that turns on the mount process's Prometheus endpoint: `-o metrics=HOST:PORT`. */
export const METRICS_OPTION = 'metrics';

/** Where the mount process serves /metrics. */
export interface MetricsAddress {
  host: string;
  /** 0: any free port (logged once bound). */
  port: number;
}

/**
 * `metrics=HOST:PORT`: HOST an IPv4 address, a bracketed IPv6 address or a host name; PORT 0..65535.
 * Bind to 127.0.0.1 unless something off the node must scrape: the endpoint has no authentication.
 */
export function parseMetricsAddress(value: string): MetricsAddress {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]\s]+):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[2]) : Number.NaN;
  const host = m?.[1]?.replace(/^\[(.*)\]$/, '$1') ?? '';
  const bracketed = m?.[1]?.startsWith('[') ?? false;
  if (!m || port > 65535 || (bracketed && isIP(host) !== 6)) {
    throw new KlError('EINVAL', `mount option ${METRICS_OPTION}=${value}: HOST:PORT, e.g. 127.0.0.1:9800`);
  }
  return { host, port };
}
