import { isKlError, type KlError } from '@kubelustre/protocol/errors.ts';
import type { Layout } from '@kubelustre/protocol/layout/types.ts';
import { describe, expect, it } from 'vitest';
import {
  applyPoolOp,
  defaultLayout,
  initialMgsState,
  type MgsState,
  markSilentTargetsDown,
  POOLS_MAX,
  recordReport,
  registerTarget,
  setDefaultLayout,
} from './registry.ts';

const space = { totalBytes: 100, freeBytes: 50, availBytes: 40, files: 10, filesFree: 5 };

function uuid(n: number): string {
  return `00000000-0000-4000-8000-${n.toString().padStart(12, '0')}`;
}

function ost(index: number, n = index) {
  return { role: 'ost' as const, index, uuid: uuid(n), address: `ost${index}:988` };
}

function withOsts(...indexes: number[]): MgsState {
  return indexes.reduce((s, i) => registerTarget(s, ost(i), 1000), initialMgsState('fs1'));
}

function errorOf(fn: () => unknown): KlError {
  try {
    fn();
  } catch (e) {
    if (isKlError(e)) return e;
    throw e;
  }
  throw new Error('expected a KlError');
}

describe('initial state', () => {
  it("starts at version 0 with Lustre's default layout: plain, 1 stripe of 1 MiB, any OST", () => {
    const s = initialMgsState('fs1');
    expect(s).toMatchObject({ fsName: 'fs1', version: 0, targets: [], pools: {} });
    expect(s.defaultLayout.components).toEqual([
      { id: 0, start: 0, end: -1, pattern: 'raid0', stripeSize: 1 << 20, stripeCount: 1, stripeOffset: -1 },
    ]);
  });
});

describe('registerTarget', () => {
  it('adds a new target as up and bumps the version', () => {
    const s = registerTarget(initialMgsState('fs1'), ost(2), 500);
    expect(s.version).toBe(1);
    expect(s.targets).toEqual([{ ...ost(2), state: 'up', lastSeenMs: 500 }]);
  });

  it('keeps targets ordered by role then index', () => {
    let s = withOsts(3, 1);
    s = registerTarget(s, { role: 'mdt', index: 0, uuid: uuid(99), address: 'mdt0:988' }, 1);
    expect(s.targets.map((t) => `${t.role}${t.index}`)).toEqual(['mdt0', 'ost1', 'ost3']);
  });

  it('lets an MDT and an OST share an index', () => {
    const s = registerTarget(withOsts(0), { role: 'mdt', index: 0, uuid: uuid(50), address: 'm:1' }, 1);
    expect(s.targets).toHaveLength(2);
  });

  it('re-registration of the same target with the same address keeps the version', () => {
    const s = withOsts(1);
    const again = registerTarget(s, ost(1), 9000);
    expect(again.version).toBe(s.version);
    expect(again.targets[0]!.lastSeenMs).toBe(9000);
  });

  it('a moved target updates its address and bumps the version', () => {
    const s = withOsts(1);
    const moved = registerTarget(s, { ...ost(1), address: 'elsewhere:988' }, 2000);
    expect(moved.version).toBe(s.version + 1);
    expect(moved.targets[0]!.address).toBe('elsewhere:988');
  });

  it('a down target that registers again comes up and bumps the version', () => {
    const down = markSilentTargetsDown(withOsts(1), 5000);
    const up = registerTarget(down, ost(1), 6000);
    expect(up.targets[0]!.state).toBe('up');
    expect(up.version).toBe(down.version + 1);
  });

  it('refuses another target on a taken index, naming the holder', () => {
    const err = errorOf(() => registerTarget(withOsts(3), ost(3, 77), 1));
    expect(err.code).toBe('EEXIST');
    expect(err.reason).toContain(`OST0003 is already registered by another target (uuid ${uuid(3)})`);
  });

  it('refuses one uuid under two indexes (a copied data directory)', () => {
    const err = errorOf(() => registerTarget(withOsts(1), ost(2, 1), 1));
    expect(err.code).toBe('EEXIST');
    expect(err.reason).toContain('already registered as OST0001');
  });

  it('does not modify its input', () => {
    const s = withOsts(1);
    const copy = structuredClone(s);
    registerTarget(s, { ...ost(1), address: 'x:1' }, 5);
    registerTarget(s, ost(2), 5);
    expect(s).toEqual(copy);
  });

  it('names targets with hex indexes as Lustre does', () => {
    const err = errorOf(() => registerTarget(withOsts(10), ost(10, 5), 1));
    expect(err.reason).toContain('OST000a');
  });
});

describe('recordReport', () => {
  it('records space and time without bumping the version', () => {
    const s = withOsts(1);
    const r = recordReport(s, { role: 'ost', index: 1, space }, 7000);
    expect(r.version).toBe(s.version);
    expect(r.targets[0]).toMatchObject({ space, lastSeenMs: 7000, state: 'up' });
  });

  it('brings a down target back up with a version bump', () => {
    const down = markSilentTargetsDown(withOsts(1), 5000);
    const r = recordReport(down, { role: 'ost', index: 1, space }, 7000);
    expect(r.targets[0]!.state).toBe('up');
    expect(r.version).toBe(down.version + 1);
  });

  it('answers ENOENT for an unknown target, so it registers again', () => {
    const err = errorOf(() => recordReport(withOsts(1), { role: 'mdt', index: 1, space }, 1));
    expect(err.code).toBe('ENOENT');
    expect(err.reason).toContain('MDT0001 is not registered');
  });
});

describe('markSilentTargetsDown', () => {
  it('marks targets last seen before the cutoff down, with one version bump', () => {
    let s = withOsts(1, 2, 3);
    s = recordReport(s, { role: 'ost', index: 2, space }, 9000);
    const r = markSilentTargetsDown(s, 5000);
    expect(r.targets.map((t) => t.state)).toEqual(['down', 'up', 'down']);
    expect(r.version).toBe(s.version + 1);
  });

  it('returns the same state when nobody is silent or silent targets are already down', () => {
    const s = withOsts(1);
    expect(markSilentTargetsDown(s, 1000)).toBe(s);
    const down = markSilentTargetsDown(s, 5000);
    expect(markSilentTargetsDown(down, 6000)).toBe(down);
  });
});

describe('applyPoolOp', () => {
  const op = (o: 'new' | 'add' | 'remove' | 'destroy', pool: string, osts: number[] = []) => ({
    op: o,
    pool,
    osts,
  });

  it('creates, fills, empties and destroys a pool, bumping the version each time', () => {
    let s = withOsts(0, 1, 2);
    const v0 = s.version;
    s = applyPoolOp(s, op('new', 'flash'));
    expect(s.pools).toEqual({ flash: [] });
    s = applyPoolOp(s, op('add', 'flash', [2, 0, 2]));
    expect(s.pools.flash).toEqual([0, 2]);
    s = applyPoolOp(s, op('add', 'flash', [1]));
    expect(s.pools.flash).toEqual([0, 1, 2]);
    s = applyPoolOp(s, op('remove', 'flash', [0, 2]));
    expect(s.pools.flash).toEqual([1]);
    s = applyPoolOp(s, op('remove', 'flash', [1]));
    s = applyPoolOp(s, op('destroy', 'flash'));
    expect(s.pools).toEqual({});
    expect(s.version).toBe(v0 + 6);
  });

  it.each([
    ['new on an existing pool', [op('new', 'p')], op('new', 'p'), 'EEXIST', 'Pool fs1.p already exists'],
    ['new with OSTs', [], op('new', 'p', [1]), 'EINVAL', 'pool_new takes no OSTs'],
    ['add to a missing pool', [], op('add', 'p', [1]), 'ENOENT', 'Pool fs1.p not found'],
    [
      'add of an unregistered OST',
      [op('new', 'p')],
      op('add', 'p', [1, 9]),
      'ENOENT',
      "OST OST0009 is not part of the 'fs1' fs",
    ],
    [
      'add of a member',
      [op('new', 'p'), op('add', 'p', [1])],
      op('add', 'p', [1]),
      'EEXIST',
      'OST OST0001 is already in pool fs1.p',
    ],
    ['add of nothing', [op('new', 'p')], op('add', 'p', []), 'EINVAL', 'needs at least one OST'],
    ['remove from a missing pool', [], op('remove', 'p', [1]), 'ENOENT', 'Pool fs1.p not found'],
    [
      'remove of a non-member',
      [op('new', 'p')],
      op('remove', 'p', [1]),
      'ENOENT',
      'OST OST0001 not found in pool fs1.p',
    ],
    ['destroy of a missing pool', [], op('destroy', 'p'), 'ENOENT', 'Pool fs1.p not found'],
    [
      'destroy of a non-empty pool',
      [op('new', 'p'), op('add', 'p', [1])],
      op('destroy', 'p'),
      'ENOTEMPTY',
      'Pool fs1.p not empty, please remove all members (OST0001)',
    ],
  ] as const)('refuses %s as lctl does', (_what, setup, failing, code, reason) => {
    const s = setup.reduce((st, o) => applyPoolOp(st, o), withOsts(1));
    const err = errorOf(() => applyPoolOp(s, failing));
    expect(err.code).toBe(code);
    expect(err.reason).toContain(reason);
  });

  it('changes nothing when one OST of a batch is refused', () => {
    const s = applyPoolOp(withOsts(1, 2), op('new', 'p'));
    expect(() => applyPoolOp(s, op('add', 'p', [1, 5]))).toThrow();
    expect(s.pools.p).toEqual([]);
  });

  it('only counts OSTs, not MDTs, as members', () => {
    let s = registerTarget(
      initialMgsState('fs1'),
      { role: 'mdt', index: 0, uuid: uuid(9), address: 'm:1' },
      1,
    );
    s = applyPoolOp(s, op('new', 'p'));
    expect(errorOf(() => applyPoolOp(s, op('add', 'p', [0]))).code).toBe('ENOENT');
  });

  it('keeps a pool named like an Object.prototype key as a plain entry', () => {
    let s = applyPoolOp(withOsts(1), op('new', '__proto__'));
    s = applyPoolOp(s, op('add', '__proto__', [1]));
    expect(Object.hasOwn(s.pools, '__proto__')).toBe(true);
    expect(Object.entries(JSON.parse(JSON.stringify(s)).pools)).toEqual([['__proto__', [1]]]);
    expect(errorOf(() => applyPoolOp(withOsts(1), op('add', 'constructor', [1]))).code).toBe('ENOENT');
  });

  it(`refuses more than ${POOLS_MAX} pools`, () => {
    const full = Array.from({ length: POOLS_MAX }, (_, i) => [`p${i}`, []]);
    const s = { ...withOsts(1), pools: Object.fromEntries(full) };
    expect(errorOf(() => applyPoolOp(s, op('new', 'one-more'))).code).toBe('ENOSPC');
  });
});

describe('setDefaultLayout', () => {
  const striped = (over: Partial<Layout['components'][number]>): Layout => {
    const l = defaultLayout();
    return { ...l, components: [{ ...l.components[0]!, ...over }] };
  };

  it('stores a valid layout and bumps the version', () => {
    const s = withOsts(0, 1);
    const layout = striped({ stripeCount: -1, stripeSize: 4 << 20 });
    const r = setDefaultLayout(s, layout);
    expect(r.defaultLayout).toEqual(layout);
    expect(r.version).toBe(s.version + 1);
  });

  it('refuses a stripe size that is not a multiple of 64 KiB', () => {
    expect(errorOf(() => setDefaultLayout(withOsts(0), striped({ stripeSize: 1000 }))).code).toBe('EINVAL');
  });

  it('refuses a stripe offset beyond the registered OSTs and an unknown or empty pool', () => {
    const s = applyPoolOp(withOsts(0, 1), { op: 'new', pool: 'empty', osts: [] });
    expect(errorOf(() => setDefaultLayout(s, striped({ stripeOffset: 5 }))).reason).toContain(
      'not an OST index',
    );
    expect(errorOf(() => setDefaultLayout(s, striped({ pool: 'nope' }))).reason).toContain(
      "pool 'nope' does not exist",
    );
    expect(errorOf(() => setDefaultLayout(s, striped({ pool: 'empty' }))).reason).toContain('has no OSTs');
  });

  it('refuses objects in a template', () => {
    const layout = striped({ objects: [{ ostIdx: 0, objId: 1 }] });
    expect(errorOf(() => setDefaultLayout(withOsts(0), layout)).code).toBe('EINVAL');
  });
});
