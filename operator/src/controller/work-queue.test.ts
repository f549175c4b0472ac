import { describe, expect, it, vi } from 'vitest';
import { WorkQueue } from './work-queue.ts';

describe('WorkQueue', () => {
  it('holds a key once however often it is added', async () => {
    const q = new WorkQueue();
    q.add('a');
    q.add('b');
    q.add('a');
    expect(q.length).toBe(2);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
  });

  it('never hands out a key that is being processed; re-adds it when done', async () => {
    const q = new WorkQueue();
    q.add('a');
    const key = await q.get();
    q.add('a');
    expect(q.length).toBe(0);
    q.done(key!);
    expect(q.length).toBe(1);
    expect(await q.get()).toBe('a');
    q.done('a');
    expect(q.length).toBe(0);
  });

  it('wakes a waiting worker on add', async () => {
    const q = new WorkQueue();
    const next = q.get();
    q.add('x');
    expect(await next).toBe('x');
    q.add('x');
    expect(q.length).toBe(0); // processing: kept as dirty, not queued twice
  });

  it('backs off exponentially per key, bounded, until forgotten', () => {
    const q = new WorkQueue({ backoffBaseMs: 100, backoffMaxMs: 1000 });
    vi.useFakeTimers();
    try {
      expect([1, 2, 3, 4, 5, 6].map(() => q.addRateLimited('a'))).toEqual([100, 200, 400, 800, 1000, 1000]);
      expect(q.addRateLimited('b')).toBe(100);
      q.forget('a');
      expect(q.addRateLimited('a')).toBe(100);
    } finally {
      vi.useRealTimers();
    }
  });

  it('adds after a delay, keeping the earliest of two delayed adds', () => {
    vi.useFakeTimers();
    try {
      const q = new WorkQueue();
      q.addAfter('a', 1000);
      q.addAfter('a', 300);
      q.addAfter('a', 5000);
      vi.advanceTimersByTime(299);
      expect(q.length).toBe(0);
      vi.advanceTimersByTime(1);
      expect(q.length).toBe(1);
      vi.advanceTimersByTime(5000);
      expect(q.length).toBe(1);
    } finally {
      vi.useRealTimers();
    }
  });

  it('returns undefined to waiting workers after shutDown and drops delayed adds', async () => {
    const q = new WorkQueue();
    const waiting = q.get();
    q.addAfter('a', 10);
    q.shutDown();
    expect(await waiting).toBeUndefined();
    q.add('b');
    expect(await q.get()).toBeUndefined();
  });
});
