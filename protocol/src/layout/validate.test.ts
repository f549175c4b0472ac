import { describe, expect, it } from 'vitest';
import { parseSetstripeArgs } from './setstripe-args.ts';
import { fileLayout } from './testing.ts';
import { EOF_EXTENT, GIB, type Layout, type LayoutComponent, MIB } from './types.ts';
import { type ValidateContext, validateLayout, validateTemplate } from './validate.ts';

const ctx: ValidateContext = { ostCount: 8, pools: { fast: [0, 1], empty: [] }, domSizeMax: MIB };

function template(args: string): Layout {
  return parseSetstripeArgs(args).layout!;
}

function raid0(start: number, end: number, extra: Partial<LayoutComponent> = {}): LayoutComponent {
  return { id: 0, start, end, pattern: 'raid0', stripeSize: MIB, stripeCount: 1, stripeOffset: -1, ...extra };
}

function composite(...components: LayoutComponent[]): Layout {
  return { composite: true, generation: 0, components };
}

describe('validateLayout accepts every layout kind', () => {
  it.each([
    ['plain 1 stripe', fileLayout('-c 1', [[0]])],
    ['plain 4 stripes in a pool', fileLayout('-c 2 -p fast', [[0, 1]])],
    ['count 1 with offset', fileLayout('-c 1 -i 5', [[5]])],
    ['PFL, lazily instantiated', fileLayout('-E 4M -c 1 -E 64M -c 4 -E -1 -c -1', [[0]])],
    ['DoM first component', fileLayout('-E 1M -L mdt -E -1 -c 2', [[], [2, 3]])],
    ['overstriping 8 on 4', fileLayout('-C 8', [[0, 1, 2, 3, 0, 1, 2, 3]])],
    ['stripe count above the OSTs (capped by allocation)', fileLayout('-c 2000', [])],
  ])('%s', (_, layout) => {
    expect(() => validateLayout(layout, ctx)).not.toThrow();
  });

  it('a SEL layout as the MDT grows it', () => {
    const sel = fileLayout('-E 1G -z 64M -E -1 -z 256M', [[0]]);
    sel.components[0]!.end = 64 * MIB;
    sel.components[1]!.start = 64 * MIB;
    expect(() => validateLayout(sel, ctx)).not.toThrow();
  });
});

describe('stripe size, count and offset', () => {
  it.each([
    ['-S 100000', 'stripe size 100000 is not a multiple of 65536'],
    ['-S 0', 'stripe size 0: the default was not resolved'],
    ['-S 4294967296', 'stripe size 4294967296 is not below 4 GiB'],
    ['-c 2001', 'stripe count 2001 is out of range -1..2000'],
    ['-c -2', 'stripe count -2 is out of range -1..2000'],
    ['-c 0', 'component 1 has stripe count 0: the default was not resolved'],
    ['-i 8', 'stripe offset 8 is not an OST index: the filesystem has 8 OSTs'],
    ['-i 3 -p fast', "stripe offset 3 is not in pool 'fast'"],
    ['-p nope', "pool 'nope' does not exist"],
    ['-p empty', "pool 'empty' has no OSTs"],
  ])('%s: %s', (args, message) => {
    const [key, value, ...rest] = args.split(' ');
    const c = raid0(0, EOF_EXTENT);
    const edits: Record<string, Partial<LayoutComponent>> = {
      '-S': { stripeSize: Number(value) },
      '-c': { stripeCount: Number(value) },
      '-i': { stripeOffset: Number(value), ...(rest[0] === '-p' ? { pool: rest[1] } : {}) },
      '-p': { pool: value },
    };
    const layout = { ...composite({ ...c, ...edits[key!], id: 1 }), composite: false };
    expect(() => validateLayout(layout, ctx)).toThrow(message);
  });

  it('lets a template leave stripe count, size and offset to the defaults', () => {
    expect(() => validateTemplate(template('-E 4M -E -1'))).not.toThrow();
    expect(() => validateTemplate(template('-c 0 -S 0 -i -1'))).not.toThrow();
  });

  it('checks objects of instantiated components', () => {
    expect(() => validateLayout(fileLayout('-c 2', [[1, 1]]), ctx)).toThrow(
      'component 1 has two stripes on OST 1 but is not overstriped',
    );
    expect(() => validateLayout(fileLayout('-c 1', [[0, 1]]), ctx)).toThrow(
      'component 1 has 2 objects for stripe count 1',
    );
    expect(() => validateLayout(fileLayout('-c 1', [[9]]), ctx)).toThrow(
      'object on OST 9, which does not exist',
    );
    expect(() => validateLayout(fileLayout('-c 1', [[]]), ctx)).toThrow('instantiated without objects');
  });
});

describe('extents', () => {
  it('must be contiguous from 0 and end at EOF', () => {
    const gap = composite(raid0(0, 32 * MIB), raid0(64 * MIB, EOF_EXTENT));
    expect(() => validateTemplate(gap)).toThrow(
      'extents are not contiguous: component 2 starts at 67108864 but component 1 ends at 33554432',
    );
    expect(() => validateTemplate(composite(raid0(MIB, EOF_EXTENT)))).toThrow(
      'first component must start at 0, not 1048576',
    );
    expect(() => validateTemplate(composite(raid0(0, 4 * MIB)))).toThrow('last component must end at EOF');
    expect(() => validateTemplate(composite(raid0(0, EOF_EXTENT), raid0(EOF_EXTENT, EOF_EXTENT)))).toThrow(
      'component 1 ends at EOF but is followed by component 2',
    );
  });

  it('must end after they start, on 64 KiB and on the stripe size', () => {
    expect(() => validateTemplate(template('-E 64M -E 32M -E -1'))).toThrow(
      'component 2 ends at 33554432, before its start 67108864',
    );
    expect(() => validateTemplate(composite(raid0(0, MIB + 4096), raid0(MIB + 4096, EOF_EXTENT)))).toThrow(
      'component 1 end 1052672 is not a multiple of 65536',
    );
    expect(() => validateTemplate(template('-E 6M -S 4M -E -1'))).toThrow(
      'component 1 end 6291456 is not aligned to its stripe size 4194304',
    );
    expect(() => validateTemplate(composite(raid0(0, 0), raid0(0, EOF_EXTENT)))).toThrow(
      'component 1 has zero length but is not followed by extension space',
    );
  });

  it('are limited to 64 components', () => {
    const many = Array.from({ length: 65 }, (_, i) => raid0(i * MIB, i === 64 ? EOF_EXTENT : (i + 1) * MIB));
    expect(() => validateTemplate(composite(...many))).toThrow('a layout has at most 64 components, not 65');
  });

  it('a plain layout has one component; file components have unique ids', () => {
    const two = { ...composite(raid0(0, MIB), raid0(MIB, EOF_EXTENT)), composite: false };
    expect(() => validateTemplate(two)).toThrow('a plain layout has exactly one component');
    const sameIds = composite({ ...raid0(0, MIB), id: 1 }, { ...raid0(MIB, EOF_EXTENT), id: 1 });
    expect(() => validateLayout(sameIds, ctx)).toThrow('component ids must be unique and nonzero');
  });
});

describe('Data-on-MDT', () => {
  const dom = (end: number, extra: Partial<LayoutComponent> = {}): LayoutComponent =>
    raid0(0, end, { pattern: 'mdt', stripeSize: end, stripeCount: 0, ...extra });

  it('must be the first component', () => {
    const second = composite(raid0(0, MIB), { ...dom(2 * MIB), start: MIB }, raid0(2 * MIB, EOF_EXTENT));
    expect(() => validateTemplate(second)).toThrow('DoM component must be the first');
  });

  it('fits the MDT limit and has stripe size = size', () => {
    expect(() => validateTemplate(composite(dom(2 * MIB), raid0(2 * MIB, EOF_EXTENT)), ctx)).toThrow(
      'DoM component size 2097152 is bigger than MDT limit 1048576, check dom_stripesize parameter',
    );
    expect(() =>
      validateTemplate(composite(dom(MIB, { stripeSize: 64 * 1024 }), raid0(MIB, EOF_EXTENT))),
    ).toThrow('DoM component stripe size 65536 must equal its size 1048576');
    expect(() => validateTemplate(composite(dom(MIB), raid0(MIB, EOF_EXTENT)), { domSizeMax: 0 })).toThrow(
      'bigger than MDT limit 0',
    );
  });

  it('takes no stripe count, pool or OST objects', () => {
    const withCount = composite(dom(MIB, { stripeCount: 4 }), raid0(MIB, EOF_EXTENT));
    expect(() => validateTemplate(withCount)).toThrow(
      "Option 'stripe-count' can't be specified with Data-on-MDT component: 4",
    );
    const withPool = composite(dom(MIB, { pool: 'fast' }), raid0(MIB, EOF_EXTENT));
    expect(() => validateTemplate(withPool)).toThrow("Option 'pool' can't be specified");
    const withObjects = composite(dom(MIB, { objects: [{ ostIdx: 0, objId: 1 }] }), raid0(MIB, EOF_EXTENT));
    expect(() => validateTemplate(withObjects)).toThrow('DoM component has no OST objects');
    const instantiated = composite(raid0(0, EOF_EXTENT, { objects: [{ ostIdx: 0, objId: 1 }] }));
    expect(() => validateTemplate(instantiated)).toThrow('a layout template has no objects');
  });

  it('is never extension space nor followed by it', () => {
    const followed = composite(dom(MIB), raid0(MIB, EOF_EXTENT, { extension: true, extensionSize: MIB }));
    expect(() => validateTemplate(followed)).toThrow('DoM components cannot be followed by extension space');
  });
});

describe('self-extending layouts', () => {
  const ext = (start: number, end: number, extensionSize = 64 * MIB) =>
    raid0(start, end, { extension: true, extensionSize, stripeSize: 0, stripeCount: 0 });

  it('accepts what lfs setstripe -z makes', () => {
    expect(() => validateTemplate(template('-E 1G -z 64M -E -1 -z 256M'))).not.toThrow();
  });

  it('refuses extension space first, twice in a row, or instantiated', () => {
    expect(() => validateTemplate(composite(ext(0, EOF_EXTENT)))).toThrow(
      'extension space cannot be the first component',
    );
    expect(() => validateTemplate(composite(raid0(0, 0), ext(0, GIB), ext(GIB, EOF_EXTENT)))).toThrow(
      'component 2 and component 3 are both extension space',
    );
    const init = { ...ext(0, EOF_EXTENT), objects: [{ ostIdx: 0, objId: 1 }] };
    expect(() => validateLayout(composite({ ...raid0(0, 0), id: 1 }, { ...init, id: 2 }), ctx)).toThrow(
      'component 2 is extension space and cannot be instantiated',
    );
  });

  it('checks the extension size', () => {
    expect(() => validateTemplate(composite(raid0(0, 0), ext(0, EOF_EXTENT, 0)))).toThrow(
      'without an extension size',
    );
    expect(() => validateTemplate(composite(raid0(0, 0), ext(0, EOF_EXTENT, 100000)))).toThrow(
      'extension size 100000 is not a multiple of 65536',
    );
    const big = composite(raid0(0, 0, { stripeSize: 4 * MIB }), ext(0, EOF_EXTENT, 2 * MIB));
    expect(() => validateTemplate(big)).toThrow(
      'extension size 2097152 is not aligned to the stripe size 4194304 of component 1',
    );
    const end = composite(
      raid0(0, 0, { stripeSize: 4 * MIB }),
      ext(0, 6 * MIB, 4 * MIB),
      raid0(6 * MIB, EOF_EXTENT),
    );
    expect(() => validateTemplate(end)).toThrow(
      'component 2 end 6291456 is not aligned to the stripe size 4194304',
    );
  });

  it('wants a later extendable component zero-length until instantiated', () => {
    const grown = composite(raid0(0, GIB), raid0(GIB, 2 * GIB), ext(2 * GIB, EOF_EXTENT));
    expect(() => validateTemplate(grown)).toThrow(
      'component 2 is followed by extension space, so it must start out zero-length',
    );
  });

  it('keeps extension sizes on extension space only', () => {
    expect(() => validateTemplate(composite(raid0(0, EOF_EXTENT, { extensionSize: MIB })))).toThrow(
      'component 1 has an extension size but is not extension space',
    );
  });
});
