import { EOF_EXTENT, type Layout } from '@kubelustre/protocol/layout/types.ts';

/** One component as `lfs getstripe FILE` prints it, and as the e2e compares it with a StorageClass's. */
export interface PrintedComponent {
  start: number;
  /** EOF_EXTENT for "EOF". */
  end: number;
  stripeCount: number;
  stripeSize: number;
  /** The OST index of each object (l_ost_idx or the obdidx column), in stripe order. */
  ostIndexes: number[];
}

const FIELD = /^\s*(lcme_extent\.e_start|lcme_extent\.e_end|lmm_stripe_count|lmm_stripe_size):\s*(\S+)\s*$/;
/** `- 0: { l_ost_idx: 1, l_fid: ... }` (composite layouts) or `\t 1\t 0x2\t ...` (obdidx table). */
const OBJECT_YAML = /l_ost_idx:\s*(\d+)/;
const OBJECT_TABLE = /^\s+(\d+)\s+(\d+)\s+0x[0-9a-f]+\s+/i;

/**
 * Reads the components of a composite (PFL) file's `lfs getstripe` output: each starts at its
 * lcme_extent.e_start line. Throws on output that has none, so a changed format fails the e2e loudly.
 */
export function parseGetstripe(output: string): PrintedComponent[] {
  const components: PrintedComponent[] = [];
  let current: PrintedComponent | undefined;
  for (const line of output.split('\n')) {
    const field = FIELD.exec(line);
    if (field) {
      const [, name, value] = field as unknown as [string, string, string];
      if (name === 'lcme_extent.e_start') {
        current = { start: Number(value), end: 0, stripeCount: 0, stripeSize: 0, ostIndexes: [] };
        components.push(current);
      } else if (current === undefined) {
        throw new Error(`getstripe output has ${name} before any component:\n${output}`);
      } else if (name === 'lcme_extent.e_end') {
        current.end = value === 'EOF' ? EOF_EXTENT : Number(value);
      } else if (name === 'lmm_stripe_count') {
        current.stripeCount = Number(value);
      } else {
        current.stripeSize = Number(value);
      }
      continue;
    }
    const object = OBJECT_YAML.exec(line) ?? OBJECT_TABLE.exec(line);
    if (object && current) current.ostIndexes.push(Number(object[1]));
  }
  if (components.length === 0) throw new Error(`getstripe output shows no component:\n${output}`);
  return components;
}

/** The differences between a file's printed components and the template it was created with. */
export function layoutMismatches(printed: PrintedComponent[], template: Layout): string[] {
  const problems: string[] = [];
  if (printed.length !== template.components.length) {
    problems.push(`${printed.length} components printed, the template has ${template.components.length}`);
  }
  template.components.forEach((want, i) => {
    const got = printed[i];
    if (!got) return;
    const expect = (what: string, actual: number, wanted: number) => {
      if (actual !== wanted) problems.push(`component ${i}: ${what} ${actual}, expected ${wanted}`);
    };
    expect('start', got.start, want.start);
    expect('end', got.end, want.end);
    expect('stripe count', got.stripeCount, want.stripeCount);
    expect('stripe size', got.stripeSize, want.stripeSize);
    expect('objects', got.ostIndexes.length, want.stripeCount);
    if (new Set(got.ostIndexes).size !== got.ostIndexes.length) {
      problems.push(`component ${i}: two stripes on one OST (${got.ostIndexes.join(', ')})`);
    }
  });
  return problems;
}
