import { closeSync, existsSync, openSync, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { KlError } from '@kubelustre/protocol/errors.ts';
import { formatGetstripe, parseGetstripeArgs } from '@kubelustre/protocol/layout/getstripe-format.ts';
import { parseSetstripeArgs } from '@kubelustre/protocol/layout/setstripe-args.ts';
import { Layout } from '@kubelustre/protocol/layout/types.ts';
import { decodeMessage } from '@kubelustre/protocol/messages/validate.ts';
import { KlClient } from '../fs-client.ts';
import { FSTYPE } from '../mount/mount-command.ts';
import { mountUnder } from '../mount/mountinfo.ts';
import { getxattrSyscall, setxattrSyscall } from '../mount/syscalls.ts';
import type { DfRow } from '../statfs.ts';
import { type Connection, connectionOptions, resolveConnection } from './connection-args.ts';
import { printPools } from './lctl-commands.ts';
import { cliLogger } from './logger.ts';
import { pccCommand } from './pcc-commands.ts';

const USAGE = `usage: kubelustre lfs setstripe [-E END] [-c COUNT] [-S SIZE] [-i INDEX] [-p POOL] [-L mdt] [-C COUNT] [-z SIZE] [-d] PATH...
       kubelustre lfs getstripe [-c|-S|-i|-p|-L|-d|-y|...] PATH...
       kubelustre lfs mkdir [-i MDT_INDEX] [-c MDT_COUNT] DIR...
       kubelustre lfs df [-i] [-h] [--pool POOL]
       kubelustre lfs pool_list FSNAME[.POOL]
       kubelustre lfs project [-d] [-r] PATH... | -p ID [-s] [-r] PATH... | -C [-r] PATH...
       kubelustre lfs setquota -p ID [-B BLOCK_LIMIT[kMGTP]] [-I INODE_LIMIT] [PATH]
       kubelustre lfs quota -p ID [PATH]
       kubelustre lfs pcc attach [-i ARCHIVE_ID] [-r] FILE... | pcc detach [-k] FILE... | pcc state [--stats|--json] FILE...
  Paths are inside the filesystem (/ is its root), or, for setstripe and getstripe, paths under a
  kubelustre mount of this machine (absolute, or starting with .), used through the mount as Lustre's lfs
  does; lfs pcc takes paths under a kubelustre mount started with -o pcc=DIR only. Connection: --mgs HOST:PORT --key-file F, or --dir DIR of a local cluster (default .kubelustre).`;

type Sub = (client: KlClient, argv: string[]) => Promise<number>;

const subcommands: Record<string, Sub> = {
  ...{ setstripe, getstripe, mkdir, df, pool_list: poolList },
  ...{ project, setquota, quota },
};

/** Lustre's `lfs`, on paths inside the filesystem, through the client library. */
export async function lfsCommand(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === 'pcc') return pccCommand(rest);
  const sub = name ? subcommands[name] : undefined;
  if (!sub) {
    console.error(USAGE);
    return 2;
  }
  const throughMount = name ? viaMount[name] : undefined;
  if (throughMount && pathsAreMounted(name!, rest)) return throughMount(rest);
  const { connection, args } = splitConnectionArgs(rest);
  const client = new KlClient({
    mgs: connection.mgs,
    key: connection.key,
    log: cliLogger,
    requestTimeoutMs: 30_000,
  });
  await client.connect();
  try {
    return await sub(client, args);
  } finally {
    await client.close();
  }
}

/** Takes --mgs/--key-file/--dir out of argv, leaving lfs's own options exactly as lfs would see them. */
function splitConnectionArgs(argv: string[]): { connection: Connection; args: string[] } {
  const { ours, args } = separateConnectionArgs(argv);
  const { values } = parseArgs({ args: ours, options: connectionOptions });
  return { connection: resolveConnection(values), args };
}

function separateConnectionArgs(argv: string[]): { ours: string[]; args: string[] } {
  const ours: string[] = [];
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const flag = a.replace(/=.*/, '').replace(/^--/, '');
    if (a.startsWith('--') && flag in connectionOptions) {
      ours.push(a);
      if (!a.includes('=')) ours.push(argv[++i] ?? '');
    } else args.push(a);
  }
  return { ours, args };
}

/** Options of each subcommand that take a value in the next argument, so that value is not a path. */
const VALUE_OPTIONS: Record<string, ReadonlySet<string>> = {
  setstripe: new Set([
    '-E',
    '--component-end',
    '-c',
    '--stripe-count',
    '-S',
    '--stripe-size',
    '-i',
    '--stripe-index',
    '-o',
    '--ost',
    '-p',
    '--pool',
    '-L',
    '--layout',
    '-C',
    '--overstripe-count',
    '-z',
    '--extension-size',
    '-I',
    '--comp-id',
  ]),
  getstripe: new Set(),
  mkdir: new Set(['-i', '--mdt-index', '-c', '--mdt-count', '-m', '--mode']),
  project: new Set(['-p']),
};

/**
 * Options come first, then one or more paths, as lfs takes them: the trailing arguments that are neither
 * options nor an option's value.
 */
function splitPaths(argv: string[], sub: string): { options: string[]; paths: string[] } {
  const takesValue = VALUE_OPTIONS[sub] ?? new Set<string>();
  let i = argv.length;
  while (i > 0 && !argv[i - 1]!.startsWith('-') && !(i >= 2 && takesValue.has(argv[i - 2]!))) i--;
  const paths = argv.slice(i);
  if (paths.length === 0) throw new KlError('EINVAL', `lfs ${sub}: no path given`);
  return { options: argv.slice(0, i), paths };
}

// ---- through a mount ----

/** The virtual xattr a kubelustre mount serves layouts under, as Lustre's llite does. */
const LOV_XATTR = 'lustre.lov';

const viaMount: Record<string, (argv: string[]) => Promise<number>> = {
  setstripe: setstripeViaMount,
  getstripe: getstripeViaMount,
};

/**
 * Whether the paths lie under kubelustre mounts (then every one must): such a path names a file of this
 * machine, not a path inside the filesystem, which may look the same.
 */
function pathsAreMounted(sub: string, argv: string[]): boolean {
  const { paths } = splitPaths(separateConnectionArgs(argv).args, sub);
  const mounted = paths.filter((p) => mountUnder(p, FSTYPE) !== undefined);
  if (mounted.length === 0) return false;
  if (mounted.length < paths.length) {
    throw new KlError(
      'EINVAL',
      'paths under a kubelustre mount and paths inside the filesystem are not mixed',
    );
  }
  return true;
}

/** lfs getstripe on the mount: the layout from getxattr(lustre.lov), as Lustre's lfs reads it. */
async function getstripeViaMount(argv: string[]): Promise<number> {
  const { options, paths } = splitPaths(argv, 'getstripe');
  const opts = parseGetstripeArgs(options);
  for (const path of paths) {
    const isDirectory = statSync(path).isDirectory();
    // A directory without a default of its own shows the filesystem's (the mount root's), as lfs does.
    const layout = lovOf(path) ?? (isDirectory ? lovOf(mountUnder(path, FSTYPE)!.mountpoint) : undefined);
    if (!layout) throw new KlError('ENODATA', `${path} has no layout`);
    process.stdout.write(formatGetstripe({ path, layout, isDirectory }, opts));
  }
  return 0;
}

/**
 * lfs setstripe on the mount: a missing file is created (empty, 0644), then the layout set by
 * setxattr(lustre.lov), on a file (while empty) or on a directory (its default).
 */
async function setstripeViaMount(argv: string[]): Promise<number> {
  const { options, paths } = splitPaths(argv, 'setstripe');
  const { layout, deleteDefault } = parseSetstripeArgs(options);
  if (deleteDefault) {
    throw new KlError('ENOTSUP', 'setstripe -d through a mount: give --mgs/--dir and a path inside the fs');
  }
  if (!layout) throw new KlError('EINVAL', 'setstripe: no layout options given');
  for (const path of paths) {
    if (!existsSync(path)) closeSync(openSync(path, 'wx', 0o644));
    setxattrSyscall(path, LOV_XATTR, Buffer.from(JSON.stringify(layout)));
  }
  return 0;
}

function lovOf(path: string): Layout | undefined {
  try {
    return decodeMessage(Layout, getxattrSyscall(path, LOV_XATTR), `${LOV_XATTR} of ${path}`);
  } catch (e) {
    if (e instanceof KlError && e.code === 'ENODATA') return undefined;
    throw e;
  }
}

async function setstripe(client: KlClient, argv: string[]): Promise<number> {
  const { options, paths } = splitPaths(argv, 'setstripe');
  const { layout, deleteDefault } = parseSetstripeArgs(options);
  for (const path of paths) {
    if (deleteDefault) await client.lustre.removeDirDefault(path);
    else if (layout) await client.lustre.setstripe(path, layout);
    else throw new KlError('EINVAL', 'setstripe: no layout options given');
  }
  return 0;
}

async function getstripe(client: KlClient, argv: string[]): Promise<number> {
  const { options, paths } = splitPaths(argv, 'getstripe');
  const opts = parseGetstripeArgs(options);
  for (const path of paths) {
    const info = await client.lustre.getLayout(path);
    // A directory without a default of its own shows the one its new files would get, as lfs does.
    const layout = info.layout ?? client.config.defaultLayout;
    process.stdout.write(formatGetstripe({ path, layout, isDirectory: info.isDirectory }, opts));
  }
  return 0;
}

/** lfs mkdir: with one MDT, `-i 0` and `-c 1` are the only placements there are. */
async function mkdir(client: KlClient, argv: string[]): Promise<number> {
  const { options, paths } = splitPaths(argv, 'mkdir');
  const { values } = parseArgs({
    args: options,
    options: {
      'mdt-index': { type: 'string', short: 'i' },
      'mdt-count': { type: 'string', short: 'c' },
      mode: { type: 'string', short: 'm' },
    },
  });
  const mdtCount = client.config.targets.filter((t) => t.role === 'mdt').length;
  if (
    values['mdt-index'] !== undefined &&
    !(Number(values['mdt-index']) >= 0 && Number(values['mdt-index']) < mdtCount)
  ) {
    throw new KlError(
      'EINVAL',
      `mkdir: MDT index ${values['mdt-index']} does not exist (the filesystem has ${mdtCount})`,
    );
  }
  const count = values['mdt-count'];
  if (count !== undefined && count !== '1' && count !== '-1' && count !== '0') {
    throw new KlError(
      'EINVAL',
      `mkdir: cannot stripe a directory over ${count} MDTs (the filesystem has ${mdtCount})`,
    );
  }
  const mode = values.mode !== undefined ? Number.parseInt(values.mode, 8) : 0o755;
  for (const path of paths) await client.paths.mkdir(path, mode);
  return 0;
}

async function df(client: KlClient, argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      inodes: { type: 'boolean', short: 'i' },
      'human-readable': { type: 'boolean', short: 'h' },
      pool: { type: 'string', short: 'p' },
    },
  });
  let rows = await client.lustre.df(`/${client.config.fsName}`);
  if (values.pool) {
    const members = client.config.pools[values.pool];
    if (!members) throw new KlError('ENOENT', `pool ${client.config.fsName}.${values.pool} not found`);
    rows = rows.filter((r) => r.role !== 'ost' || members.includes(r.index!));
  }
  process.stdout.write(formatDf(rows, values.inodes ?? false, values['human-readable'] ?? false));
  return 0;
}

async function poolList(client: KlClient, argv: string[]): Promise<number> {
  const [target] = argv;
  if (!target) throw new KlError('EINVAL', 'pool_list: expected FSNAME[.POOL]');
  const [fsName, pool] = target.split('.');
  if (fsName !== client.config.fsName) throw new KlError('ENOENT', `filesystem ${fsName} not found`);
  printPools(fsName, client.config.pools, pool);
  return 0;
}

/** `lfs df` output: the same columns and order as Lustre's, with "filesystem_summary:" last. */
export function formatDf(rows: DfRow[], inodes: boolean, human: boolean): string {
  const head = inodes
    ? ['UUID', 'Inodes', 'IUsed', 'IFree', 'IUse%', 'Mounted on']
    : ['UUID', human ? 'bytes' : '1K-blocks', 'Used', 'Available', 'Use%', 'Mounted on'];
  const size = (kib: number) => (inodes ? String(kib) : human ? humanSize(kib * 1024) : String(kib));
  const lines = [fmtRow(head)];
  for (const r of rows) {
    if (r.role === 'summary') lines.push('');
    if (r.inactive) {
      lines.push(`${r.uuid.padEnd(20)} : inactive device`);
      continue;
    }
    const cols = inodes
      ? [
          r.uuid,
          size(r.inodes.total),
          size(r.inodes.used),
          size(r.inodes.free),
          `${r.inodeUsePercent}%`,
          r.mountedOn,
        ]
      : [r.uuid, size(r.kib.total), size(r.kib.used), size(r.kib.available), `${r.usePercent}%`, r.mountedOn];
    lines.push(fmtRow(cols));
  }
  return `${lines.join('\n')}\n\n`;
}

function fmtRow(c: string[]): string {
  return `${c[0]!.padEnd(20)} ${c[1]!.padStart(12)} ${c[2]!.padStart(12)} ${c[3]!.padStart(12)} ${c[4]!.padStart(5)} ${c[5]}`;
}

function humanSize(bytes: number): string {
  const units = ['', 'K', 'M', 'G', 'T', 'P'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(u === 0 ? 0 : 1)}${units[u]}`;
}

// ---- project quotas ----

/**
 * lfs project: with -p ID (and -s for the inherit flag) tags each path; with -C clears the id and the
 * flag; otherwise lists `PROJID FLAG PATH` as Lustre does (flag P: new children inherit the id).
 */
async function project(client: KlClient, argv: string[]): Promise<number> {
  const { options, paths } = splitPaths(argv, 'project');
  const { values } = parseArgs({
    args: options,
    options: {
      p: { type: 'string' },
      s: { type: 'boolean' },
      C: { type: 'boolean' },
      r: { type: 'boolean' },
      d: { type: 'boolean' },
    },
  });
  const recursive = values.r ?? false;
  for (const path of paths) {
    if (values.C) await client.lustre.setProject(path, 0, { inherit: false, recursive });
    else if (values.p !== undefined) {
      const projid = parseProjectId(values.p);
      await client.lustre.setProject(path, projid, { inherit: values.s ?? false, recursive });
    } else {
      const { projid, inherit } = await client.lustre.getProject(path);
      console.log(`${String(projid).padStart(5)} ${inherit ? 'P' : '-'} ${path}`);
    }
  }
  return 0;
}

/** lfs setquota -p ID -B LIMIT -I LIMIT: -B in KiB unless suffixed (k, M, G, T, P), as Lustre takes it. */
async function setquota(client: KlClient, argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      p: { type: 'string' },
      B: { type: 'string' },
      I: { type: 'string' },
      b: { type: 'string' },
      i: { type: 'string' },
    },
  });
  if (values.p === undefined) throw new KlError('EINVAL', 'lfs setquota: only project quotas (-p ID) exist');
  const projid = parseProjectId(values.p);
  const current = (await client.lustre.getQuota(projid)).limits;
  await client.lustre.setQuota(projid, {
    blockHardBytes: values.B === undefined ? current.blockHardBytes : parseBlockLimit(values.B),
    inodeHard: values.I === undefined ? current.inodeHard : parseCount(values.I, '-I'),
  });
  return 0;
}

/** lfs quota -p ID: Lustre's table, sizes in KiB, no soft limits or grace times. */
async function quota(client: KlClient, argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { p: { type: 'string' } },
  });
  if (values.p === undefined) throw new KlError('EINVAL', 'lfs quota: only project quotas (-p ID) exist');
  const projid = parseProjectId(values.p);
  const q = await client.lustre.getQuota(projid);
  const kib = (bytes: number) => String(Math.ceil(bytes / 1024));
  console.log(`Disk quotas for prj ${projid} (pid ${projid}):`);
  const header = ['Filesystem', 'kbytes', 'quota', 'limit', 'grace', 'files', 'quota', 'limit', 'grace'];
  const row = [positionals[0] ?? '/', kib(q.usedBytes), '0', kib(q.limits.blockHardBytes), '-'];
  row.push(String(q.usedInodes), '0', String(q.limits.inodeHard), '-');
  console.log(fmtQuotaRow(header));
  console.log(fmtQuotaRow(row));
  return 0;
}

function fmtQuotaRow(cells: string[]): string {
  return cells.map((c, i) => c.padStart(i === 0 ? 15 : 7)).join(' ');
}

function parseProjectId(text: string): number {
  const id = parseCount(text, '-p');
  if (id > 0xffff_ffff) throw new KlError('EINVAL', `project id ${text} is not a 32-bit number`);
  return id;
}

function parseCount(text: string, flag: string): number {
  if (!/^\d+$/.test(text)) throw new KlError('EINVAL', `${flag} ${text}: not a whole number`);
  return Number(text);
}

/** A block limit as lfs setquota reads it: KiB by default, or with a k/M/G/T/P suffix. */
export function parseBlockLimit(text: string): number {
  const m = /^(\d+)([kKmMgGtTpP]?)$/.exec(text);
  if (!m) throw new KlError('EINVAL', `-B ${text}: not a size (a number of KiB, or with k, M, G, T, P)`);
  const power = { '': 1, k: 1, m: 2, g: 3, t: 4, p: 5 }[m[2]!.toLowerCase() as 'k'];
  return Number(m[1]) * 1024 ** power;
}
