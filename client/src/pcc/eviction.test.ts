import { describe, expect, it } from 'vitest';
import { type EvictionCandidate, evictionPlan, watermarkProblem } from './eviction.ts';

const w = { capacityBytes: 1000, highPercent: 90, lowPercent: 50 };
const c = (fid: string, bytes: number, lastUsedMs: number, more: Partial<EvictionCandidate> = {}) => ({
  fid,
  bytes,
  lastUsedMs,
  users: 0,
  readWrite: false,
  ...more,
});

describe('evictionPlan', () => {
  it('does nothing at or below the high watermark', () => {
    expect(evictionPlan(900, w, [c('a', 900, 1)])).toEqual([]);
  });

  it('evicts least recently used first, until at or below the low watermark', () => {
    const candidates = [c('new', 200, 300), c('old', 200, 100), c('mid', 200, 200), c('newest', 350, 400)];
    // 950 used: drop old (750), mid (550), new (350 <= 500): stop.
    expect(evictionPlan(950, w, candidates)).toEqual(['old', 'mid', 'new']);
  });

  it('skips read-write copies and copies open now, even when that leaves it above the low mark', () => {
    const candidates = [
      c('rw', 400, 1, { readWrite: true }),
      c('open', 300, 2, { users: 1 }),
      c('idle', 100, 3),
    ];
    expect(evictionPlan(1000, w, candidates)).toEqual(['idle']);
  });

  it('breaks ties by FID, so the order is stable', () => {
    expect(evictionPlan(1000, w, [c('b', 300, 5), c('a', 300, 5)])).toEqual(['a', 'b']);
  });

  it('checks watermark settings', () => {
    expect(watermarkProblem(90, 75)).toBeUndefined();
    expect(watermarkProblem(90, 90)).toMatch(/below the high/);
    expect(watermarkProblem(0, 0)).toMatch(/1\.\.100/);
  });
});
