import { KlError } from '../errors.ts';
import { LOV_DEFAULTS, type LovDefaults } from './instantiate.ts';
import { EOF_EXTENT, type Layout, type LayoutComponent, type OstObject } from './types.ts';

/** `lfs getstripe` options. With no field option every field is printed, as lfs's default does. */
export interface GetstripeOptions {
  /** -c */
  stripeCount?: boolean;
  /** -S */
  stripeSize?: boolean;
  /** -i */
  stripeIndex?: boolean;
  /** -p */
  pool?: boolean;
  /** -L */
  pattern?: boolean;
  /** -z */
  extensionSize?: boolean;
  /** -I <id>: only this component. */
  componentId?: number;
  /** -d: the directory's own default layout, without its name. */
  directoryOnly?: boolean;
  /** -y */
  yaml?: boolean;
}

export interface GetstripeTarget {
  path: string;
  layout: Layout;
  /** The layout is a directory's default: printed as a template (no objects, N/A ids). */
  isDirectory: boolean;
}

type Field =
  | 'count'
  | 'size'
  | 'extensionSize'
  | 'pattern'
  | 'generation'
  | 'offset'
  | 'pool'
  | 'objects'
  | 'compId'
  | 'mirrorId'
  | 'compFlags'
  | 'compStart'
  | 'compEnd'
  | 'layoutGen'
  | 'mirrorCount'
  | 'entryCount';

const ALL_FIELDS: readonly Field[] = [
  'count',
  'size',
  'extensionSize',
  'pattern',
  'generation',
  'offset',
  'pool',
  'objects',
  'compId',
  'mirrorId',
  'compFlags',
  'compStart',
  'compEnd',
  'layoutGen',
  'mirrorCount',
  'entryCount',
];

interface Style {
  fields: ReadonlySet<Field>;
  /** lfs prints "name: " labels only when more than one field is asked for. */
  labels: boolean;
  yaml: boolean;
  isDirectory: boolean;
  /** Inside a composite layout: lmm_* lines are indented. */
  indent: boolean;
  lov: LovDefaults;
}

/**
 * Renders `lfs getstripe` output as Lustre's liblustreapi prints it (lov_dump_user_lmm_header,
 * lov_dump_comp_v1 and friends), byte for byte. Deliberate differences: kubelustre has one MDT and no
 * per-OST FID sequences, so objects are shown in group 0 (their FIDs are the matching IDIF FIDs,
 * [0x1<ost>0000:<objid>:0x0]) and a DoM component's MDT index is 0; `-v` adds nothing, as we have no
 * lmm_magic/lmm_fid to show.
 */
export function formatGetstripe(
  target: GetstripeTarget,
  options: GetstripeOptions = {},
  lov = LOV_DEFAULTS,
): string {
  const asked = askedFields(options);
  const fields = new Set(asked.length > 0 ? asked : ALL_FIELDS);
  const labels = fields.size > 1;
  const style: Style = {
    fields,
    labels,
    yaml: options.yaml === true,
    isDirectory: target.isDirectory,
    indent: false,
    lov,
  };
  const showPath = labels && !style.yaml && !options.directoryOnly;
  const head = showPath ? `${target.path}\n` : '';
  const { layout } = target;
  if (!layout.composite) return head + subLayout(layout.components[0]!, layout.generation, style);
  return head + composite(layout, options, { ...style, indent: true }, asked.length > 0);
}

function askedFields(options: GetstripeOptions): Field[] {
  const asked: Field[] = [];
  if (options.stripeCount) asked.push('count');
  if (options.stripeSize) asked.push('size');
  if (options.extensionSize) asked.push('extensionSize');
  if (options.pattern) asked.push('pattern');
  if (options.stripeIndex) asked.push('offset');
  if (options.pool) asked.push('pool');
  return asked;
}

function composite(layout: Layout, options: GetstripeOptions, style: Style, fieldsAsked: boolean): string {
  let out = compositeHeader(layout, style);
  const selected = layout.components.filter(
    (c) => options.componentId === undefined || c.id === options.componentId,
  );
  // lfs prints only the last instantiated component when asked for fields of no particular component.
  const shown =
    fieldsAsked && options.componentId === undefined ? [lastInstantiated(layout, style)] : selected;
  for (const c of shown) out += entryHeader(c, style) + subLayout(c, 0, style);
  return out;
}

function lastInstantiated(layout: Layout, style: Style): LayoutComponent {
  const components = layout.components;
  if (style.isDirectory) return components.at(-1)!;
  return components.findLast((c) => c.objects !== undefined) ?? components[0]!;
}

function compositeHeader(layout: Layout, style: Style): string {
  const pad = style.yaml ? '' : '  ';
  const lines: string[] = [];
  const line = (field: Field, label: string, value: number) => {
    if (style.fields.has(field)) lines.push(`${style.labels ? pad + label : ''}${value}\n`);
  };
  line('layoutGen', 'lcm_layout_gen:    ', layout.generation);
  line('mirrorCount', 'lcm_mirror_count:  ', 1);
  line('entryCount', 'lcm_entry_count:   ', layout.components.length);
  return lines.join('') + (style.yaml ? 'components:\n' : '');
}

function entryHeader(c: LayoutComponent, style: Style): string {
  const id = c.id === 0 ? 'N/A' : String(c.id);
  const parts: string[] = [];
  const part = (field: Field, label: string, value: string) => {
    if (!style.fields.has(field)) return;
    const prefix = style.yaml && field === 'compId' ? '  - ' : '    ';
    parts.push(`${style.labels ? prefix + label : ''}${value}`);
  };
  part('compId', 'lcme_id:             ', id);
  part('mirrorId', 'lcme_mirror_id:      ', c.id === 0 ? 'N/A' : '0');
  part('compFlags', 'lcme_flags:          ', componentFlags(c));
  part('compStart', 'lcme_extent.e_start: ', String(c.start));
  part('compEnd', 'lcme_extent.e_end:   ', c.end === EOF_EXTENT ? 'EOF' : String(c.end));
  const separator = parts.length > 0 ? '\n' : '';
  return parts.join('\n') + separator + (style.yaml ? '    sub_layout:\n' : '');
}

function componentFlags(c: LayoutComponent): string {
  if (c.objects !== undefined) return 'init';
  return c.extension ? 'extension' : '0';
}

/** One lov_user_md: the lmm_* lines, then the objects. */
function subLayout(c: LayoutComponent, generation: number, style: Style): string {
  return lmmHeader(c, generation, style) + objectLines(c, style) + (style.yaml ? '' : '\n');
}

function lmmHeader(c: LayoutComponent, generation: number, style: Style): string {
  const { fields, isDirectory } = style;
  const prefix = isDirectory ? '' : 'lmm_';
  const space = style.indent ? '      ' : '';
  const parts: string[] = [];
  const part = (field: Field, name: string, value: string | number) => {
    if (fields.has(field)) parts.push(`${style.labels ? space + prefix + name : ''}${value}`);
  };
  const instantiated = c.objects !== undefined && !isDirectory;
  part('count', 'stripe_count:  ', stripeCountText(c, style));
  if (c.extension) part('extensionSize', 'extension_size: ', c.extensionSize ?? 0);
  else
    part('size', 'stripe_size:   ', isDirectory && c.stripeSize === 0 ? style.lov.stripeSize : c.stripeSize);
  part('pattern', 'pattern:       ', patternName(c));
  if (!isDirectory) part('generation', 'layout_gen:    ', instantiated ? generation : 0);
  const dom = c.pattern === 'mdt';
  part('offset', dom ? 'mdt_index:     ' : 'stripe_offset: ', offsetText(c, instantiated));
  if (c.pool !== undefined) part('pool', 'pool:          ', c.pool);
  const separator = isDirectory && !style.yaml ? ' ' : '\n';
  return parts.length === 0 ? '' : `${parts.join(separator)}\n`;
}

function stripeCountText(c: LayoutComponent, style: Style): number {
  if (c.extension) return 0;
  if (style.isDirectory && c.stripeCount === 0 && c.pattern !== 'mdt') return style.lov.stripeCount;
  if (c.objects !== undefined && c.pattern !== 'mdt' && !style.isDirectory) return c.objects.length;
  return c.stripeCount;
}

function offsetText(c: LayoutComponent, instantiated: boolean): number {
  if (c.pattern === 'mdt') return instantiated ? 0 : c.stripeOffset;
  return instantiated ? c.objects![0]!.ostIdx : c.stripeOffset;
}

function patternName(c: LayoutComponent): string {
  if (c.pattern === 'mdt') return 'mdt';
  return c.overstriped ? 'raid0,overstriped' : 'raid0';
}

function objectLines(c: LayoutComponent, style: Style): string {
  const objects = c.objects;
  if (!style.fields.has('objects') || style.isDirectory || objects === undefined || c.pattern === 'mdt')
    return '';
  if (style.indent || style.yaml) {
    const title = style.indent ? '      lmm_objects:\n' : 'lmm_objects:\n';
    return title + objects.map((o, i) => (style.yaml ? yamlObject(o) : indentedObject(o, i))).join('');
  }
  return `\tobdidx\t\t objid\t\t objid\t\t group\n${objects.map(tableRow).join('')}`;
}

function tableRow(o: OstObject): string {
  const hex = `0x${o.objId.toString(16)}`;
  return `\t${pad(o.ostIdx, 6)}\t${pad(o.objId, 14)}\t${pad(hex, 13)}\t${pad(0, 14)}\n`;
}

function indentedObject(o: OstObject, i: number): string {
  return `      - ${pad(i, 3)}: { l_ost_idx: ${pad(o.ostIdx, 3)}, l_fid: [${fid(o)}] }\n`;
}

function yamlObject(o: OstObject): string {
  return `      - l_ost_idx: ${o.ostIdx}\n        l_fid:     ${fid(o)}\n`;
}

/** The IDIF FID of an object in group 0 (Lustre's ostid_to_fid). */
function fid(o: OstObject): string {
  const seq = 0x100000000 + o.ostIdx * 0x10000 + (Math.floor(o.objId / 2 ** 32) % 0x10000);
  return `0x${seq.toString(16)}:0x${(o.objId % 2 ** 32).toString(16)}:0x0`;
}

function pad(value: string | number, width: number): string {
  return String(value).padStart(width);
}

/**
 * Parses `lfs getstripe` options (argv without the path). `-v` is accepted and changes nothing (see
 * `formatGetstripe`).
 */
export function parseGetstripeArgs(argv: readonly string[]): GetstripeOptions {
  const options: GetstripeOptions = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const flag = FLAGS[arg];
    if (flag !== undefined) {
      if (flag !== 'verbose') options[flag] = true;
      continue;
    }
    const id = /^(?:-I|--component-id=?|--comp-id=?)(\d*)$/.exec(arg);
    if (id === null) throw new KlError('EINVAL', `unrecognized option '${arg}'`);
    const value = id[1] || argv[++i];
    if (value === undefined || !/^\d+$/.test(value))
      throw new KlError('EINVAL', `invalid component ID '${value ?? ''}'`);
    options.componentId = Number(value);
  }
  return options;
}

type Flag = Exclude<keyof GetstripeOptions, 'componentId'> | 'verbose';

const FLAGS: Record<string, Flag> = {
  '-c': 'stripeCount',
  '--stripe-count': 'stripeCount',
  '-S': 'stripeSize',
  '--stripe-size': 'stripeSize',
  '-i': 'stripeIndex',
  '--stripe-index': 'stripeIndex',
  '--stripe-offset': 'stripeIndex',
  '-p': 'pool',
  '--pool': 'pool',
  '-L': 'pattern',
  '--layout': 'pattern',
  '-z': 'extensionSize',
  '--extension-size': 'extensionSize',
  '--ext-size': 'extensionSize',
  '-d': 'directoryOnly',
  '--directory': 'directoryOnly',
  '-y': 'yaml',
  '--yaml': 'yaml',
  '-v': 'verbose',
  '--verbose': 'verbose',
};
