import { KlError } from '../errors.ts';
import {
  DOM_SIZE_LFS_MAX,
  EOF_EXTENT,
  KIB,
  type Layout,
  type LayoutComponent,
  STRIPE_COUNT_MAX,
  STRIPE_SIZE_UNIT,
} from './types.ts';
import { validateTemplate } from './validate.ts';

/** What an `lfs setstripe` command line asks for. */
export interface SetstripeArgs {
  /** The layout template; undefined with `-d`. */
  layout: Layout | undefined;
  /** `-d`: delete the directory's default layout. */
  deleteDefault: boolean;
}

type Option = 'end' | 'count' | 'overstripe' | 'size' | 'index' | 'pool' | 'layout' | 'extension' | 'delete';

const SHORT: Record<string, Option> = {
  E: 'end',
  c: 'count',
  C: 'overstripe',
  S: 'size',
  s: 'size',
  i: 'index',
  p: 'pool',
  L: 'layout',
  z: 'extension',
  d: 'delete',
};

const LONG: Record<string, Option> = {
  'component-end': 'end',
  'comp-end': 'end',
  'stripe-count': 'count',
  'overstripe-count': 'overstripe',
  'stripe-size': 'size',
  'stripe-index': 'index',
  'stripe-offset': 'index',
  pool: 'pool',
  layout: 'layout',
  'extension-size': 'extension',
  'ext-size': 'extension',
  delete: 'delete',
};

/** lfs's struct lfs_setstripe_args: the options of the component being read. */
interface ComponentArgs {
  end: number | undefined;
  stripeSize: number | undefined;
  stripeCount: number | undefined;
  stripeOffset: number | undefined;
  pattern: 'raid0' | 'mdt' | 'overstriped';
  pool: string | undefined;
  extensionSize: number | undefined;
}

/**
 * Parses `lfs setstripe` options (argv, or one string as a StorageClass parameter carries them, e.g.
 * "-E 64M -L mdt -E -1 -c 4") into a layout template, validated. As lfs does, options before and after
 * each `-E` belong to the component that `-E` ends, and a new component inherits the stripe size, stripe
 * count and pool of the one before (not its offset, pattern or extension size). lfs's quirk comes with
 * it: a DoM component's stripe size is its size, so the component after it inherits that stripe size.
 * File and directory names are not options and are refused.
 */
export function parseSetstripeArgs(args: string | readonly string[]): SetstripeArgs {
  const argv = typeof args === 'string' ? args.trim().split(/\s+/).filter(Boolean) : args;
  const components: LayoutComponent[] = [];
  let current = freshArgs();
  let deleteDefault = false;
  let anyOption = false;
  for (let i = 0; i < argv.length; i++) {
    const { option, value, consumed } = readOption(argv, i);
    i += consumed;
    anyOption ||= option !== 'delete';
    if (option === 'delete') deleteDefault = true;
    else if (option === 'end' && current.end !== undefined) {
      components.push(...buildComponents(current, components));
      current = {
        ...freshArgs(),
        stripeSize: current.stripeSize,
        stripeCount: current.stripeCount,
        pool: current.pool,
      };
    }
    if (option !== 'delete') applyOption(current, option, value!, components.length > 0);
  }
  if (deleteDefault) {
    if (anyOption) fail('option -d is mutually exclusive with -s, -c, -o, -p, -I, -F and -E options');
    return { layout: undefined, deleteDefault };
  }
  const layout = finish(current, components);
  validateTemplate(layout);
  return { layout, deleteDefault };
}

function freshArgs(): ComponentArgs {
  return {
    end: undefined,
    stripeSize: undefined,
    stripeCount: undefined,
    stripeOffset: undefined,
    pattern: 'raid0',
    pool: undefined,
    extensionSize: undefined,
  };
}

function readOption(
  argv: readonly string[],
  i: number,
): { option: Option; value?: string; consumed: number } {
  const arg = argv[i]!;
  const long = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
  const short = /^-([a-zA-Z])(.*)$/.exec(arg);
  const option = long ? LONG[long[1]!] : short ? SHORT[short[1]!] : undefined;
  if (!long && !short) fail(`unexpected argument '${arg}': only options are accepted`);
  if (option === undefined) fail(`unrecognized option '${arg}'`);
  const inline = long ? long[2] : short![2] || undefined;
  if (option === 'delete') {
    if (inline !== undefined) fail(`option '${arg}' takes no value`);
    return { option, consumed: 0 };
  }
  if (inline !== undefined) return { option, value: inline, consumed: 0 };
  const next = argv[i + 1];
  if (next === undefined) fail(`option '${arg}' requires an argument`);
  return { option, value: next, consumed: 1 };
}

function applyOption(args: ComponentArgs, option: Option, value: string, hasPrevious: boolean): void {
  switch (option) {
    case 'end':
      args.end = parseEnd(value);
      return;
    case 'overstripe':
      if (args.pattern === 'mdt') fail('-C|--overstripe-count incompatible with DoM layout');
      args.pattern = 'overstriped';
      args.stripeCount = parseCount(value);
      return;
    case 'count':
      args.stripeCount = parseCount(value);
      return;
    case 'size':
      args.stripeSize = parseSizeArg(value, 'stripe size', true);
      return;
    case 'index':
      args.stripeOffset = parseIndex(value);
      return;
    case 'pool':
      args.pool = value === '' || value === 'none' ? undefined : value;
      return;
    case 'layout':
      applyPattern(args, value, hasPrevious);
      return;
    case 'extension':
      args.extensionSize = parseSizeArg(value, 'extension size', false);
      return;
  }
}

function applyPattern(args: ComponentArgs, value: string, hasPrevious: boolean): void {
  if (value === 'raid0') return;
  if (value !== 'mdt') fail(`layout '${value}' is unknown, supported layouts are: 'mdt', 'raid0'`);
  if (hasPrevious) fail("'mdt' layout can be only the first one");
  args.pattern = 'mdt';
}

function parseEnd(value: string): number {
  if (value === '-1' || value.toLowerCase() === 'eof') return EOF_EXTENT;
  const end = parseSizeArg(value, 'component end', true);
  if (end === 0) fail(`invalid component end '${value}': must be above 0`);
  return end;
}

function parseCount(value: string): number {
  const count = parseInteger(value);
  if (count === undefined || count < -1 || count > STRIPE_COUNT_MAX) {
    fail(`invalid stripe count '${value}': must be -1..${STRIPE_COUNT_MAX}`);
  }
  return count;
}

function parseIndex(value: string): number {
  const index = parseInteger(value);
  if (index === undefined || index < -1) fail(`invalid stripe offset '${value}': must be an OST index or -1`);
  return index;
}

function parseInteger(value: string): number | undefined {
  if (!/^-?(0x[0-9a-f]+|\d+)$/i.test(value)) return undefined;
  const n = value.startsWith('-') ? -Number(value.slice(1)) : Number(value);
  return Number.isSafeInteger(n) ? n : undefined;
}

const SUFFIXES = 'kmgtpe';

/**
 * llapi_parse_size: a number with an optional binary suffix K, M, G, T, P or E. For stripe sizes and
 * component ends lfs takes a value below 4096 to be in KiB ("-S 1024" is 1 MiB).
 */
function parseSizeArg(value: string, what: string, smallIsKib: boolean): number {
  const match = /^(\d+)([kmgtpe])?$/i.exec(value);
  if (!match) fail(`invalid ${what} '${value}': not a size like 1048576, 1024K or 1M`);
  const power = match[2] ? SUFFIXES.indexOf(match[2].toLowerCase()) + 1 : 0;
  let size = Number(match[1]) * KIB ** power;
  if (smallIsKib && size < 4096) size *= KIB;
  if (!Number.isSafeInteger(size)) fail(`invalid ${what} '${value}': too big`);
  if (size % STRIPE_SIZE_UNIT !== 0) fail(`invalid ${what} '${value}': not a multiple of 64 KiB`);
  return size;
}

function finish(current: ComponentArgs, components: LayoutComponent[]): Layout {
  if (current.end !== undefined) {
    components.push(...buildComponents(current, components));
    return { composite: true, generation: 0, components };
  }
  if (current.pattern === 'mdt') fail("Invalid pattern: '-L mdt', must be specified with -E");
  if (current.extensionSize !== undefined) fail('an extension size (-z) needs a component end (-E)');
  return { composite: false, generation: 0, components: [raid0({ ...current, end: EOF_EXTENT }, 0)] };
}

/** lfs's comp_args_to_layout: one component, or an extendable + extension pair with -z. */
function buildComponents(args: ComponentArgs, previous: LayoutComponent[]): LayoutComponent[] {
  const start = previous.at(-1)?.end ?? 0;
  if (args.pattern === 'mdt') return [domComponent(args, start)];
  if (args.extensionSize === undefined) return [raid0(args, start)];
  // The extendable component starts zero-length: the MDT grows it as writes reach the extension space.
  const extendable = raid0({ ...args, end: start }, start);
  const extension: LayoutComponent = {
    id: 0,
    start,
    end: args.end!,
    pattern: 'raid0',
    stripeSize: 0,
    stripeCount: 0,
    stripeOffset: -1,
    extension: true,
    extensionSize: args.extensionSize,
  };
  return [extendable, extension];
}

function domComponent(args: ComponentArgs, start: number): LayoutComponent {
  const without = (option: string, value: unknown) =>
    fail(`Option '${option}' can't be specified with Data-on-MDT component: ${value}`);
  if (args.stripeCount !== undefined) without('stripe-count', args.stripeCount);
  if (args.stripeSize !== undefined) without('stripe-size', args.stripeSize);
  if (args.stripeOffset !== undefined) without('stripe-offset', args.stripeOffset);
  if (args.pool !== undefined) without('pool', `'${args.pool}'`);
  const end = args.end!;
  if (end === EOF_EXTENT || end > DOM_SIZE_LFS_MAX) {
    throw new KlError('EFBIG', "'mdt' layout size is too big");
  }
  args.stripeSize = end;
  return { id: 0, start, end, pattern: 'mdt', stripeSize: end, stripeCount: 0, stripeOffset: -1 };
}

function raid0(args: ComponentArgs, start: number): LayoutComponent {
  const component: LayoutComponent = {
    id: 0,
    start,
    end: args.end!,
    pattern: 'raid0',
    stripeSize: args.stripeSize ?? 0,
    stripeCount: args.stripeCount ?? 0,
    stripeOffset: args.stripeOffset ?? -1,
  };
  if (args.pattern === 'overstriped') component.overstriped = true;
  if (args.pool !== undefined) component.pool = args.pool;
  return component;
}

function fail(reason: string): never {
  throw new KlError('EINVAL', reason);
}
