import { tmpdir } from 'node:os';
import { parseArgs } from 'node:util';
import type { BenchFs } from './bench-fs.ts';
import { type BenchSizes, type Figure, FULL_SIZES, runCases } from './cases.ts';
import { EPOCH_FULL_SIZES, EPOCH_QUICK_SIZES, printEpochTable, runEpochBench } from './epochs.ts';
import { klFs } from './kl-fs.ts';
import { dropKernelCaches, localFs } from './local-fs.ts';
import { mountFs } from './mount-fs.ts';

/**
 * `npm run bench`: every figure on kubelustre, through the client library and through the FUSE mount,
 * beside the same work on a plain local directory of this machine, with their ratios to it; the mount's
 * ratio is checked against the target. Not a test: nothing here fails on a timing. `--quick` runs
 * small sizes; `--only mount` skips the library column; `--cpu-prof DIR` profiles the mount process.
 * Then the repeated-epoch read of PCC (epochs.ts); `--only epochs` runs just that one.
 */
const QUICK_SIZES: BenchSizes = { ...FULL_SIZES, seqBytes: 256 * 1024 ** 2, randomReads: 4000, files: 2000 };

/** Issue #3's targets for the mount, as fractions of the local directory, in the order of cases.ts. */
const MOUNT_TARGETS = [0.7, 0.85, 0.5, 0.25, 0.05, 0.07, 0.25, 0.25];

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      dir: { type: 'string', default: tmpdir() },
      only: { type: 'string' },
      'cpu-prof': { type: 'string' },
    },
  });
  const sizes = values.quick ? QUICK_SIZES : FULL_SIZES;
  if (!dropKernelCaches()) console.log('note: cannot drop the page cache (not root?): "cold" reads are warm');
  const log = (m: string) => console.log(m);
  const cpuProfDir = values['cpu-prof'];
  const columns: Array<[string, () => Promise<BenchFs>]> = [
    ['local', async () => localFs(values.dir)],
    ['library', () => klFs(values.dir)],
    ['mount', () => mountFs(values.dir, cpuProfDir ? { cpuProfDir } : {})],
  ];
  if (values.only !== 'epochs') await runTable(columns, sizes, values.only, log);
  if (values.only === undefined || values.only === 'epochs') {
    const epochSizes = values.quick ? EPOCH_QUICK_SIZES : EPOCH_FULL_SIZES;
    printEpochTable(await runEpochBench(values.dir, epochSizes, log), epochSizes, log);
  }
}

async function runTable(
  columns: Array<[string, () => Promise<BenchFs>]>,
  sizes: BenchSizes,
  only: string | undefined,
  log: (m: string) => void,
): Promise<void> {
  const results: Figure[][] = [];
  for (const [name, make] of columns) {
    if (only && name !== 'local' && name !== only) continue;
    const fs = await make();
    try {
      results.push(await runCases(fs, sizes, log));
    } finally {
      await fs[Symbol.asyncDispose]();
    }
  }
  printTable(results, only === undefined ? ['library', 'mount'] : [only]);
}

function printTable(results: Figure[][], names: string[]): void {
  const [local, ...others] = results;
  const head = names.map((n) => `${n.padStart(11)} ${'ratio'.padStart(6)}`).join(' ');
  console.log(`\n${'benchmark'.padEnd(46)} ${'local'.padStart(11)} ${head} ${'target'.padStart(6)}  unit`);
  local!.forEach((l, i) => {
    const cells = others.map((col) => {
      const v = col[i]!.value;
      return `${v.toFixed(1).padStart(11)} ${(v / l.value).toFixed(2).padStart(6)}`;
    });
    const mount = names.includes('mount') ? others[names.indexOf('mount')]![i]!.value / l.value : undefined;
    const target = MOUNT_TARGETS[i]!;
    const verdict = mount === undefined ? '' : mount >= target ? ' ok' : ' MISSED';
    console.log(
      `${l.name.padEnd(46)} ${l.value.toFixed(1).padStart(11)} ${cells.join(' ')} ${target.toFixed(2).padStart(6)}  ${l.unit}${verdict}`,
    );
  });
}

await main();
