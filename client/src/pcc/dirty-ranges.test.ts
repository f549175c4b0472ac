import { describe, expect, it } from 'vitest';
import { addRange, type ByteRange, rangeBytes } from './dirty-ranges.ts';

const add = (pairs: Array<[number, number]>, max?: number) =>
  pairs.reduce<ByteRange[]>((r, [s, e]) => addRange(r, s, e, max), []);

describe('dirty ranges', () => {
  it('keeps ranges sorted and merges those that overlap or touch', () => {
    expect(
      add([
        [10, 20],
        [0, 5],
        [30, 40],
      ]),
    ).toEqual([
      [0, 5],
      [10, 20],
      [30, 40],
    ]);
    expect(
      add([
        [10, 20],
        [20, 25],
      ]),
    ).toEqual([[10, 25]]);
    expect(
      add([
        [10, 20],
        [30, 40],
        [15, 35],
      ]),
    ).toEqual([[10, 40]]);
    expect(
      add([
        [10, 20],
        [0, 100],
      ]),
    ).toEqual([[0, 100]]);
    expect(
      add([
        [10, 20],
        [12, 12],
      ]),
    ).toEqual([[10, 20]]); // empty: nothing
  });

  it('stays bounded by merging the closest neighbours', () => {
    const r = add(
      [
        [0, 1],
        [10, 11],
        [12, 13],
        [100, 101],
      ],
      3,
    );
    expect(r).toEqual([
      [0, 1],
      [10, 13],
      [100, 101],
    ]);
    expect(rangeBytes(r)).toBe(5);
    const many = add(
      Array.from({ length: 1000 }, (_, i): [number, number] => [i * 10, i * 10 + 1]),
      16,
    );
    expect(many).toHaveLength(16);
    expect(many[0]![0]).toBe(0);
    expect(many.at(-1)![1]).toBe(9991);
  });
});
