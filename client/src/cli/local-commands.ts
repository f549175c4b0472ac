import { parseArgs } from 'node:util';
import { KlError } from '@kubelustre/protocol/errors.ts';
import { LocalCluster } from '../local/cluster.ts';
import { DEFAULT_CLUSTER } from '../local/cluster-spec.ts';

export const DEFAULT_DIR = '.kubelustre';
export const DEFAULT_MOUNTPOINT = 'mnt';

const USAGE = `usage: kubelustre local up [--dir DIR] [--osts N] [--mdts N] [--fsname NAME] [--port PORT] [--mount DIR | --no-mount]
       kubelustre local down [--dir DIR]
       kubelustre local status [--dir DIR]`;

/** `kubelustre local up|down|status`: the embedded default filesystem on this machine. */
export async function localCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const { values } = parseArgs({
    args: rest,
    options: {
      dir: { type: 'string', default: DEFAULT_DIR },
      osts: { type: 'string', default: String(DEFAULT_CLUSTER.osts) },
      mdts: { type: 'string', default: String(DEFAULT_CLUSTER.mdts) },
      fsname: { type: 'string', default: DEFAULT_CLUSTER.fsName },
      port: { type: 'string', default: String(DEFAULT_CLUSTER.basePort) },
      mount: { type: 'string', default: DEFAULT_MOUNTPOINT },
      'no-mount': { type: 'boolean', default: false },
    },
  });
  const dir = values.dir;
  switch (sub) {
    case 'up':
      return up(dir, values);
    case 'down': {
      const cluster = LocalCluster.load(dir);
      if (!cluster) throw new KlError('ENOENT', `no local cluster in ${dir}`);
      await cluster.down();
      console.log(`Stopped the local filesystem in ${dir}; its data stays there for the next 'local up'.`);
      return 0;
    }
    case 'status':
      return status(dir);
    default:
      console.error(USAGE);
      return 2;
  }
}

interface UpValues {
  osts: string;
  mdts: string;
  fsname: string;
  port: string;
  mount: string;
  'no-mount': boolean;
}

async function up(dir: string, v: UpValues): Promise<number> {
  const osts = positiveInt(v.osts, '--osts');
  const mdts = positiveInt(v.mdts, '--mdts');
  if (mdts !== 1) throw new KlError('EINVAL', '--mdts: only 1 MDT is supported so far (no DNE yet)');
  const basePort = Number(v.port);
  if (!Number.isInteger(basePort) || basePort < 0 || basePort > 64000)
    throw new KlError('EINVAL', `--port ${v.port} is not a port`);
  const cluster = await LocalCluster.create({
    ...DEFAULT_CLUSTER,
    dir,
    fsName: v.fsname,
    osts,
    mdts,
    basePort,
  });
  await cluster.up();
  console.log(`Started filesystem ${cluster.state.fsName}: MGS at ${cluster.mgsAddress}, data in ${dir}`);
  if (v['no-mount']) {
    console.log('Try: npm run kubelustre -- lfs df');
    return 0;
  }
  await cluster.mount(v.mount);
  const mp = cluster.state.mount!.mountpoint;
  console.log(`Mounted ${cluster.spec} on ${mp}`);
  console.log(`Try: cp /etc/services ${mp}/; npm run kubelustre -- lfs getstripe ${mp}/services`);
  return 0;
}

async function status(dir: string): Promise<number> {
  const cluster = LocalCluster.load(dir);
  if (!cluster) {
    console.log(`no local cluster in ${dir}`);
    return 1;
  }
  const rows = await cluster.status();
  const m = cluster.state.mount;
  if (m) console.log(`mount: ${cluster.spec} on ${m.mountpoint} (process ${m.pid})`);
  console.log(`${'TARGET'.padEnd(14)} ${'PID'.padEnd(8)} ${'ADDRESS'.padEnd(22)} STATE`);
  for (const r of rows) {
    const state = r.ready ? 'ready' : r.running ? 'not ready' : 'stopped';
    console.log(
      `${r.name.padEnd(14)} ${String(r.target.pid ?? '-').padEnd(8)} ${r.target.listen.padEnd(22)} ${state}`,
    );
  }
  return rows.every((r) => r.ready) ? 0 : 1;
}

function positiveInt(s: string, flag: string): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1 || n > 64)
    throw new KlError('EINVAL', `${flag} ${s}: expected a whole number from 1 to 64`);
  return n;
}
