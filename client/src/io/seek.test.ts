import { locate } from '@kubelustre/protocol/layout/math.ts';
import type { Layout, LayoutComponent, OstObject } from '@kubelustre/protocol/layout/types.ts';
import { describe, expect, it } from 'vitest';
import {
  type ByteRange,
  mergeRanges,
  type ObjectSeek,
  type SeekWhence,
  seekFile,
  seekInLayout,
} from './seek.ts';
import { fileOffsetOf, objectOffsetFrom, objectRanges } from './stripe-ranges.ts';

const KiB = 1024;
const MiB = 1024 * KiB;
/** The model's allocation unit: data and holes come in whole blocks, as on ext4. */
const BLOCK = 4 * KiB;

function component(start: number, end: number, stripeSize: number, objIds?: number[]): LayoutComponent {
  const objects = objIds?.map((objId, i) => ({ ostIdx: i, objId }));
  const stripeCount = objIds?.length ?? 1;
  return {
    id: start + 1,
    start,
    end,
    pattern: 'raid0',
    stripeSize,
    stripeCount,
    stripeOffset: -1,
    ...(objects && { objects }),
  };
}

const LAYOUTS: Record<string, Layout> = {
  'plain 4 x 64K': {
    composite: false,
    generation: 1,
    components: [component(0, -1, 64 * KiB, [1, 2, 3, 4])],
  },
  'DoM + PFL with a hole component': {
    composite: true,
    generation: 1,
    components: [
      { ...component(0, 64 * KiB, 64 * KiB), pattern: 'mdt', stripeCount: 0 },
      component(64 * KiB, MiB, 64 * KiB, [11, 12]),
      component(MiB, 3 * MiB, MiB),
      component(3 * MiB, -1, 128 * KiB, [21, 22, 23]),
    ],
  },
};

/** A sparse file: which blocks hold data, and the objects' block maps that striping implies. */
class SparseModel {
  readonly objects = new Map<number, Set<number>>();
  readonly fileBlocks = new Set<number>();
  readonly layout: Layout;
  readonly size: number;

  constructor(layout: Layout, size: number, rand: () => number) {
    this.layout = layout;
    this.size = size;
    for (let b = 0; b * BLOCK < size; b++) {
      const c = this.componentAt(b * BLOCK);
      if (c.pattern === 'mdt' || c.objects === undefined || rand() < 0.6) continue;
      this.fileBlocks.add(b);
      const { stripeIndex, objOffset } = locate(c, b * BLOCK);
      const blocks = this.objects.get(c.objects[stripeIndex]!.objId) ?? new Set<number>();
      blocks.add(objOffset / BLOCK);
      this.objects.set(c.objects[stripeIndex]!.objId, blocks);
    }
  }

  componentAt(x: number): LayoutComponent {
    return this.layout.components.find((c) => c.start <= x && (c.end === -1 || x < c.end))!;
  }

  isData(x: number, local: readonly ByteRange[]): boolean {
    if (local.some((r) => r.offset <= x && x < r.offset + r.length)) return true;
    return this.componentAt(x).pattern === 'mdt' || this.fileBlocks.has(Math.floor(x / BLOCK));
  }

  /** What lseek on the objects answers, as a filesystem with BLOCK-sized blocks does. */
  readonly objectSeek: ObjectSeek = async (object: OstObject, objOffset: number, whence: SeekWhence) => {
    const blocks = this.objects.get(object.objId) ?? new Set<number>();
    const objSize = blocks.size === 0 ? 0 : (Math.max(...blocks) + 1) * BLOCK;
    if (objOffset >= objSize) return undefined;
    for (let b = Math.floor(objOffset / BLOCK); b * BLOCK < objSize; b++) {
      if (blocks.has(b) === (whence === 'data')) return Math.max(objOffset, b * BLOCK);
    }
    return whence === 'hole' ? objSize : undefined;
  };

  /** The answer by brute force: every candidate offset from `offset` on, in order. */
  expected(offset: number, whence: SeekWhence, local: readonly ByteRange[]): number | 'ENXIO' {
    if (offset >= this.size) return 'ENXIO';
    const starts = new Set([offset, ...local.flatMap((r) => [r.offset, r.offset + r.length])]);
    for (let b = Math.floor(offset / BLOCK) + 1; b * BLOCK < this.size; b++) starts.add(b * BLOCK);
    for (const x of [...starts].filter((s) => s >= offset && s < this.size).sort((a, b) => a - b)) {
      if (this.isData(x, local) === (whence === 'data')) return x;
    }
    return whence === 'hole' ? this.size : 'ENXIO';
  }
}

function seeded(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 31;
  };
}

async function actual(model: SparseModel, offset: number, whence: SeekWhence, local: ByteRange[]) {
  const inLayout = (at: number, w: SeekWhence) =>
    seekInLayout(model.layout, model.size, at, w, model.objectSeek);
  return seekFile(offset, whence, model.size, local, inLayout).catch((e: { code: string }) => e.code);
}

describe('seekFile over a layout', () => {
  for (const [name, layout] of Object.entries(LAYOUTS)) {
    it(`matches a brute-force scan of random sparse files: ${name}`, async () => {
      const rand = seeded(42);
      for (let round = 0; round < 12; round++) {
        const size = Math.floor(rand() * 6 * MiB) + 1;
        const model = new SparseModel(layout, size, rand);
        const local =
          round % 3 === 0
            ? [{ offset: Math.floor(rand() * size), length: 1 + Math.floor(rand() * 300 * KiB) }]
            : [];
        for (let probe = 0; probe < 40; probe++) {
          const offset = probe === 0 ? 0 : Math.floor(rand() * (size + BLOCK));
          for (const whence of ['data', 'hole'] as const) {
            const got = await actual(model, offset, whence, local);
            expect(got, `${whence} from ${offset} of ${size}`).toBe(model.expected(offset, whence, local));
          }
        }
      }
    });
  }

  it('answers ENXIO for negative offsets and past the end, and the end for a file all data', async () => {
    const layout = LAYOUTS['DoM + PFL with a hole component']!;
    const none: ObjectSeek = async () => undefined;
    const inLayout = (at: number, w: SeekWhence) => seekInLayout(layout, 60 * KiB, at, w, none);
    await expect(seekFile(-1, 'data', 60 * KiB, [], inLayout)).rejects.toMatchObject({ code: 'ENXIO' });
    await expect(seekFile(60 * KiB, 'hole', 60 * KiB, [], inLayout)).rejects.toMatchObject({ code: 'ENXIO' });
    expect(await seekFile(100, 'data', 60 * KiB, [], inLayout)).toBe(100);
    expect(await seekFile(100, 'hole', 60 * KiB, [], inLayout)).toBe(60 * KiB);
  });

  it('treats a file without a layout as one hole', async () => {
    const inLayout = (at: number, w: SeekWhence) => seekInLayout(undefined, 10, at, w, async () => 0);
    expect(await seekFile(3, 'hole', 10, [], inLayout)).toBe(3);
    await expect(seekFile(3, 'data', 10, [], inLayout)).rejects.toMatchObject({ code: 'ENXIO' });
    expect(await seekFile(3, 'data', 10, [{ offset: 5, length: 2 }], inLayout)).toBe(5);
  });
});

describe('stripe ranges', () => {
  const c = component(0, -1, 64 * KiB, [1, 2, 3]);

  it('maps object offsets back to file offsets', () => {
    for (const x of [0, 1, 64 * KiB - 1, 64 * KiB, 200 * KiB + 5, 5 * MiB + 17]) {
      const { stripeIndex, objOffset } = locate(c, x);
      expect(fileOffsetOf(c, stripeIndex, objOffset)).toBe(x);
      expect(objectOffsetFrom(c, stripeIndex, x)).toBe(objOffset);
    }
    // Before stripe 2's chunk of a row: its chunk start; after it: the next row's.
    expect(objectOffsetFrom(c, 2, 0)).toBe(0);
    expect(objectOffsetFrom(c, 0, 70 * KiB)).toBe(64 * KiB);
  });

  it('cuts a file range into one contiguous range per object', () => {
    const ranges = objectRanges({ composite: false, generation: 1, components: [c] }, 32 * KiB, 400 * KiB);
    expect(ranges.map((r) => [r.object.objId, r.objOffset, r.length])).toEqual([
      [1, 32 * KiB, 144 * KiB],
      [2, 0, 128 * KiB],
      [3, 0, 128 * KiB],
    ]);
    expect(ranges.reduce((n, r) => n + r.length, 0)).toBe(400 * KiB);
  });

  it('merges overlapping and touching byte ranges', () => {
    const merged = mergeRanges([
      { offset: 10, length: 5 },
      { offset: 0, length: 3 },
      { offset: 3, length: 2 },
      { offset: 12, length: 10 },
      { offset: 40, length: 0 },
    ]);
    expect(merged).toEqual([
      { offset: 0, length: 5 },
      { offset: 10, length: 12 },
    ]);
  });
});
