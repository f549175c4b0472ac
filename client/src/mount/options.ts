import { KlError } from '@kubelustre/protocol/errors.ts';
import { METRICS_OPTION, type MetricsAddress, parseMetricsAddress } from './metrics-options.ts';

/** What `kubelustre mount -o a,b=c` can say, as mount(8)'s option string. */
export interface ParsedMountOptions {
  /** `ro`: mounted with MS_RDONLY; the kernel answers EROFS to every change before it reaches us. */
  readOnly: boolean;
  suid: boolean;
  dev: boolean;
  /** `entry_timeout=S`/`attr_timeout=S` in seconds, as libfuse spells them; kept in ms. */
  entryTimeoutMs?: number;
  attrTimeoutMs?: number;
  /**
   * `pcc=DIR`: the Persistent Client Cache in local directory DIR (docs/pcc.md); an unusable DIR is
   * logged and the mount runs without. `pcc_revalidate_ms=MS`: how stale a validation of a read-only
   * copy may be before a read asks the MDT again (the bound of the coherence guarantee).
   */
  pccDir?: string;
  pccRevalidateMs?: number;
  /** `pcc_passthrough` (default) / `nopcc_passthrough`: FUSE passthrough for reads of read-only copies. */
  pccPassthrough?: boolean;
  /** `pcc_rw`: rules without rwid/roid attach read-write (`pcc_ro`, the default: read-only). */
  pccReadWrite?: boolean;
  /**
   * `pcc_rule=RULE` (repeatable; Lustre's `lctl pcc add` rule syntax with '|' for ',') and
   * `pcc_rules_file=PATH` (a rule per line): auto-attach rules, parsed at mount (pcc-rules.ts); one
   * that does not parse makes the mount run without PCC.
   */
  pccRules?: string[];
  pccRulesFile?: string;
  /** `pcc_size=BYTES`: what 100% of the cache is for the watermarks (default: its filesystem's size). */
  pccSizeBytes?: number;
  /** `pcc_hwm=PCT`, `pcc_lwm=PCT`: LRU eviction starts above the first, stops at the second. */
  pccHighWatermarkPercent?: number;
  pccLowWatermarkPercent?: number;
  /** `metrics=HOST:PORT`: the mount process serves Prometheus /metrics there (metrics-server.ts). */
  metrics?: MetricsAddress;
}

/** The most `pcc_revalidate_ms` may be. */
const PCC_REVALIDATE_MS_MAX = 60_000;

/** The most a cache timeout may be: beyond it another mount's changes would stay unseen too long. */
const TIMEOUT_S_MAX = 3600;

const flags: Record<string, (o: ParsedMountOptions) => void> = {
  ro: (o) => (o.readOnly = true),
  rw: (o) => (o.readOnly = false),
  suid: (o) => (o.suid = true),
  nosuid: (o) => (o.suid = false),
  dev: (o) => (o.dev = true),
  nodev: (o) => (o.dev = false),
  // Accepted as mount(8) passes them by default; they change nothing here.
  defaults: () => undefined,
  pcc_ro: (o) => (o.pccReadWrite = false),
  pcc_rw: (o) => (o.pccReadWrite = true),
  pcc_passthrough: (o) => (o.pccPassthrough = true),
  nopcc_passthrough: (o) => (o.pccPassthrough = false),
  _netdev: () => undefined,
};

function seconds(name: string, value: string): number {
  const s = Number(value);
  if (value === '' || !Number.isFinite(s) || s < 0 || s > TIMEOUT_S_MAX) {
    throw new KlError('EINVAL', `mount option ${name}=${value}: seconds from 0 to ${TIMEOUT_S_MAX}`);
  }
  return Math.round(s * 1000);
}

function integer(name: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max) {
    throw new KlError('EINVAL', `mount option ${name}=${value}: an integer from ${min} to ${max}`);
  }
  return n;
}

function revalidateMs(value: string): number {
  const ms = Number(value);
  if (value === '' || !Number.isInteger(ms) || ms < 0 || ms > PCC_REVALIDATE_MS_MAX) {
    throw new KlError('EINVAL', `mount option pcc_revalidate_ms=${value}: 0 to ${PCC_REVALIDATE_MS_MAX}`);
  }
  return ms;
}

/** Parses `-o` (later options win, as mount(8)); an unknown option is EINVAL rather than ignored. */
export function parseMountOptions(text: string | undefined): ParsedMountOptions {
  const o: ParsedMountOptions = { readOnly: false, suid: false, dev: false };
  for (const item of (text ?? '').split(',').filter(Boolean)) {
    const eq = item.indexOf('=');
    const [name, value] = eq < 0 ? [item, undefined] : [item.slice(0, eq), item.slice(eq + 1)];
    if (value === undefined && flags[name]) flags[name](o);
    else if (value !== undefined && name === 'entry_timeout') o.entryTimeoutMs = seconds(name, value);
    else if (value !== undefined && name === 'attr_timeout') o.attrTimeoutMs = seconds(name, value);
    else if (value !== undefined && name === 'pcc' && value.startsWith('/')) o.pccDir = value;
    else if (value !== undefined && name === 'pcc_revalidate_ms') o.pccRevalidateMs = revalidateMs(value);
    else if (value !== undefined && name === METRICS_OPTION) o.metrics = parseMetricsAddress(value);
    else if (value === undefined || !pccOption(o, name, value))
      throw new KlError('EINVAL', `unknown mount option "${item}"`);
  }
  return o;
}

/** The PCC options taking a value (besides pcc= and pcc_revalidate_ms=); false: not one of them. */
function pccOption(o: ParsedMountOptions, name: string, value: string): boolean {
  if (name === 'pcc_rule' && value.trim() !== '') o.pccRules = [...(o.pccRules ?? []), value];
  else if (name === 'pcc_rules_file' && value.startsWith('/')) o.pccRulesFile = value;
  else if (name === 'pcc_size') o.pccSizeBytes = integer(name, value, 1, Number.MAX_SAFE_INTEGER);
  else if (name === 'pcc_hwm') o.pccHighWatermarkPercent = integer(name, value, 1, 100);
  else if (name === 'pcc_lwm') o.pccLowWatermarkPercent = integer(name, value, 0, 99);
  else return false;
  return true;
}
