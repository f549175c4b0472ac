import { describe, expect, it } from 'vitest';
import { isKlError } from '../errors.ts';
import { parseSetstripeArgs } from './setstripe-args.ts';
import { EOF_EXTENT, GIB, KIB, type LayoutComponent, MIB } from './types.ts';

function components(args: string | string[]): Partial<LayoutComponent>[] {
  return parseSetstripeArgs(args).layout!.components;
}

describe('plain layouts', () => {
  it('takes stripe count, size, index and pool', () => {
    expect(parseSetstripeArgs('-c 4 -S 4M -i 2 -p fast')).toEqual({
      deleteDefault: false,
      layout: {
        composite: false,
        generation: 0,
        components: [
          {
            id: 0,
            start: 0,
            end: EOF_EXTENT,
            pattern: 'raid0',
            stripeSize: 4 * MIB,
            stripeCount: 4,
            stripeOffset: 2,
            pool: 'fast',
          },
        ],
      },
    });
  });

  it('leaves unset options to the defaults (0, 0, -1)', () => {
    expect(components('')).toEqual([
      { id: 0, start: 0, end: EOF_EXTENT, pattern: 'raid0', stripeSize: 0, stripeCount: 0, stripeOffset: -1 },
    ]);
    expect(components('-c -1 -i -1')[0]).toMatchObject({ stripeCount: -1, stripeOffset: -1 });
  });

  it('accepts long options, = values, attached short values and argv arrays', () => {
    const expected = components('-c 2 -S 1M');
    expect(components('--stripe-count 2 --stripe-size=1M')).toEqual(expected);
    expect(components('-c2 -S1M')).toEqual(expected);
    expect(components(['-c', '2', '-S', '1M'])).toEqual(expected);
    expect(components('  -c   2\t-S 1M ')).toEqual(expected);
  });

  it('marks overstriping from -C', () => {
    expect(components('-C 8')[0]).toMatchObject({ stripeCount: 8, overstriped: true });
  });

  it.each([
    ['64K', 64 * KIB],
    ['1m', MIB],
    ['1G', GIB],
    ['1024', MIB],
    ['65536', 64 * KIB],
    ['2048K', 2 * MIB],
  ])('reads stripe size %s as %i (below 4096 means KiB, as in lfs)', (value, size) => {
    expect(components(`-S ${value}`)[0]!.stripeSize).toBe(size);
  });

  it('refuses a stripe size of 4 GiB or more', () => {
    expect(() => parseSetstripeArgs('-S 4G')).toThrow('stripe size 4294967296 is not below 4 GiB');
  });
});

describe('composite layouts (-E)', () => {
  it('builds the PFL example of lfs-setstripe(1)', () => {
    expect(
      components('-E 4M -c 1 -E 64M -c 4 -E -1 -c -1').map((c) => [c.start, c.end, c.stripeCount]),
    ).toEqual([
      [0, 4 * MIB, 1],
      [4 * MIB, 64 * MIB, 4],
      [64 * MIB, EOF_EXTENT, -1],
    ]);
    expect(parseSetstripeArgs('-E 1T -E eof').layout!.components.map((c) => c.end)).toEqual([
      1024 * GIB,
      EOF_EXTENT,
    ]);
    expect(parseSetstripeArgs('--component-end=4M -E EOF').layout!.composite).toBe(true);
  });

  it('inherits stripe size, count and pool, but not offset, pattern or extension size', () => {
    const [first, second] = components('-S 2M -E 4M -c 2 -i 1 -p fast -C 3 -E -1');
    expect(first).toMatchObject({
      stripeSize: 2 * MIB,
      stripeCount: 3,
      stripeOffset: 1,
      pool: 'fast',
      overstriped: true,
    });
    expect(second).toMatchObject({ stripeSize: 2 * MIB, stripeCount: 3, stripeOffset: -1, pool: 'fast' });
    expect(second!.overstriped).toBeUndefined();
    expect(components('-E 4M -p fast -E 8M -p none -E -1').map((c) => c.pool)).toEqual([
      'fast',
      undefined,
      undefined,
    ]);
  });

  it('builds a DoM component whose size the next component inherits as stripe size, as lfs does', () => {
    expect(components('-E 64M -L mdt -E -1 -c 4')).toEqual([
      {
        id: 0,
        start: 0,
        end: 64 * MIB,
        pattern: 'mdt',
        stripeSize: 64 * MIB,
        stripeCount: 0,
        stripeOffset: -1,
      },
      {
        id: 0,
        start: 64 * MIB,
        end: EOF_EXTENT,
        pattern: 'raid0',
        stripeSize: 64 * MIB,
        stripeCount: 4,
        stripeOffset: -1,
      },
    ]);
    expect(components('--layout mdt -E 1M -E -1 -S 4M')[1]!.stripeSize).toBe(4 * MIB);
  });

  it('builds extendable + extension pairs for -z, as the manual shows', () => {
    expect(
      components('-E 1G -z 64M -E -1 -z 256M').map((c) => [
        c.start,
        c.end,
        c.extension ?? false,
        c.extensionSize,
      ]),
    ).toEqual([
      [0, 0, false, undefined],
      [0, GIB, true, 64 * MIB],
      [GIB, GIB, false, undefined],
      [GIB, EOF_EXTENT, true, 256 * MIB],
    ]);
    expect(components('--extension-size 64M -c 1 -E -1').map((c) => c.extension ?? false)).toEqual([
      false,
      true,
    ]);
  });
});

describe('-d', () => {
  it('deletes the default and goes with nothing else', () => {
    expect(parseSetstripeArgs('-d')).toEqual({ layout: undefined, deleteDefault: true });
    expect(parseSetstripeArgs(['--delete'])).toEqual({ layout: undefined, deleteDefault: true });
    expect(() => parseSetstripeArgs('-d -c 1')).toThrow(
      'option -d is mutually exclusive with -s, -c, -o, -p, -I, -F and -E options',
    );
  });
});

describe('bad input', () => {
  it.each([
    ['-S 100000', "invalid stripe size '100000': not a multiple of 64 KiB"],
    ['-S 1X', "invalid stripe size '1X': not a size like 1048576, 1024K or 1M"],
    ['-c 2001', "invalid stripe count '2001': must be -1..2000"],
    ['-c two', "invalid stripe count 'two'"],
    ['-i -2', "invalid stripe offset '-2': must be an OST index or -1"],
    ['-E 100000 -E -1', "invalid component end '100000': not a multiple of 64 KiB"],
    ['-E 0', "invalid component end '0': must be above 0"],
    ['-z 1X -E -1', "invalid extension size '1X'"],
    ['-x 1', "unrecognized option '-x'"],
    ['--stripe-colour 1', "unrecognized option '--stripe-colour'"],
    ['-c', "option '-c' requires an argument"],
    ['-d1', "option '-d1' takes no value"],
    ['-c 1 /mnt/lustre/file', "unexpected argument '/mnt/lustre/file': only options are accepted"],
    ['-L foo', "layout 'foo' is unknown, supported layouts are: 'mdt', 'raid0'"],
    ['-E 1M -E -1 -L mdt', "'mdt' layout can be only the first one"],
    ['-L mdt', "Invalid pattern: '-L mdt', must be specified with -E"],
    ['-E 1M -L mdt -c 1 -E -1', "Option 'stripe-count' can't be specified with Data-on-MDT component: 1"],
    [
      '-E 1M -L mdt -S 1M -E -1',
      "Option 'stripe-size' can't be specified with Data-on-MDT component: 1048576",
    ],
    ['-E 1M -L mdt -i 0 -E -1', "Option 'stripe-offset' can't be specified with Data-on-MDT component: 0"],
    ['-E 1M -L mdt -p fast -E -1', "Option 'pool' can't be specified with Data-on-MDT component: 'fast'"],
    ['-E 1M -L mdt -C 2 -E -1', '-C|--overstripe-count incompatible with DoM layout'],
    ['-z 64M', 'an extension size (-z) needs a component end (-E)'],
    ['-E 64M -E 32M -E -1', 'component 2 ends at 33554432, before its start 67108864'],
    ['-E 4M', 'last component must end at EOF'],
  ])('%s: %s', (args, message) => {
    expect(() => parseSetstripeArgs(args)).toThrow(message);
  });

  it('answers a too big DoM component with EFBIG', () => {
    try {
      parseSetstripeArgs('-E 2G -L mdt -E -1');
      expect.unreachable();
    } catch (e) {
      expect(isKlError(e, 'EFBIG')).toBe(true);
      expect((e as Error).message).toBe("EFBIG: 'mdt' layout size is too big");
    }
  });
});
