import { parseArgs } from 'node:util';
import { REPORT_INTERVAL_MS_DEFAULT } from './mgs-link.ts';
import type { TargetRoleName } from './target-name.ts';

export const USAGE = `Usage: kubelustre-target --role mgs|mdt|ost --data DIR --listen HOST:PORT --key-file FILE [options]

  --role mgs|mdt|ost          which target this process serves
  --index N                   target index, 0..65535 (required for mdt and ost)
  --data DIR                  the target's storage directory (created if missing)
  --listen HOST:PORT          RPC address to listen on (port 0: any free port)
  --advertise HOST:PORT[,HOST:PORT...]
                              addresses clients use to reach this target, tried in order (default: --listen)
  --mgs HOST:PORT[,HOST:PORT...]
                              the MGS (required for mdt and ost); several addresses are tried in order
  --fsname NAME               filesystem name, 1-8 of [A-Za-z0-9_-] (required for mgs, only for mgs)
  --key-file FILE             the filesystem's shared key
  --http HOST:PORT            serve /healthz, /readyz and /metrics here (default: no HTTP)
  --log-level LEVEL           fatal, error, warn, info, debug or trace (default: info)
  --report-interval-ms MS     how often mdt/ost report to the MGS; the MGS marks a target down after
                              3 missed reports (default: ${REPORT_INTERVAL_MS_DEFAULT})
`;

export interface HostPort {
  host: string;
  port: number;
}

export interface TargetArgs {
  role: TargetRoleName;
  index: number;
  dataDir: string;
  listen: HostPort;
  /** `host:port` as given; absent means "the bound --listen address". */
  advertise?: string;
  mgs?: string;
  fsName?: string;
  keyFile: string;
  http?: HostPort;
  logLevel: string;
  reportIntervalMs: number;
}

/** A command line that cannot run; main.ts prints it with the usage and exits 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'];
const FSNAME = /^[A-Za-z0-9_-]{1,8}$/;
// The MGS keeps target addresses as host:port with no colon in the host (mgs.ts `Address`).
const IPV6_ADVERTISED = 'an mdt or ost must advertise a hostname or IPv4 address, not IPv6: give --advertise';
const MAX_ADDRESSES = 8;
const WILDCARD_HOSTS = new Set(['0.0.0.0', '::']);

/** Parses `kubelustre-target` arguments, or throws UsageError saying what is wrong. `undefined`: --help. */
export function parseTargetArgs(argv: string[]): TargetArgs | undefined {
  const { values: v } = parseFlags(argv);
  if (v.help) return undefined;
  const role = v.role;
  if (role !== 'mgs' && role !== 'mdt' && role !== 'ost') {
    throw new UsageError(
      role === undefined ? '--role is required' : `--role must be mgs, mdt or ost, not "${role}"`,
    );
  }
  const dataDir = required(v.data, '--data');
  const keyFile = required(v['key-file'], '--key-file');
  const listen = parseHostPort('--listen', required(v.listen, '--listen'), 0);
  if (v.advertise !== undefined) parseHostPortList('--advertise', v.advertise);
  const args: TargetArgs = {
    role,
    index: parseIndex(v.index, role),
    dataDir,
    listen,
    keyFile,
    logLevel: parseLogLevel(v['log-level']),
    reportIntervalMs: parseInterval(v['report-interval-ms']),
  };
  if (v.advertise !== undefined) args.advertise = v.advertise;
  if (v.http !== undefined) args.http = parseHostPort('--http', v.http, 0);
  checkRoleFlags(args, v.fsname, v.mgs);
  return args;
}

function parseFlags(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        role: { type: 'string' },
        index: { type: 'string' },
        data: { type: 'string' },
        listen: { type: 'string' },
        advertise: { type: 'string' },
        mgs: { type: 'string' },
        fsname: { type: 'string' },
        'key-file': { type: 'string' },
        http: { type: 'string' },
        'log-level': { type: 'string' },
        'report-interval-ms': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** The flags that belong to one role only. Sets fsName and mgs on `args`. */
function checkRoleFlags(args: TargetArgs, fsName: string | undefined, mgs: string | undefined): void {
  if (args.role === 'mgs') {
    if (mgs !== undefined) throw new UsageError('--mgs is only for --role mdt|ost (they register with it)');
    if (fsName === undefined) throw new UsageError('--fsname is required for --role mgs');
    if (!FSNAME.test(fsName)) {
      throw new UsageError(`--fsname "${fsName}" must be 1 to 8 characters of A-Z, a-z, 0-9, _ and -`);
    }
    args.fsName = fsName;
    return;
  }
  if (fsName !== undefined) {
    throw new UsageError('--fsname is only for --role mgs: an mdt or ost learns it from the MGS');
  }
  args.mgs = required(mgs, `--mgs (for --role ${args.role})`);
  parseHostPortList('--mgs', args.mgs);
  if (args.advertise !== undefined) {
    if (args.advertise.split(',').some((a) => a.startsWith('['))) throw new UsageError(IPV6_ADVERTISED);
    return;
  }
  if (WILDCARD_HOSTS.has(args.listen.host)) {
    throw new UsageError(
      `--listen ${args.listen.host} accepts on every interface; give --advertise HOST:PORT so clients know where to connect`,
    );
  }
  if (args.listen.host.includes(':')) throw new UsageError(IPV6_ADVERTISED);
}

/**
 * `HOST:PORT[,HOST:PORT...]`: the addresses of one server, as a Lustre NID list; clients try them in
 * order (e.g. a container network name first, then a port published on the host).
 */
function parseHostPortList(flag: string, value: string): void {
  const addresses = value.split(',');
  if (addresses.length > MAX_ADDRESSES) {
    throw new UsageError(`${flag} lists ${addresses.length} addresses; at most ${MAX_ADDRESSES}`);
  }
  for (const a of addresses) parseHostPort(flag, a, 1);
}

function required(value: string | undefined, flag: string): string {
  if (value === undefined || value === '') throw new UsageError(`${flag} is required`);
  return value;
}

/** `host:port` with a port of at least `portMin`; IPv6 hosts in brackets: `[::1]:988`. */
export function parseHostPort(flag: string, value: string, portMin: number): HostPort {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):([0-9]{1,5})$/.exec(value);
  const port = Number(m?.[2]);
  if (!m || port < portMin || port > 65535) {
    throw new UsageError(`${flag} "${value}" is not HOST:PORT with a port from ${portMin} to 65535`);
  }
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

function parseIndex(value: string | undefined, role: TargetRoleName): number {
  if (value === undefined) {
    if (role === 'mgs') return 0;
    throw new UsageError(`--index is required for --role ${role}`);
  }
  const n = Number(value);
  if (!/^[0-9]+$/.test(value) || n > 0xffff) throw new UsageError(`--index "${value}" is not 0..65535`);
  return n;
}

function parseLogLevel(value: string | undefined): string {
  if (value === undefined) return 'info';
  if (!LOG_LEVELS.includes(value))
    throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}`);
  return value;
}

function parseInterval(value: string | undefined): number {
  if (value === undefined) return REPORT_INTERVAL_MS_DEFAULT;
  const n = Number(value);
  if (!/^[0-9]+$/.test(value) || n < 100 || n > 600_000) {
    throw new UsageError(`--report-interval-ms "${value}" is not 100..600000`);
  }
  return n;
}
