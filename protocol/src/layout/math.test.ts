import { describe, expect, it } from 'vitest';
import { isKlError } from '../errors.ts';
import {
  componentsFor,
  fileSizeFromObjects,
  locate,
  objectSizeForFileSize,
  planIo,
  stripeCountOf,
} from './math.ts';
import { fileLayout } from './testing.ts';
import { GIB, KIB, type Layout, MIB } from './types.ts';

const plain1 = fileLayout('-c 1 -S 1M', [[3]]);
const plain4 = fileLayout('-c 4 -S 1M', [[0, 1, 2, 3]]);
const pfl = fileLayout('-E 4M -c 1 -E 64M -c 4 -E -1 -c -1', [[5], [0, 1, 2, 3], [0, 1, 2, 3, 4, 5, 6, 7]]);
const dom = fileLayout('-E 1M -L mdt -E -1 -c 2', [[], [4, 5]]);
const over = fileLayout('-C 8 -S 1M', [[0, 1, 2, 3, 0, 1, 2, 3]]);

function only(layout: Layout, offset: number) {
  const [extent] = planIo(layout, offset, 1);
  return {
    kind: extent!.kind,
    stripe: extent!.stripeIndex,
    ost: extent!.object?.ostIdx,
    objOffset: extent!.objOffset,
  };
}

describe('locate', () => {
  it.each([
    [0, 0, 0],
    [MIB - 1, 0, MIB - 1],
    [MIB, 1, 0],
    [4 * MIB - 1, 3, MIB - 1],
    [4 * MIB, 0, MIB],
    [5 * MIB + 10, 1, MIB + 10],
    [GIB, 0, 256 * MIB],
    [GIB + 3 * MIB + 7, 3, 256 * MIB + 7],
  ])('4 stripes of 1 MiB: offset %i is stripe %i at %i', (offset, stripeIndex, objOffset) => {
    expect(locate(plain4.components[0]!, offset)).toEqual({ stripeIndex, objOffset });
  });

  it('puts everything of a 1-stripe file at its own offset', () => {
    expect(locate(plain1.components[0]!, 5 * MIB + 3)).toEqual({ stripeIndex: 0, objOffset: 5 * MIB + 3 });
  });

  it('uses absolute file offsets inside later PFL components', () => {
    expect(locate(pfl.components[1]!, 4 * MIB)).toEqual({ stripeIndex: 0, objOffset: MIB });
    expect(locate(pfl.components[2]!, 64 * MIB)).toEqual({ stripeIndex: 0, objOffset: 8 * MIB });
  });

  it('refuses a component that is not instantiated', () => {
    const template = fileLayout('-E 1M -E -1', [[0]]);
    expect(() => stripeCountOf(template.components[1]!)).toThrow(/not instantiated/);
  });
});

describe('planIo', () => {
  it('returns nothing for 0 bytes', () => {
    expect(planIo(plain4, 12345, 0)).toEqual([]);
  });

  it('maps 1 byte to one extent', () => {
    expect(planIo(plain4, 3 * MIB, 1)).toMatchObject([
      { kind: 'ost', stripeIndex: 3, object: { ostIdx: 3 }, objOffset: 0, fileOffset: 3 * MIB, length: 1 },
    ]);
  });

  it.each([
    [MIB - 1, 2, [1, 1]],
    [MIB, 2 * MIB, [MIB, MIB]],
    [MIB + 1, MIB, [MIB - 1, 1]],
    [0, 4 * MIB + 1, [MIB, MIB, MIB, MIB, 1]],
  ])('splits [%i, +%i) at stripe boundaries into %j', (offset, length, lengths) => {
    expect(planIo(plain4, offset, length).map((e) => e.length)).toEqual(lengths);
  });

  it('splits at PFL component boundaries', () => {
    expect(planIo(pfl, 4 * MIB - 1, 2).map((e) => [e.component.id, e.stripeIndex, e.objOffset])).toEqual([
      [1, 0, 4 * MIB - 1],
      [2, 0, MIB],
    ]);
    expect(only(pfl, 64 * MIB - 1)).toEqual({ kind: 'ost', stripe: 3, ost: 3, objOffset: 16 * MIB - 1 });
    expect(only(pfl, 64 * MIB)).toEqual({ kind: 'ost', stripe: 0, ost: 0, objOffset: 8 * MIB });
  });

  it('puts a DoM component on the MDT and the rest on OSTs', () => {
    expect(planIo(dom, 0, 2 * MIB).map((e) => [e.kind, e.stripeIndex, e.objOffset, e.length])).toEqual([
      ['mdt', 0, 0, MIB],
      ['ost', 1, 0, MIB],
    ]);
    expect(only(dom, MIB - 1)).toEqual({ kind: 'mdt', stripe: 0, ost: undefined, objOffset: MIB - 1 });
  });

  it('spreads 8 overstripes over 4 OSTs, two objects on each', () => {
    expect(only(over, 5 * MIB)).toEqual({ kind: 'ost', stripe: 5, ost: 1, objOffset: 0 });
    expect(only(over, 8 * MIB + 1)).toEqual({ kind: 'ost', stripe: 0, ost: 0, objOffset: MIB + 1 });
  });

  it('reaches a sparse offset 1 GiB in', () => {
    expect(only(plain1, GIB)).toEqual({ kind: 'ost', stripe: 0, ost: 3, objOffset: GIB });
    expect(only(pfl, GIB + 7)).toEqual({ kind: 'ost', stripe: 0, ost: 0, objOffset: 128 * MIB + 7 });
  });

  it('reports components not instantiated as holes', () => {
    const lazy = fileLayout('-E 4M -c 1 -E -1 -c 2', [[0]]);
    expect(planIo(lazy, 4 * MIB - 2, 4)).toMatchObject([
      { kind: 'ost', fileOffset: 4 * MIB - 2, length: 2 },
      { kind: 'hole', stripeIndex: -1, object: undefined, objOffset: -1, fileOffset: 4 * MIB, length: 2 },
    ]);
  });

  it('covers the range exactly, each piece where locate puts it', () => {
    for (const layout of [plain1, plain4, pfl, dom, over]) {
      for (const [offset, length] of [
        [0, 9 * MIB + 5],
        [3 * MIB - 1, 70 * MIB],
        [GIB - 1, 3 * MIB],
      ] as const) {
        const extents = planIo(layout, offset, length);
        let at = offset;
        for (const e of extents) {
          expect(e.fileOffset).toBe(at);
          expect(locate(e.component, e.fileOffset)).toEqual({
            stripeIndex: e.stripeIndex,
            objOffset: e.objOffset,
          });
          at += e.length;
        }
        expect(at).toBe(offset + length);
      }
    }
  });

  it('refuses I/O past the last component and bad ranges', () => {
    const short: Layout = { ...plain4, components: [{ ...plain4.components[0]!, end: 8 * MIB }] };
    expect(planIo(short, 8 * MIB - 1, 1)).toHaveLength(1);
    expect(() => planIo(short, 8 * MIB - 1, 2)).toThrow(/goes past the end of the layout/);
    expect(() => planIo(plain4, -1, 1)).toThrow(/bad I\/O range/);
    expect(() => planIo(plain4, 1.5, 1)).toThrow(/bad I\/O range/);
    try {
      planIo(plain4, Number.MAX_SAFE_INTEGER, 1);
    } catch (e) {
      expect(isKlError(e, 'EFBIG')).toBe(true);
    }
  });
});

describe('componentsFor', () => {
  const lazy = fileLayout('-E 4M -c 1 -E 64M -c 4 -E -1 -c -1', [[0]]);

  it('lists the components a write needs instantiated', () => {
    expect(componentsFor(lazy, 0, 4 * MIB)).toEqual([]);
    expect(componentsFor(lazy, 4 * MIB - 1, 1)).toEqual([]);
    expect(componentsFor(lazy, 4 * MIB - 1, 2).map((c) => c.id)).toEqual([2]);
    expect(componentsFor(lazy, GIB, 1).map((c) => c.id)).toEqual([3]);
    expect(componentsFor(lazy, 0, 0)).toEqual([]);
  });

  it('lists SEL extension space but never zero-length components', () => {
    const sel = fileLayout('-E 1G -z 64M -E -1 -z 256M', [[0]]);
    sel.components[0]!.end = 64 * MIB;
    sel.components[1]!.start = 64 * MIB;
    expect(componentsFor(sel, 64 * MIB, 1).map((c) => c.extension)).toEqual([true]);
    expect(componentsFor(sel, GIB - 1, 2).map((c) => c.id)).toEqual([2, 4]);
  });
});

describe('file size and object sizes', () => {
  const c4 = plain4.components[0]!;

  it('derives the file size from object sizes as lov_stripe_size does', () => {
    expect(fileSizeFromObjects(c4, [0, 0, 0, 0])).toBe(0);
    expect(fileSizeFromObjects(c4, [1, 0, 0, 0])).toBe(1);
    expect(fileSizeFromObjects(c4, [MIB, MIB, 512 * KIB, 0])).toBe(2 * MIB + 512 * KIB);
    expect(fileSizeFromObjects(c4, [2 * MIB, MIB + 1, MIB, MIB])).toBe(5 * MIB + 1);
    expect(fileSizeFromObjects(c4, [0, 0, 0, MIB])).toBe(4 * MIB);
    expect(fileSizeFromObjects(dom.components[0]!, [MIB])).toBe(MIB);
  });

  it('sizes objects for a truncate as lov_size_to_stripe does', () => {
    const sizes = (fileSize: number) => [0, 1, 2, 3].map((s) => objectSizeForFileSize(c4, s, fileSize));
    expect(sizes(0)).toEqual([0, 0, 0, 0]);
    expect(sizes(2 * MIB + 512 * KIB)).toEqual([MIB, MIB, 512 * KIB, 0]);
    expect(sizes(4 * MIB)).toEqual([MIB, MIB, MIB, MIB]);
    expect(sizes(4 * MIB + 1)).toEqual([MIB + 1, MIB, MIB, MIB]);
  });

  it('round-trips: the object sizes for a file size imply that file size', () => {
    for (const layout of [plain1, plain4, over]) {
      const c = layout.components[0]!;
      const stripes = stripeCountOf(c);
      for (const base of [1, MIB, 4 * MIB, 8 * MIB, GIB]) {
        for (const fileSize of [base - 1, base, base + 1].filter((n) => n > 0)) {
          const objectSizes = Array.from({ length: stripes }, (_, s) =>
            objectSizeForFileSize(c, s, fileSize),
          );
          expect(fileSizeFromObjects(c, objectSizes)).toBe(fileSize);
        }
      }
    }
  });
});
