import { tmpdir } from 'node:os';
import { parseArgs } from 'node:util';
import type { BenchFs } from './bench-fs.ts';
import { type BenchSizes, type Figure, FULL_SIZES, runCases } from './cases.ts';
import { klFs } from './kl-fs.ts';
import { dropKernelCaches, localFs } from './local-fs.ts';

/**
 * `npm run bench`: every figure on kubelustre beside the same work on a plain local directory of this
 * machine, and their ratio. Not a test: nothing here asserts a timing. `--quick` runs small sizes.
 */
const QUICK_SIZES: BenchSizes = { ...FULL_SIZES, seqBytes: 256 * 1024 ** 2, randomReads: 4000, files: 2000 };

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { quick: { type: 'boolean', default: false }, dir: { type: 'string', default: tmpdir() } },
  });
  const sizes = values.quick ? QUICK_SIZES : FULL_SIZES;
  if (!dropKernelCaches()) console.log('note: cannot drop the page cache (not root?): "cold" reads are warm');
  const log = (m: string) => console.log(m);
  const results: Figure[][] = [];
  for (const make of [() => localFs(values.dir), () => klFs(values.dir)]) {
    const fs: BenchFs = await make();
    try {
      results.push(await runCases(fs, sizes, log));
    } finally {
      await fs[Symbol.asyncDispose]();
    }
  }
  printTable(results[0]!, results[1]!);
}

function printTable(local: Figure[], kl: Figure[]): void {
  console.log(
    `\n${'benchmark'.padEnd(46)} ${'local dir'.padStart(12)} ${'kubelustre'.padStart(12)} ${'ratio'.padStart(7)}  unit`,
  );
  local.forEach((l, i) => {
    const k = kl[i]!;
    const ratio = k.value / l.value;
    console.log(
      `${l.name.padEnd(46)} ${l.value.toFixed(1).padStart(12)} ${k.value.toFixed(1).padStart(12)} ${ratio.toFixed(2).padStart(7)}  ${l.unit}`,
    );
  });
}

await main();
