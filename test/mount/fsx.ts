import * as fs from 'node:fs';
import { join } from 'node:path';
import { seededRandom } from '../harness/random.ts';
import {
  FALLOC_FL_KEEP_SIZE,
  FALLOC_FL_PUNCH_HOLE,
  FALLOC_FL_ZERO_RANGE,
  fallocate,
  mmapShared,
} from '../posix/libc.ts';

/** The largest a file grows, and the largest single operation (a few stripes of 1 MiB). */
const FILE_BYTES_MAX = 6 * 1024 * 1024;
const OP_BYTES_MAX = 1536 * 1024;
/** Operations kept for the failure report. */
const LOG_TAIL = 40;

export interface FsxOptions {
  dir: string;
  seed: number;
  files: number;
  ops: number;
  /** Stop early (still a pass) after this long, so the test stays bounded on a slow machine. */
  timeMaxMs: number;
}

interface FsxFile {
  path: string;
  fd: number;
  /** What the file must hold: its bytes up to `size`. */
  model: Buffer;
  size: number;
}

/**
 * fsx (the Linux test suite's file-system exerciser), seeded: random reads, writes, truncates,
 * fallocates (allocate, keep-size, punch, zero-range), writes through a shared mapping and reopens on
 * several files, every read checked against an in-memory model of each file. Throws on the first
 * mismatch with the seed and the last operations; answers the number of operations done.
 */
export function runFsx(o: FsxOptions): number {
  const rand = seededRandom(o.seed);
  const int = (n: number) => Math.floor(rand() * n);
  const files: FsxFile[] = Array.from({ length: o.files }, (_, i) => {
    const path = join(o.dir, `fsx-${i}`);
    return { path, fd: fs.openSync(path, 'w+'), model: Buffer.alloc(FILE_BYTES_MAX), size: 0 };
  });
  const log: string[] = [];
  const t0 = Date.now();
  let done = 0;
  try {
    for (; done < o.ops && Date.now() - t0 < o.timeMaxMs; done++) {
      const f = files[int(files.length)]!;
      const op = pickOp(int(100));
      const off = int(FILE_BYTES_MAX - 1);
      const len = 1 + int(Math.min(OP_BYTES_MAX, FILE_BYTES_MAX - off) - 1);
      log.push(`${done}: ${op} ${f.path.slice(-6)} off=${off} len=${len} size=${f.size}`);
      if (log.length > LOG_TAIL) log.shift();
      apply(op, f, off, len, rand);
    }
    for (const f of files) checkWhole(f);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new Error(
      `fsx failed (replay with KL_SEED=${o.seed}): ${why}\nlast operations:\n${log.join('\n')}`,
    );
  } finally {
    for (const f of files) fs.closeSync(f.fd);
  }
  return done;
}

type Op = 'read' | 'write' | 'truncate' | 'fallocate' | 'punch' | 'zero' | 'mapwrite' | 'reopen';

function pickOp(p: number): Op {
  if (p < 30) return 'read';
  if (p < 58) return 'write';
  if (p < 66) return 'truncate';
  if (p < 73) return 'fallocate';
  if (p < 80) return 'punch';
  if (p < 86) return 'zero';
  if (p < 95) return 'mapwrite';
  return 'reopen';
}

function apply(op: Op, f: FsxFile, off: number, len: number, rand: () => number): void {
  switch (op) {
    case 'read':
      checkRange(f, off, len);
      return;
    case 'write': {
      const data = randomBytes(len, rand);
      if (fs.writeSync(f.fd, data, 0, len, off) !== len) throw new Error(`short write at ${off}`);
      data.copy(f.model, off);
      f.size = Math.max(f.size, off + len);
      return;
    }
    case 'truncate': {
      fs.ftruncateSync(f.fd, off);
      if (off > f.size) f.model.fill(0, f.size, off);
      else f.model.fill(0, off, f.size);
      f.size = off;
      return;
    }
    case 'fallocate': {
      const keep = rand() < 0.5;
      fallocate(f.fd, keep ? FALLOC_FL_KEEP_SIZE : 0, off, len);
      if (!keep) f.size = Math.max(f.size, off + len);
      return;
    }
    case 'punch':
      fallocate(f.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len);
      f.model.fill(0, off, Math.min(off + len, f.size));
      return;
    case 'zero':
      fallocate(f.fd, FALLOC_FL_ZERO_RANGE, off, len);
      f.model.fill(0, off, off + len);
      f.size = Math.max(f.size, off + len);
      return;
    case 'mapwrite':
      mapWrite(f, off, len, rand);
      return;
    case 'reopen':
      fs.closeSync(f.fd);
      f.fd = fs.openSync(f.path, 'r+');
      checkWhole(f);
      return;
  }
}

/** Writes through a MAP_SHARED mapping of the file, within its size (beyond it would be SIGBUS). */
function mapWrite(f: FsxFile, off: number, len: number, rand: () => number): void {
  if (f.size === 0) return;
  const at = off % f.size;
  const n = Math.min(len, f.size - at);
  const data = randomBytes(n, rand);
  const m = mmapShared(f.fd, f.size, true);
  try {
    m.bytes.set(data, at);
    m.sync();
  } finally {
    m.unmap();
  }
  data.copy(f.model, at);
}

function checkRange(f: FsxFile, off: number, len: number): void {
  const got = Buffer.alloc(len);
  const n = fs.readSync(f.fd, got, 0, len, off);
  const want = Math.max(0, Math.min(len, f.size - off));
  if (n !== want)
    throw new Error(`read at ${off} of ${len} answered ${n} bytes, expected ${want} (size ${f.size})`);
  const bad = got.subarray(0, n).findIndex((b, i) => b !== f.model[off + i]);
  if (bad >= 0) {
    throw new Error(
      `byte ${off + bad} is ${got[bad]}, expected ${f.model[off + bad]} (read at ${off}, ${len} bytes)`,
    );
  }
}

function checkWhole(f: FsxFile): void {
  const size = fs.fstatSync(f.fd).size;
  if (size !== f.size) throw new Error(`${f.path} has size ${size}, expected ${f.size}`);
  checkRange(f, 0, f.size);
}

/** Bytes from a xorshift32 stream seeded by `rand` (per-byte `rand()` would dominate the run time). */
function randomBytes(n: number, rand: () => number): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = Math.floor(rand() * 2 ** 32) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}
