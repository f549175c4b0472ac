import { formatGetstripe } from '@kubelustre/protocol/layout/getstripe-format.ts';
import { parseSetstripeArgs } from '@kubelustre/protocol/layout/setstripe-args.ts';
import type { Layout } from '@kubelustre/protocol/layout/types.ts';
import { describe, expect, it } from 'vitest';
import { layoutMismatches, parseGetstripe } from './getstripe-output.ts';

/** The e2e StorageClass's layout (test/e2e/values.yaml), instantiated as the MDT does for a 3 MiB file. */
function instantiated(ostsOfComponent: number[][]): { template: Layout; file: Layout } {
  const template = parseSetstripeArgs('-E 1M -c 1 -S 64K -E -1 -c 2 -S 64K').layout!;
  const file: Layout = {
    ...template,
    generation: 3,
    components: template.components.map((c, i) => ({
      ...c,
      id: i + 1,
      objects: ostsOfComponent[i]!.map((ostIdx, n) => ({ ostIdx, objId: 10 + i * 4 + n })),
    })),
  };
  return { template, file };
}

describe('getstripe output, as the e2e reads it in a pod', () => {
  it('reads back every component of what lfs getstripe prints for a PFL file', () => {
    const { template, file } = instantiated([[1], [0, 1]]);
    const printed = parseGetstripe(formatGetstripe({ path: '/data/big', layout: file, isDirectory: false }));
    expect(printed).toEqual([
      { start: 0, end: 1048576, stripeCount: 1, stripeSize: 65536, ostIndexes: [1] },
      { start: 1048576, end: -1, stripeCount: 2, stripeSize: 65536, ostIndexes: [0, 1] },
    ]);
    expect(layoutMismatches(printed, template)).toEqual([]);
  });

  it('names what differs from the template', () => {
    const { template, file } = instantiated([[0], [1, 1]]);
    const printed = parseGetstripe(formatGetstripe({ path: '/data/big', layout: file, isDirectory: false }));
    expect(layoutMismatches(printed, template)).toEqual(['component 1: two stripes on one OST (1, 1)']);
    expect(layoutMismatches(printed.slice(0, 1), template)).toEqual([
      '1 components printed, the template has 2',
    ]);
  });

  it('refuses output with no component', () => {
    expect(() => parseGetstripe('lfs getstripe: /data/big: No such file or directory\n')).toThrow(
      /no component/,
    );
  });
});
