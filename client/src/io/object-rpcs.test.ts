import { planIo } from '@kubelustre/protocol/layout/math.ts';
import type { Layout } from '@kubelustre/protocol/layout/types.ts';
import { describe, expect, it } from 'vitest';
import { objectRpcs } from './object-rpcs.ts';

const MiB = 1024 * 1024;

function striped(stripeSize: number, count: number, extra: Partial<Layout['components'][0]> = {}): Layout {
  return {
    composite: false,
    generation: 1,
    components: [
      {
        id: 1,
        start: 0,
        end: -1,
        pattern: 'raid0',
        stripeSize,
        stripeCount: count,
        stripeOffset: 0,
        objects: Array.from({ length: count }, (_, i) => ({ ostIdx: i, objId: 100 + i })),
        ...extra,
      },
    ],
  };
}

describe('objectRpcs', () => {
  it('coalesces consecutive stripes of one object into one RPC', () => {
    const rpcs = objectRpcs(planIo(striped(MiB, 2), 0, 4 * MiB));
    expect(rpcs).toHaveLength(2);
    expect(rpcs[0]).toMatchObject({ object: { ostIdx: 0 }, objOffset: 0, length: 2 * MiB });
    expect(rpcs[0]!.slices).toEqual([
      { fileOffset: 0, length: MiB, rpcOffset: 0 },
      { fileOffset: 2 * MiB, length: MiB, rpcOffset: MiB },
    ]);
    expect(rpcs[1]).toMatchObject({ object: { ostIdx: 1 }, objOffset: 0, length: 2 * MiB });
  });

  it('splits runs longer than the RPC size', () => {
    const rpcs = objectRpcs(planIo(striped(16 * MiB, 1), MiB, 10 * MiB));
    expect(rpcs.map((r) => [r.objOffset, r.length])).toEqual([
      [MiB, 4 * MiB],
      [5 * MiB, 4 * MiB],
      [9 * MiB, 2 * MiB],
    ]);
  });

  it('covers every byte exactly once for an unaligned range', () => {
    const offset = 3 * MiB - 7;
    const length = 9 * MiB + 11;
    const rpcs = objectRpcs(planIo(striped(MiB, 3), offset, length), 2 * MiB);
    const slices = rpcs.flatMap((r) => r.slices).sort((a, b) => a.fileOffset - b.fileOffset);
    let at = offset;
    for (const s of slices) {
      expect(s.fileOffset).toBe(at);
      at += s.length;
    }
    expect(at).toBe(offset + length);
    for (const r of rpcs) expect(r.length).toBeLessThanOrEqual(2 * MiB);
  });

  it('sends overstriped stripes on one OST as separate objects', () => {
    const layout = striped(MiB, 4, { overstriped: true });
    layout.components[0]!.objects = [1, 2, 3, 4].map((objId) => ({ ostIdx: 0, objId }));
    expect(objectRpcs(planIo(layout, 0, 4 * MiB))).toHaveLength(4);
  });

  it('makes no RPC for holes', () => {
    const layout = striped(MiB, 1);
    delete layout.components[0]!.objects;
    expect(objectRpcs(planIo(layout, 0, MiB))).toEqual([]);
  });
});
