import { describe, expect, it } from 'vitest';
import { formatGetstripe, parseGetstripeArgs } from './getstripe-format.ts';
import { parseSetstripeArgs } from './setstripe-args.ts';
import { fileLayout } from './testing.ts';
import type { Layout } from './types.ts';

const file = (layout: Layout) => ({ path: '/mnt/lustre/file', layout, isDirectory: false });
const dir = (args: string) => ({
  path: '/mnt/lustre/dir',
  layout: parseSetstripeArgs(args).layout!,
  isDirectory: true,
});

describe('plain files', () => {
  it('prints the lmm_* header and the object table', () => {
    const layout = fileLayout('-c 4', [[3, 2, 1, 0]]);
    layout.generation = 1;
    expect(formatGetstripe(file(layout))).toBe(
      [
        '/mnt/lustre/file',
        'lmm_stripe_count:  4',
        'lmm_stripe_size:   1048576',
        'lmm_pattern:       raid0',
        'lmm_layout_gen:    1',
        'lmm_stripe_offset: 3',
        '\tobdidx\t\t objid\t\t objid\t\t group',
        '\t     3\t           100\t         0x64\t             0',
        '\t     2\t           101\t         0x65\t             0',
        '\t     1\t           102\t         0x66\t             0',
        '\t     0\t           103\t         0x67\t             0',
        '',
        '',
      ].join('\n'),
    );
  });

  it('prints the pool and an overstriped pattern', () => {
    const text = formatGetstripe(file(fileLayout('-C 2 -p flash', [[1, 1]])));
    expect(text).toContain('lmm_pattern:       raid0,overstriped\n');
    expect(text).toContain('lmm_stripe_offset: 1\nlmm_pool:          flash\n\tobdidx');
  });

  it('prints one value without a label or path for a single field', () => {
    const layout = fileLayout('-c 2 -S 4M -p flash', [[1, 0]]);
    expect(formatGetstripe(file(layout), { stripeCount: true })).toBe('2\n\n');
    expect(formatGetstripe(file(layout), { stripeSize: true })).toBe('4194304\n\n');
    expect(formatGetstripe(file(layout), { stripeIndex: true })).toBe('1\n\n');
    expect(formatGetstripe(file(layout), { pool: true })).toBe('flash\n\n');
    expect(formatGetstripe(file(layout), { pattern: true })).toBe('raid0\n\n');
    expect(formatGetstripe(file(layout), { stripeCount: true, stripeSize: true })).toBe(
      '/mnt/lustre/file\nlmm_stripe_count:  2\nlmm_stripe_size:   4194304\n\n',
    );
  });

  it('prints YAML', () => {
    expect(formatGetstripe(file(fileLayout('-c 1', [[2]])), { yaml: true })).toBe(
      [
        'lmm_stripe_count:  1',
        'lmm_stripe_size:   1048576',
        'lmm_pattern:       raid0',
        'lmm_layout_gen:    0',
        'lmm_stripe_offset: 2',
        'lmm_objects:',
        '      - l_ost_idx: 2',
        '        l_fid:     0x100020000:0x64:0x0',
        '',
      ].join('\n'),
    );
  });
});

describe('composite files', () => {
  it('prints the PFL header and each component, objects of instantiated ones', () => {
    const layout = fileLayout('-E 4M -c 1 -E -1 -c 2', [[0]]);
    expect(formatGetstripe(file(layout))).toBe(
      [
        '/mnt/lustre/file',
        '  lcm_layout_gen:    2',
        '  lcm_mirror_count:  1',
        '  lcm_entry_count:   2',
        '    lcme_id:             1',
        '    lcme_mirror_id:      0',
        '    lcme_flags:          init',
        '    lcme_extent.e_start: 0',
        '    lcme_extent.e_end:   4194304',
        '      lmm_stripe_count:  1',
        '      lmm_stripe_size:   1048576',
        '      lmm_pattern:       raid0',
        '      lmm_layout_gen:    0',
        '      lmm_stripe_offset: 0',
        '      lmm_objects:',
        '      -   0: { l_ost_idx:   0, l_fid: [0x100000000:0x64:0x0] }',
        '',
        '    lcme_id:             2',
        '    lcme_mirror_id:      0',
        '    lcme_flags:          0',
        '    lcme_extent.e_start: 4194304',
        '    lcme_extent.e_end:   EOF',
        '      lmm_stripe_count:  2',
        '      lmm_stripe_size:   1048576',
        '      lmm_pattern:       raid0',
        '      lmm_layout_gen:    0',
        '      lmm_stripe_offset: -1',
        '',
        '',
      ].join('\n'),
    );
  });

  it('prints a DoM component with its MDT index and no objects', () => {
    const text = formatGetstripe(file(fileLayout('-E 1M -L mdt -E -1', [[]])));
    expect(text).toContain(
      [
        '    lcme_extent.e_end:   1048576',
        '      lmm_stripe_count:  0',
        '      lmm_stripe_size:   1048576',
        '      lmm_pattern:       mdt',
        '      lmm_layout_gen:    0',
        '      lmm_mdt_index:     0',
        '',
        '    lcme_id:             2',
      ].join('\n'),
    );
  });

  it('prints SEL extension space with its extension size', () => {
    const text = formatGetstripe(file(fileLayout('-E 1G -z 64M -E -1 -z 256M', [[0]])));
    expect(text).toContain(
      [
        '    lcme_id:             4',
        '    lcme_mirror_id:      0',
        '    lcme_flags:          extension',
        '    lcme_extent.e_start: 1073741824',
        '    lcme_extent.e_end:   EOF',
        '      lmm_stripe_count:  0',
        '      lmm_extension_size: 268435456',
        '      lmm_pattern:       raid0',
        '      lmm_layout_gen:    0',
        '      lmm_stripe_offset: -1',
      ].join('\n'),
    );
  });

  it('prints one component with -I, and the last instantiated one for a field', () => {
    const layout = fileLayout('-E 4M -c 1 -E 64M -c 2 -E -1 -c 3', [[0], [1, 2]]);
    const second = formatGetstripe(file(layout), { componentId: 2 });
    expect(second).toContain('    lcme_id:             2\n');
    expect(second).not.toContain('lcme_id:             1\n');
    expect(second).not.toContain('lcme_id:             3\n');
    expect(formatGetstripe(file(layout), { stripeCount: true })).toBe('2\n\n');
    expect(formatGetstripe(file(layout), { extensionSize: true, componentId: 1 })).toBe('\n');
  });

  it('prints YAML', () => {
    const text = formatGetstripe(file(fileLayout('-E 4M -c 1 -E -1', [[1]])), { yaml: true });
    expect(text).toBe(
      [
        'lcm_layout_gen:    2',
        'lcm_mirror_count:  1',
        'lcm_entry_count:   2',
        'components:',
        '  - lcme_id:             1',
        '    lcme_mirror_id:      0',
        '    lcme_flags:          init',
        '    lcme_extent.e_start: 0',
        '    lcme_extent.e_end:   4194304',
        '    sub_layout:',
        '      lmm_stripe_count:  1',
        '      lmm_stripe_size:   1048576',
        '      lmm_pattern:       raid0',
        '      lmm_layout_gen:    0',
        '      lmm_stripe_offset: 1',
        '      lmm_objects:',
        '      - l_ost_idx: 1',
        '        l_fid:     0x100010000:0x64:0x0',
        '  - lcme_id:             2',
        '    lcme_mirror_id:      0',
        '    lcme_flags:          0',
        '    lcme_extent.e_start: 4194304',
        '    lcme_extent.e_end:   EOF',
        '    sub_layout:',
        '      lmm_stripe_count:  1',
        '      lmm_stripe_size:   1048576',
        '      lmm_pattern:       raid0',
        '      lmm_layout_gen:    0',
        '      lmm_stripe_offset: -1',
        '',
      ].join('\n'),
    );
  });
});

describe('directories', () => {
  it('prints a plain default on one line, defaults filled in, without the name for -d', () => {
    expect(formatGetstripe(dir('-c 0 -p flash'), { directoryOnly: true })).toBe(
      'stripe_count:  1 stripe_size:   1048576 pattern:       raid0 stripe_offset: -1 pool:          flash\n\n',
    );
    expect(formatGetstripe(dir('-c -1 -S 4M -i 2'))).toBe(
      '/mnt/lustre/dir\nstripe_count:  -1 stripe_size:   4194304 pattern:       raid0 stripe_offset: 2\n\n',
    );
    const lov = { stripeCount: 2, stripeSize: 4 * 1048576, stripeOffset: -1 };
    expect(formatGetstripe(dir(''), { directoryOnly: true }, lov)).toContain(
      'stripe_count:  2 stripe_size:   4194304',
    );
  });

  it('prints a composite default with N/A ids', () => {
    expect(formatGetstripe(dir('-E 1M -L mdt -E -1 -c 2'), { directoryOnly: true })).toBe(
      [
        '  lcm_layout_gen:    0',
        '  lcm_mirror_count:  1',
        '  lcm_entry_count:   2',
        '    lcme_id:             N/A',
        '    lcme_mirror_id:      N/A',
        '    lcme_flags:          0',
        '    lcme_extent.e_start: 0',
        '    lcme_extent.e_end:   1048576',
        '      stripe_count:  0       stripe_size:   1048576       pattern:       mdt       mdt_index:     -1',
        '',
        '    lcme_id:             N/A',
        '    lcme_mirror_id:      N/A',
        '    lcme_flags:          0',
        '    lcme_extent.e_start: 1048576',
        '    lcme_extent.e_end:   EOF',
        '      stripe_count:  2       stripe_size:   1048576       pattern:       raid0       stripe_offset: -1',
        '',
        '',
      ].join('\n'),
    );
  });
});

describe('parseGetstripeArgs', () => {
  it('reads the field, component, directory and YAML options', () => {
    expect(parseGetstripeArgs(['-c', '-S', '-i', '-p', '-L', '-z', '-d', '-y', '-v'])).toEqual({
      stripeCount: true,
      stripeSize: true,
      stripeIndex: true,
      pool: true,
      pattern: true,
      extensionSize: true,
      directoryOnly: true,
      yaml: true,
    });
    expect(parseGetstripeArgs(['-I', '3'])).toEqual({ componentId: 3 });
    expect(parseGetstripeArgs(['-I3', '--stripe-count'])).toEqual({ componentId: 3, stripeCount: true });
    expect(parseGetstripeArgs(['--component-id=4'])).toEqual({ componentId: 4 });
  });

  it('refuses what it does not know', () => {
    expect(() => parseGetstripeArgs(['-q'])).toThrow("unrecognized option '-q'");
    expect(() => parseGetstripeArgs(['-I', 'x'])).toThrow("invalid component ID 'x'");
    expect(() => parseGetstripeArgs(['-I'])).toThrow("invalid component ID ''");
  });
});
