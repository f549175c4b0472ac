import { parseArgs } from 'node:util';
import { KlError } from '@kubelustre/protocol/errors.ts';
import { config as configOp, pool as poolOp } from '@kubelustre/protocol/messages/mgs.ts';
import { connectionOptions, mgsClient, resolveConnection } from './connection-args.ts';

const USAGE = `usage: kubelustre lctl pool_new FSNAME.POOL
       kubelustre lctl pool_add FSNAME.POOL OST_INDEX|OSTxxxx|FSNAME-OST[a-b] ...
       kubelustre lctl pool_remove FSNAME.POOL OST ...
       kubelustre lctl pool_destroy FSNAME.POOL
       kubelustre lctl pool_list FSNAME[.POOL]
  (with --mgs HOST:PORT --key-file F, or --dir DIR of a local cluster)`;

const ops = { pool_new: 'new', pool_add: 'add', pool_remove: 'remove', pool_destroy: 'destroy' } as const;

/** Lustre's `lctl pool_*` administration commands, sent to the MGS. */
export async function lctlCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    options: connectionOptions,
    allowPositionals: true,
  });
  if (!sub || !(sub in ops || sub === 'pool_list') || positionals.length === 0) {
    console.error(USAGE);
    return 2;
  }
  const mgs = mgsClient(resolveConnection(values));
  try {
    const [fsName, pool] = splitPoolName(positionals[0]!);
    const { reply: cfg } = await mgs.call(configOp, { sinceVersion: -1, waitMs: 0 });
    if (cfg.fsName !== fsName)
      throw new KlError('ENOENT', `filesystem ${fsName} not found (this MGS serves ${cfg.fsName})`);
    if (sub === 'pool_list') {
      printPools(cfg.fsName, cfg.pools, pool);
      return 0;
    }
    if (!pool) throw new KlError('EINVAL', `${positionals[0]}: expected FSNAME.POOL`);
    const osts = positionals.slice(1).flatMap((s) => parseOstList(s, fsName));
    await mgs.call(poolOp, { op: ops[sub as keyof typeof ops], pool, osts });
    return 0;
  } finally {
    mgs.close();
  }
}

export function printPools(fsName: string, pools: Record<string, number[]>, only?: string): void {
  if (only) {
    const members = pools[only];
    if (!members) throw new KlError('ENOENT', `pool ${fsName}.${only} not found`);
    console.log(`Pool: ${fsName}.${only}`);
    for (const i of members) console.log(`${fsName}-OST${hex4(i)}_UUID`);
    return;
  }
  console.log(`Pools from ${fsName}:`);
  for (const name of Object.keys(pools).sort()) console.log(`${fsName}.${name}`);
}

function splitPoolName(s: string): [string, string | undefined] {
  const i = s.indexOf('.');
  return i < 0 ? [s, undefined] : [s.slice(0, i), s.slice(i + 1)];
}

/** `3`, `OST0003`, `kl-OST0003`, `kl-OST[0-3]` or `OST[0-3/2]` (Lustre's range syntax with a step). */
export function parseOstList(s: string, fsName: string): number[] {
  const bare = s.replace(new RegExp(`^${fsName}-`), '').replace(/_UUID$/, '');
  if (/^\d+$/.test(bare)) return [Number(bare)];
  const single = /^OST([0-9a-fA-F]{1,4})$/.exec(bare);
  if (single) return [Number.parseInt(single[1]!, 16)];
  const range = /^OST\[([0-9a-fA-F]+)-([0-9a-fA-F]+)(?:\/(\d+))?\]$/.exec(bare);
  if (range) {
    const [a, b, step] = [
      Number.parseInt(range[1]!, 16),
      Number.parseInt(range[2]!, 16),
      Number(range[3] ?? 1),
    ];
    if (a > b || step < 1) throw new KlError('EINVAL', `bad OST range ${s}`);
    const out: number[] = [];
    for (let i = a; i <= b; i += step) out.push(i);
    return out;
  }
  throw new KlError('EINVAL', `${s} is not an OST (expected an index, OSTxxxx or OST[a-b])`);
}

function hex4(i: number): string {
  return i.toString(16).toUpperCase().padStart(4, '0');
}
