import { describe, expect, it } from 'vitest';
import { isKlError } from '../errors.ts';
import {
  allocateStripes,
  isBalanced,
  type OstSpace,
  type StripeRequest,
  stripeCountFor,
} from './allocate.ts';
import { seededRandom } from './testing.ts';
import { GIB } from './types.ts';

function osts(free: number[]): OstSpace[] {
  return free.map((f, index) => ({ index, active: true, freeBytes: f * GIB, totalBytes: 100 * GIB }));
}

const balanced = osts([50, 50, 48, 45]);
const pools = { fast: [1, 3], empty: [] };
const noRandom = (): number => {
  throw new Error('balanced allocation must not draw random numbers');
};

function allocate(
  req: Partial<StripeRequest>,
  space = balanced,
  state = { next: 0 },
  random = noRandom,
): number[] {
  return allocateStripes({ stripeCount: 1, stripeOffset: -1, ...req }, space, pools, state, random);
}

function counts(indexes: number[]): Record<number, number> {
  const out: Record<number, number> = {};
  for (const i of indexes) out[i] = (out[i] ?? 0) + 1;
  return out;
}

describe('round-robin when free space is balanced', () => {
  it('starts each allocation where the last one stopped', () => {
    const state = { next: 0 };
    expect(allocate({ stripeCount: 1 }, balanced, state)).toEqual([0]);
    expect(allocate({ stripeCount: 2 }, balanced, state)).toEqual([1, 2]);
    expect(allocate({ stripeCount: 2 }, balanced, state)).toEqual([3, 0]);
    expect(state.next).toBe(1);
  });

  it('spreads single-stripe files evenly', () => {
    const state = { next: 0 };
    const all = Array.from({ length: 100 }, () => allocate({ stripeCount: 1 }, balanced, state)).flat();
    expect(counts(all)).toEqual({ 0: 25, 1: 25, 2: 25, 3: 25 });
  });

  it('never puts two stripes of a component on one OST and caps the count at the OSTs', () => {
    expect(allocate({ stripeCount: 4 })).toEqual([0, 1, 2, 3]);
    expect(allocate({ stripeCount: 7 })).toEqual([0, 1, 2, 3]);
    expect(allocate({ stripeCount: -1 }, balanced, { next: 2 })).toEqual([2, 3, 0, 1]);
  });
});

describe('stripe offset', () => {
  it('starts at the given OST and continues in index order', () => {
    expect(allocate({ stripeCount: 3, stripeOffset: 2 })).toEqual([2, 3, 0]);
  });

  it('ignores the round-robin cursor and leaves it alone', () => {
    const state = { next: 3 };
    expect(allocate({ stripeCount: 1, stripeOffset: 1 }, balanced, state)).toEqual([1]);
    expect(state.next).toBe(3);
  });

  it('moves on when the given OST cannot take a stripe', () => {
    const space = osts([50, 50, 0, 50]);
    expect(allocate({ stripeCount: 2, stripeOffset: 2 }, space)).toEqual([3, 0]);
  });

  it('must name an OST of the pool', () => {
    expect(() => allocate({ stripeOffset: 0, pool: 'fast' })).toThrow(
      "stripe offset 0 is not in pool 'fast'",
    );
    expect(() => allocate({ stripeOffset: 9 })).toThrow('stripe offset 9 is not an OST of the filesystem');
  });
});

describe('pools and unusable OSTs', () => {
  it('allocates only from the pool', () => {
    const state = { next: 0 };
    const all = Array.from({ length: 10 }, () => allocate({ pool: 'fast' }, balanced, state)).flat();
    expect(counts(all)).toEqual({ 1: 5, 3: 5 });
    expect(allocate({ stripeCount: -1, pool: 'fast' })).toEqual([1, 3]);
  });

  it('skips inactive, full, too-empty and avoided OSTs', () => {
    const space = osts([50, 0, 50, 50]);
    space[2]!.active = false;
    expect(allocate({ stripeCount: -1 }, space)).toEqual([0, 3]);
    expect(allocate({ stripeCount: -1, avoid: [0] }, space)).toEqual([3]);
    expect(allocate({ stripeCount: -1, minFreeBytes: 49 * GIB }, osts([50, 48, 50, 10]))).toEqual([0, 2]);
  });

  it('fails with ENOSPC when nothing fits', () => {
    const full = osts([0, 0, 0, 0]);
    expect(() => allocate({}, full)).toThrow('ENOSPC: no OST with free space in the filesystem');
    expect(() => allocate({ pool: 'empty' })).toThrow('no OST with free space in pool empty');
    try {
      allocate({ pool: 'fast' }, full);
    } catch (e) {
      expect(isKlError(e, 'ENOSPC')).toBe(true);
    }
  });

  it('refuses a pool that does not exist', () => {
    expect(() => allocate({ pool: 'nope' })).toThrow("pool 'nope' does not exist");
  });
});

describe('overstriping', () => {
  it('puts several stripes on each OST, evenly', () => {
    expect(allocate({ stripeCount: 8, overstriped: true })).toEqual([0, 1, 2, 3, 0, 1, 2, 3]);
    const six = allocate({ stripeCount: 6, overstriped: true, stripeOffset: 3 });
    expect(six).toEqual([3, 0, 1, 2, 3, 0]);
    expect(
      Math.max(...Object.values(counts(six))) - Math.min(...Object.values(counts(six))),
    ).toBeLessThanOrEqual(1);
  });

  it('stays even when space is imbalanced', () => {
    const stripes = allocate(
      { stripeCount: 10, overstriped: true },
      osts([90, 10, 10, 10]),
      { next: 0 },
      seededRandom(7),
    );
    const perOst = Object.values(counts(stripes));
    expect(perOst).toHaveLength(4);
    expect(Math.max(...perOst) - Math.min(...perOst)).toBeLessThanOrEqual(1);
  });
});

describe('weighted random when free space is imbalanced', () => {
  const skewed = osts([90, 10, 10, 10]);

  it('prefers OSTs with more free space, in proportion', () => {
    const random = seededRandom(42);
    const all = Array.from({ length: 2000 }, () =>
      allocate({ stripeCount: 1 }, skewed, { next: 0 }, random),
    ).flat();
    const share = counts(all)[0]! / all.length;
    expect(share).toBeGreaterThan(0.7);
    expect(share).toBeLessThan(0.8);
    expect(Object.keys(counts(all))).toHaveLength(4);
  });

  it('never repeats an OST in one component', () => {
    const random = seededRandom(1);
    for (let i = 0; i < 200; i++) {
      const stripes = allocate({ stripeCount: 3 }, skewed, { next: 0 }, random);
      expect(new Set(stripes).size).toBe(3);
    }
  });

  it('is deterministic for a given random source', () => {
    const run = () => allocate({ stripeCount: 2 }, skewed, { next: 0 }, seededRandom(5));
    expect(run()).toEqual(run());
  });
});

describe('isBalanced (qos_threshold_rr 17%)', () => {
  it.each([
    [[100, 100], true],
    [[100, 84], true],
    [[100, 83], false],
    [[100, 0, 100], false],
    [[5], true],
  ])('%j is balanced: %s', (free, expected) => {
    expect(isBalanced(osts(free))).toBe(expected);
  });
});

describe('stripeCountFor', () => {
  it('resolves -1, caps, and refuses unresolved 0', () => {
    expect(stripeCountFor({ stripeCount: -1, stripeOffset: -1 }, 5)).toBe(5);
    expect(stripeCountFor({ stripeCount: 9, stripeOffset: -1 }, 5)).toBe(5);
    expect(stripeCountFor({ stripeCount: 9, stripeOffset: -1, overstriped: true }, 5)).toBe(9);
    expect(() => stripeCountFor({ stripeCount: 0, stripeOffset: -1 }, 5)).toThrow(/must be resolved/);
  });
});
