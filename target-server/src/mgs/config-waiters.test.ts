import { describe, expect, it } from 'vitest';
import { ConfigWaiters } from './config-waiters.ts';

describe('ConfigWaiters', () => {
  it('wakes every waiter at once on a change', async () => {
    const w = new ConfigWaiters();
    const started = Date.now();
    const waits = [w.wait(10_000), w.wait(10_000)];
    expect(w.size).toBe(2);
    w.wakeAll();
    await Promise.all(waits);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(w.size).toBe(0);
  });

  it('resolves a waiter after its time is up', async () => {
    const w = new ConfigWaiters();
    const started = Date.now();
    await w.wait(50);
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
    expect(w.size).toBe(0);
  });

  it('refuses waiters beyond its bound with EAGAIN', async () => {
    const w = new ConfigWaiters(2);
    const waits = [w.wait(10_000), w.wait(10_000)];
    await expect(w.wait(10_000)).rejects.toMatchObject({ code: 'EAGAIN' });
    w.wakeAll();
    await Promise.all(waits);
  });
});
