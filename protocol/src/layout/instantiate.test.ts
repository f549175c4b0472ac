import { describe, expect, it } from 'vitest';
import { KlError } from '../errors.ts';
import {
  assignComponentIds,
  createFileLayout,
  type InstantiateDeps,
  inheritLayout,
  instantiateComponents,
  subdirectoryDefault,
} from './instantiate.ts';
import { parseSetstripeArgs } from './setstripe-args.ts';
import { GIB, type Layout, type LayoutComponent, MIB } from './types.ts';
import { validateLayout } from './validate.ts';

const ctx = { ostCount: 4, domSizeMax: MIB };

/** A fake MDT world: OST free space, and objects allocated in index order with rising object ids. */
function fakeDeps(free: number[]) {
  let objId = 1;
  const deps: InstantiateDeps = {
    ostFreeBytes: (ost) => free[ost] ?? 0,
    allocate(c, { avoid, minFreeBytes }) {
      const usable = [...free.keys()].filter((i) => !avoid.includes(i) && free[i]! > minFreeBytes);
      if (usable.length === 0) throw new KlError('ENOSPC', 'no OST with free space in the filesystem');
      const count = c.stripeCount === -1 ? usable.length : Math.min(c.stripeCount, usable.length);
      return usable.slice(0, count).map((ostIdx) => ({ ostIdx, objId: objId++ }));
    },
  };
  return { deps, free };
}

function newFile(args: string, free = [100 * GIB, 100 * GIB, 100 * GIB, 100 * GIB]) {
  const world = fakeDeps(free);
  const template = inheritLayout(parseSetstripeArgs(args).layout, undefined);
  return { layout: createFileLayout(template, world.deps), ...world };
}

function extents(layout: Layout): string[] {
  return layout.components.map((c: LayoutComponent) => {
    const end = c.end === -1 ? 'EOF' : `${c.end / MIB}M`;
    const state = c.extension ? 'SEL' : c.objects ? `OST${c.objects.map((o) => o.ostIdx).join(',')}` : '-';
    return `${c.id}:[${c.start / MIB}M,${end}) ${state}`;
  });
}

describe('createFileLayout', () => {
  it('assigns ids from the generation and instantiates the first component only', () => {
    const { layout } = newFile('-E 4M -c 1 -E 64M -c 4 -E -1 -c -1');
    expect(layout.generation).toBe(3);
    expect(extents(layout)).toEqual(['1:[0M,4M) OST0', '2:[4M,64M) -', '3:[64M,EOF) -']);
    expect(() => validateLayout(layout, ctx)).not.toThrow();
  });

  it('instantiates a plain layout whole and a DoM component without OST objects', () => {
    expect(extents(newFile('-c 2').layout)).toEqual(['1:[0M,EOF) OST0,1']);
    const dom = newFile('-E 1M -L mdt -E -1 -c 2').layout;
    expect(extents(dom)).toEqual(['1:[0M,1M) OST', '2:[1M,EOF) -']);
    expect(dom.components[0]!.objects).toEqual([]);
  });
});

describe('instantiateComponents: PFL lazy instantiation', () => {
  it('instantiates just the components a write overlaps', () => {
    const { layout, deps } = newFile('-E 4M -c 1 -E 64M -c 4 -E -1 -c -1');
    const first = instantiateComponents(layout, { start: 5 * MIB, end: 6 * MIB }, deps);
    expect(first.changed).toEqual([2]);
    expect(first.layout.generation).toBe(4);
    expect(extents(first.layout)).toEqual(['1:[0M,4M) OST0', '2:[4M,64M) OST0,1,2,3', '3:[64M,EOF) -']);
    const both = instantiateComponents(layout, { start: 4 * MIB - 1, end: GIB }, deps);
    expect(both.changed).toEqual([2, 3]);
    expect(both.layout.generation).toBe(4);
  });

  it('changes nothing when the components are there already', () => {
    const { layout, deps } = newFile('-E 4M -c 1 -E -1');
    const result = instantiateComponents(layout, { start: 0, end: MIB }, deps);
    expect(result).toEqual({ layout, changed: [] });
  });

  it('does not touch the layout it was given', () => {
    const { layout, deps } = newFile('-E 4M -c 1 -E -1');
    const before = structuredClone(layout);
    instantiateComponents(layout, { start: 0, end: GIB }, deps);
    expect(layout).toEqual(before);
  });

  it('refuses an empty or bad range', () => {
    const { layout, deps } = newFile('-c 1');
    expect(() => instantiateComponents(layout, { start: 5, end: 5 }, deps)).toThrow('bad write range [5, 5)');
    expect(() => instantiateComponents(layout, { start: -1, end: 5 }, deps)).toThrow('bad write range');
  });
});

describe('instantiateComponents: self-extending layouts (the Operations Manual example)', () => {
  it('extends, spills over, repeats and forces extension as space runs out', () => {
    const {
      layout: created,
      deps,
      free,
    } = newFile('-E 1G -z 64M -E -1 -z 256M -c 1', [100 * GIB, 100 * GIB]);
    expect(created.generation).toBe(4);
    expect(extents(created)).toEqual([
      '1:[0M,64M) OST0',
      '2:[64M,1024M) SEL',
      '3:[1024M,1024M) -',
      '4:[1024M,EOF) SEL',
    ]);

    const write = (layout: Layout, at: number) => {
      const result = instantiateComponents(layout, { start: at, end: at + 1 }, deps).layout;
      expect(() => validateLayout(result, ctx)).not.toThrow();
      return result;
    };
    let layout = write(write(created, 64 * MIB), 128 * MIB);
    expect(layout.generation).toBe(6);
    expect(extents(layout)).toEqual([
      '1:[0M,192M) OST0',
      '2:[192M,1024M) SEL',
      '3:[1024M,1024M) -',
      '4:[1024M,EOF) SEL',
    ]);

    free[0] = MIB;
    layout = write(layout, 192 * MIB);
    expect(layout.generation).toBe(7);
    expect(extents(layout)).toEqual(['1:[0M,192M) OST0', '3:[192M,448M) OST1', '4:[448M,EOF) SEL']);

    free[0] = 100 * GIB;
    free[1] = MIB;
    layout = write(layout, 448 * MIB);
    expect(layout.generation).toBe(9);
    expect(extents(layout)).toEqual([
      '1:[0M,192M) OST0',
      '3:[192M,448M) OST1',
      '8:[448M,704M) OST0',
      '4:[704M,EOF) SEL',
    ]);

    free[0] = MIB;
    layout = write(layout, 704 * MIB);
    expect(layout.generation).toBe(11);
    expect(extents(layout)).toEqual([
      '1:[0M,192M) OST0',
      '3:[192M,448M) OST1',
      '8:[448M,960M) OST0',
      '4:[960M,EOF) SEL',
    ]);
  });

  it('grants whole extension sizes up to the write end and drops used-up extension space', () => {
    const { layout, deps } = newFile('-E 256M -z 64M -c 1 -E -1 -c 1');
    const far = instantiateComponents(layout, { start: 100 * MIB, end: 130 * MIB }, deps);
    expect(extents(far.layout)).toEqual(['1:[0M,192M) OST0', '2:[192M,256M) SEL', '3:[256M,EOF) -']);
    const past = instantiateComponents(far.layout, { start: 200 * MIB, end: 300 * MIB }, deps);
    expect(extents(past.layout)).toEqual(['1:[0M,256M) OST0', '3:[256M,EOF) OST0']);
    expect(past.changed).toEqual([1, 3]);
  });
});

describe('assignComponentIds', () => {
  it('keeps ids already given and hands out unused ones from the generation', () => {
    const layout = parseSetstripeArgs('-E 1M -E 2M -E -1').layout!;
    layout.components[1]!.id = 2;
    const assigned = assignComponentIds(layout);
    expect(assigned.components.map((c) => c.id)).toEqual([1, 2, 3]);
    expect(assigned.generation).toBe(3);
  });
});

describe('inheritLayout', () => {
  const dirDefault = parseSetstripeArgs('-E 4M -c 1 -E -1 -c 0 -S 0').layout!;
  const rootDefault = parseSetstripeArgs('-c 2 -S 4M').layout!;

  it("takes the directory's default, else the root's, else the lov defaults", () => {
    expect(inheritLayout(dirDefault, rootDefault).components).toHaveLength(2);
    expect(inheritLayout(undefined, rootDefault).components[0]).toMatchObject({
      stripeCount: 2,
      stripeSize: 4 * MIB,
    });
    expect(inheritLayout(undefined, undefined)).toEqual({
      composite: false,
      generation: 0,
      components: [
        { id: 0, start: 0, end: -1, pattern: 'raid0', stripeSize: MIB, stripeCount: 1, stripeOffset: -1 },
      ],
    });
  });

  it('fills unset stripe count and size from the lov defaults, leaving DoM and extension space alone', () => {
    const lov = { stripeCount: 3, stripeSize: 2 * MIB, stripeOffset: -1 };
    expect(
      inheritLayout(dirDefault, undefined, lov).components.map((c) => [c.stripeCount, c.stripeSize]),
    ).toEqual([
      [1, 2 * MIB],
      [3, 2 * MIB],
    ]);
    const dom = inheritLayout(parseSetstripeArgs('-E 1M -L mdt -E 1G -z 64M -E -1').layout, undefined, lov);
    expect(dom.components.map((c) => [c.stripeCount, c.stripeSize])).toEqual([
      [0, MIB],
      [3, MIB],
      [0, 0],
      [3, MIB],
    ]);
  });

  it('gives a template: ids 0, no objects', () => {
    const file = newFile('-E 4M -c 1 -E -1').layout;
    const template = inheritLayout(file, undefined);
    expect(template.components.every((c) => c.id === 0 && c.objects === undefined)).toBe(true);
    expect(template.generation).toBe(0);
  });
});

describe('subdirectoryDefault', () => {
  it("copies a directory's default but not the root's", () => {
    const layout = parseSetstripeArgs('-c 2').layout!;
    expect(subdirectoryDefault(layout, false)).toEqual(layout);
    expect(subdirectoryDefault(layout, false)).not.toBe(layout);
    expect(subdirectoryDefault(layout, true)).toBeUndefined();
    expect(subdirectoryDefault(undefined, false)).toBeUndefined();
  });
});
