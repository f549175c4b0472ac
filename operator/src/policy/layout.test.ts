import { describe, expect, it } from 'vitest';
import { layoutProblem, layoutTemplate, poolsOf, sameLayout } from './layout.ts';

const MIB = 1024 * 1024;

describe('layoutTemplate', () => {
  it('turns a DoM + striped PFL into the MGS template, defaults as 0', () => {
    const layout = layoutTemplate([
      { end: MIB, mdt: true },
      { end: 256 * MIB, stripeCount: 1 },
      { end: -1, stripeCount: -1, stripeSize: 4 * MIB, pool: 'fast' },
    ]);
    expect(layout).toEqual({
      composite: true,
      generation: 0,
      components: [
        { id: 0, start: 0, end: MIB, pattern: 'mdt', stripeSize: MIB, stripeCount: 0, stripeOffset: -1 },
        {
          id: 0,
          start: MIB,
          end: 256 * MIB,
          pattern: 'raid0',
          stripeSize: 0,
          stripeCount: 1,
          stripeOffset: -1,
        },
        {
          id: 0,
          start: 256 * MIB,
          end: -1,
          pattern: 'raid0',
          stripeSize: 4 * MIB,
          stripeCount: -1,
          stripeOffset: -1,
          pool: 'fast',
        },
      ],
    });
    expect(layoutProblem(layout, 2, { fast: [0, 1] })).toBeUndefined();
  });

  it("makes an extension-size component Lustre's extendable + extension-space pair", () => {
    const layout = layoutTemplate([{ end: -1, stripeSize: MIB, extensionSize: 64 * MIB }]);
    expect(layout.components).toEqual([
      { id: 0, start: 0, end: 0, pattern: 'raid0', stripeSize: MIB, stripeCount: 0, stripeOffset: -1 },
      {
        id: 0,
        start: 0,
        end: -1,
        pattern: 'raid0',
        stripeSize: 0,
        stripeCount: 0,
        stripeOffset: -1,
        extension: true,
        extensionSize: 64 * MIB,
      },
    ]);
    expect(layoutProblem(layout, 1, {})).toBeUndefined();
  });

  it('keeps overstriping', () => {
    expect(layoutTemplate([{ end: -1, stripeCount: 8, overstriped: true }]).components[0]?.overstriped).toBe(
      true,
    );
  });
});

describe('layoutProblem', () => {
  it('names a pool the filesystem does not have', () => {
    expect(layoutProblem(layoutTemplate([{ end: -1, pool: 'slow' }]), 2, {})).toMatch(/slow/);
  });
});

describe('poolsOf and sameLayout', () => {
  it('lists each pool once', () => {
    expect(
      poolsOf([
        { end: MIB, pool: 'a' },
        { end: 2 * MIB, pool: 'a' },
        { end: -1, pool: 'b' },
      ]),
    ).toEqual(['a', 'b']);
  });

  it('compares layouts by their components, whatever the generation', () => {
    const a = layoutTemplate([{ end: -1, stripeCount: 2 }]);
    expect(sameLayout(a, { ...a, generation: 7 })).toBe(true);
    expect(sameLayout(a, layoutTemplate([{ end: -1, stripeCount: 3 }]))).toBe(false);
  });
});
