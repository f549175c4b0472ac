import { describe, expect, it } from 'vitest';
import { growthOf } from './object-store.ts';
import { formatBytes, parseLog } from './project-quota.ts';

describe('parseLog', () => {
  it('keeps the last word per object, forgets objects moved to project 0 and skips a torn line', () => {
    const map = parseLog('1 42\n2 42\n1 43\n2 0\n3 7\n4 9');
    expect([...map]).toEqual([
      [1, 43],
      [3, 7],
      [4, 9],
    ]);
    expect([...parseLog('5 42\n6 4')]).toEqual([
      [5, 42],
      [6, 4],
    ]);
    expect([...parseLog('5 42\n6 ')]).toEqual([[5, 42]]);
  });
});

describe('growthOf', () => {
  it('counts the blocks past what the object has allocated, at most the write spans', () => {
    expect(growthOf(0, 0, 4096)).toBe(4096);
    expect(growthOf(8192, 0, 4096)).toBe(0);
    expect(growthOf(4096, 4096, 10)).toBe(4096);
    expect(growthOf(0, 1 << 30, 100)).toBe(8192);
  });
});

describe('formatBytes', () => {
  it('reads as Lustre prints limits', () => {
    expect(formatBytes(10 * 1024 ** 3)).toBe('10 GiB');
    expect(formatBytes(4 * 1024 ** 2)).toBe('4 MiB');
    expect(formatBytes(1000)).toBe('1000 bytes');
  });
});
