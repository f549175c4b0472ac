import type { BenchFs } from './bench-fs.ts';

export interface Figure {
  name: string;
  unit: string;
  value: number;
}

export interface BenchSizes {
  seqBytes: number;
  ioBytes: number;
  randomReads: number;
  randomReadDepth: number;
  files: number;
  smallFileBytes: number;
}

/** The figures issue #2 asks for (sizes overridable so a quick run is possible). */
export const FULL_SIZES: BenchSizes = {
  seqBytes: 2 * 1024 ** 3,
  ioBytes: 1024 ** 2,
  randomReads: 20_000,
  randomReadDepth: 16,
  files: 20_000,
  smallFileBytes: 3901,
};

async function timed(fn: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

/** Runs every case on one filesystem; each case cleans up after itself. */
export async function runCases(fs: BenchFs, s: BenchSizes, log: (m: string) => void): Promise<Figure[]> {
  const figures: Figure[] = [];
  const add = (name: string, unit: string, value: number) => {
    figures.push({ name, unit, value });
    log(`${fs.name}: ${name} ${value.toFixed(1)} ${unit}`);
  };
  const mib = s.seqBytes / 1024 ** 2;
  const block = Buffer.alloc(s.ioBytes, 0x5a);
  add(
    'sequential write+fsync, 1 MiB I/O, 4 stripes',
    'MiB/s',
    mib / (await timed(() => seqWrite(fs, s, block))),
  );
  await fs.dropCaches();
  add('cold sequential read, 1 MiB I/O', 'MiB/s', mib / (await timed(() => seqRead(fs, s))));
  await fs.dropCaches();
  add('4 KiB random read', 'IOPS', s.randomReads / (await timed(() => randomRead(fs, s))));
  await fs.unlink('/bench-seq');
  await fs.mkdir('/bench-md');
  const names = Array.from({ length: s.files }, (_, i) => `/bench-md/f${i}`);
  add(
    'create empty files',
    'ops/s',
    s.files / (await timed(() => eachName(names, async (n) => (await fs.create(n)).close()))),
  );
  add('stat', 'ops/s', s.files / (await timed(() => eachName(names, (n) => fs.stat(n)))));
  add('unlink', 'ops/s', s.files / (await timed(() => eachName(names, (n) => fs.unlink(n)))));
  const small = Buffer.alloc(s.smallFileBytes, 0x33);
  const writeSmall = async (n: string) => {
    const f = await fs.create(n);
    await f.write(small, 0);
    await f.close();
  };
  add(
    `write ${s.smallFileBytes}-byte files`,
    'files/s',
    s.files / (await timed(() => eachName(names, writeSmall))),
  );
  await fs.dropCaches();
  const readSmall = async (n: string) => {
    const f = await fs.open(n);
    await f.read(s.smallFileBytes, 0);
    await f.close();
  };
  add(
    `cold read ${s.smallFileBytes}-byte files`,
    'files/s',
    s.files / (await timed(() => eachName(names, readSmall))),
  );
  await eachName(names, (n) => fs.unlink(n));
  return figures;
}

async function seqWrite(fs: BenchFs, s: BenchSizes, block: Buffer): Promise<void> {
  const f = await fs.create('/bench-seq', { stripeCount: 4 });
  for (let off = 0; off < s.seqBytes; off += s.ioBytes) await f.write(block, off);
  await f.sync();
  await f.close();
}

async function seqRead(fs: BenchFs, s: BenchSizes): Promise<void> {
  const f = await fs.open('/bench-seq');
  for (let off = 0; off < s.seqBytes; off += s.ioBytes) {
    const n = await f.read(s.ioBytes, off);
    if (n !== s.ioBytes) throw new Error(`short read at ${off}: ${n}`);
  }
  await f.close();
}

/** Random 4 KiB reads with `randomReadDepth` in flight, a fixed pseudo-random sequence for both sides. */
async function randomRead(fs: BenchFs, s: BenchSizes): Promise<void> {
  const f = await fs.open('/bench-seq');
  const blocks = s.seqBytes / 4096;
  let x = 12345;
  let issued = 0;
  const worker = async () => {
    while (issued < s.randomReads) {
      issued++;
      x = (x * 1103515245 + 12345) % 2 ** 31;
      await f.read(4096, (x % blocks) * 4096);
    }
  };
  await Promise.all(Array.from({ length: s.randomReadDepth }, worker));
  await f.close();
}

/** One operation at a time, as a single-threaded application would do. */
async function eachName(names: string[], fn: (n: string) => Promise<unknown>): Promise<void> {
  for (const n of names) await fn(n);
}
