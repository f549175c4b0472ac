import { describe, expect, it } from 'vitest';
import { formatIndexes, missingOsts, poolMembers, poolOps, poolTeardownOps } from './pool.ts';

describe('poolMembers', () => {
  it('merges indexes and ranges, sorted, each once', () => {
    expect(
      poolMembers({
        fileSystem: 'd',
        osts: {
          indexes: [9, 2],
          ranges: [
            { first: 1, last: 3 },
            { first: 3, last: 4 },
          ],
        },
      }),
    ).toEqual([1, 2, 3, 4, 9]);
  });
});

describe('missingOsts', () => {
  it('names members at or beyond the OST count', () => {
    expect(missingOsts([0, 1, 2, 5], 2)).toEqual([2, 5]);
    expect(missingOsts([0, 1], 2)).toEqual([]);
  });
});

describe('poolOps', () => {
  it('creates a missing pool and adds its members', () => {
    expect(poolOps('fast', undefined, [0, 1])).toEqual([
      { op: 'new', pool: 'fast', osts: [] },
      { op: 'add', pool: 'fast', osts: [0, 1] },
    ]);
  });

  it('adds and removes the difference only', () => {
    expect(poolOps('fast', [0, 1, 4], [1, 2, 3])).toEqual([
      { op: 'add', pool: 'fast', osts: [2, 3] },
      { op: 'remove', pool: 'fast', osts: [0, 4] },
    ]);
  });

  it('does nothing when the MGS already has the pool as wanted', () => {
    expect(poolOps('fast', [0, 1], [0, 1])).toEqual([]);
  });
});

describe('poolTeardownOps', () => {
  it('empties the pool before destroying it, as lctl requires', () => {
    expect(poolTeardownOps('fast', [0, 1])).toEqual([
      { op: 'remove', pool: 'fast', osts: [0, 1] },
      { op: 'destroy', pool: 'fast', osts: [] },
    ]);
    expect(poolTeardownOps('fast', [])).toEqual([{ op: 'destroy', pool: 'fast', osts: [] }]);
    expect(poolTeardownOps('fast', undefined)).toEqual([]);
  });
});

describe('formatIndexes', () => {
  it('writes runs as ranges, as lctl does', () => {
    expect(formatIndexes([0, 1, 2, 5, 7, 8])).toBe('0-2,5,7-8');
    expect(formatIndexes([3])).toBe('3');
  });
});
