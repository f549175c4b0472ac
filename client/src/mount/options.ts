import { KlError } from '@kubelustre/protocol/errors.ts';

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
   * `pcc=DIR`: the read-only Persistent Client Cache in local directory DIR (docs/pcc.md); `pcc_ro`
   * says read-only explicitly (the only mode). `pcc_revalidate_ms=MS`: how stale a validation of a
   * cached copy may be before a read asks the MDT again (the bound of the coherence guarantee).
   */
  pccDir?: string;
  pccRevalidateMs?: number;
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
  pcc_ro: () => undefined,
  _netdev: () => undefined,
};

function seconds(name: string, value: string): number {
  const s = Number(value);
  if (value === '' || !Number.isFinite(s) || s < 0 || s > TIMEOUT_S_MAX) {
    throw new KlError('EINVAL', `mount option ${name}=${value}: seconds from 0 to ${TIMEOUT_S_MAX}`);
  }
  return Math.round(s * 1000);
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
    else throw new KlError('EINVAL', `unknown mount option "${item}"`);
  }
  return o;
}
