import { describe, expect, it } from 'vitest';
import { ByteBudget } from './byte-budget.ts';
import { PrefetchBuffer, ReadaheadWindow } from './readahead.ts';

const MiB = 1024 * 1024;
const KiB = 1024;
const huge = 2 ** 40;

describe('ReadaheadWindow', () => {
  it('starts with the smallest window on a read from the start', () => {
    const w = new ReadaheadWindow();
    expect(w.onRead(0, 128 * KiB, huge)).toEqual({ offset: 128 * KiB, length: MiB });
  });

  it('doubles the window up to the maximum as a sequential reader consumes it', () => {
    const w = new ReadaheadWindow({ windowMinBytes: MiB, windowMaxBytes: 8 * MiB });
    const windows: number[] = [];
    for (let at = 0; at < 64 * MiB; at += 256 * KiB) {
      const r = w.onRead(at, 256 * KiB, huge);
      if (r) windows.push(r.length / MiB);
    }
    expect(windows.slice(0, 5)).toEqual([1, 2, 4, 8, 8]);
    expect(Math.max(...windows)).toBe(8);
  });

  it('requests each byte ahead once, contiguously', () => {
    const w = new ReadaheadWindow();
    let aheadEnd = 4 * KiB;
    for (let at = 0; at < 200 * MiB; at += 4 * KiB) {
      const r = w.onRead(at, 4 * KiB, huge);
      if (!r) continue;
      expect(r.offset).toBe(aheadEnd);
      aheadEnd = r.offset + r.length;
    }
    expect(aheadEnd).toBeGreaterThan(200 * MiB);
  });

  it('waits until less than half a window is left before asking for more', () => {
    const w = new ReadaheadWindow({ windowMinBytes: MiB });
    expect(w.onRead(0, 64 * KiB, huge)).toBeDefined();
    expect(w.onRead(64 * KiB, 64 * KiB, huge)).toBeUndefined();
    let next: unknown;
    for (let at = 128 * KiB; !next; at += 64 * KiB) next = w.onRead(at, 64 * KiB, huge);
    expect(next).toEqual({ offset: 64 * KiB + MiB, length: 2 * MiB });
  });

  it('prefetches nothing for random reads and resets on a jump', () => {
    const w = new ReadaheadWindow();
    expect(w.onRead(10 * MiB, 4 * KiB, huge)).toBeUndefined();
    expect(w.onRead(3 * MiB, 4 * KiB, huge)).toBeUndefined();
    expect(w.onRead(50 * MiB, 4 * KiB, huge)).toBeUndefined();
    expect(w.onRead(50 * MiB + 4 * KiB, 4 * KiB, huge)).toEqual({ offset: 50 * MiB + 8 * KiB, length: MiB });
  });

  it('never prefetches past the file size', () => {
    const w = new ReadaheadWindow();
    expect(w.onRead(0, 4 * KiB, 100 * KiB)).toEqual({ offset: 4 * KiB, length: 96 * KiB });
    expect(w.onRead(4 * KiB, 4 * KiB, 100 * KiB)).toBeUndefined();
  });

  it('starts over after reset', () => {
    const w = new ReadaheadWindow();
    w.onRead(0, MiB, huge);
    w.reset();
    expect(w.onRead(MiB, MiB, huge)).toBeUndefined();
    expect(w.onRead(2 * MiB, MiB, huge)).toEqual({ offset: 3 * MiB, length: MiB });
  });
});

describe('PrefetchBuffer', () => {
  /** Each prefetched chunk filled with one byte naming the MiB it starts at. */
  const fetchPattern = async (offset: number, length: number) => Buffer.alloc(length, offset / MiB + 1);

  it('serves covered reads from prefetched chunks and frees them as the reader passes', async () => {
    const budget = new ByteBudget(64 * MiB);
    const p = new PrefetchBuffer(fetchPattern, budget, 64 * MiB);
    p.prefetch({ offset: 0, length: 6 * MiB });
    expect(budget.usedBytes).toBe(6 * MiB);
    const got = await p.take(4 * MiB - 10, 20);
    expect(got).toEqual(Buffer.concat([Buffer.alloc(10, 1), Buffer.alloc(10, 5)]));
    await new Promise((r) => setImmediate(r));
    expect(budget.usedBytes).toBe(2 * MiB);
    expect(await p.take(7 * MiB, 1)).toBeUndefined();
    p.clear();
    expect(budget.usedBytes).toBe(0);
  });

  it('prefetches less rather than waiting when memory is short', () => {
    const budget = new ByteBudget(5 * MiB);
    const p = new PrefetchBuffer(fetchPattern, budget, 64 * MiB);
    p.prefetch({ offset: 0, length: 16 * MiB });
    expect(budget.usedBytes).toBe(4 * MiB);
    p.clear();
  });

  it('forgets failed prefetches', async () => {
    const p = new PrefetchBuffer(() => Promise.reject(new Error('gone')), new ByteBudget(MiB * 8), 8 * MiB);
    p.prefetch({ offset: 0, length: MiB });
    expect(await p.take(0, 10)).toBeUndefined();
  });
});
