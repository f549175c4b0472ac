import { KlError } from '../errors.ts';

/** One OST as the allocator sees it (from its last statfs). */
export interface OstSpace {
  index: number;
  /** Connected and accepting new objects (not deactivated, not read-only, not degraded). */
  active: boolean;
  freeBytes: number;
  totalBytes: number;
}

export interface StripeRequest {
  /** -1: every usable OST (of the pool). 0 is not accepted: resolve defaults first (`inheritLayout`). */
  stripeCount: number;
  /** First OST index, or -1 to let the allocator choose. */
  stripeOffset: number;
  pool?: string;
  /** Overstriping (-C): more stripes than OSTs allowed, spread evenly, several per OST. */
  overstriped?: boolean;
  /** An OST with no more than this free is full and skipped. Default 0. */
  minFreeBytes?: number;
  /** OSTs not to use (SEL repeating a component away from OSTs low on space). */
  avoid?: readonly number[];
}

/** Lustre's lqr_start_idx: where the next round-robin allocation starts. Mutated by each allocation. */
export interface RoundRobinState {
  next: number;
}

/**
 * Lustre's qos_threshold_rr default, 17 (percent). LOD keeps it in 1/256ths, so 17% is 43/256, and it
 * allocates round-robin while the emptiest and the fullest OSTs differ by no more than that.
 */
export const QOS_THRESHOLD_RR_PERCENT = 17;
const THRESHOLD_RR_256THS = Math.floor((QOS_THRESHOLD_RR_PERCENT * 256) / 100);

/**
 * Chooses the OSTs for a component's stripes, in stripe order, as Lustre's LOD does:
 * - a given stripe offset: start at that OST and take the following usable OSTs of the pool in index
 *   order (lod_alloc_specific);
 * - free space balanced: round-robin from `state.next` (lod_ost_alloc_rr);
 * - free space imbalanced by more than qos_threshold_rr: weighted random, weight = free bytes
 *   (lod_ost_alloc_qos).
 * Never two stripes on one OST unless overstriped; then stripes go round the OSTs again, so no OST holds
 * more than one stripe more than another. A stripe count above the usable OSTs is silently capped, as
 * Lustre does.
 *
 * Deliberate differences: Lustre orders its round-robin list to alternate between OSSes and weights QoS
 * by free space minus penalties for recent allocations per OST and OSS; we know no OSSes and keep no
 * allocation history, so round-robin goes by OST index and the weight is the free space alone.
 */
export function allocateStripes(
  req: StripeRequest,
  osts: readonly OstSpace[],
  pools: Readonly<Record<string, number[]>>,
  state: RoundRobinState,
  random: () => number,
): number[] {
  const members = poolMembers(req.pool, osts, pools);
  const usable = members.filter((ost) => isUsable(ost, req));
  if (usable.length === 0) {
    const where = req.pool === undefined ? 'the filesystem' : `pool ${req.pool}`;
    throw new KlError('ENOSPC', `no OST with free space in ${where}`);
  }
  const count = stripeCountFor(req, usable.length);
  if (req.stripeOffset >= 0) return fromOffset(req, members, usable, count);
  if (isBalanced(usable)) return roundRobin(usable, count, state);
  return weightedRandom(usable, count, random);
}

/** How many stripes a request gets from `usable` OSTs. */
export function stripeCountFor(req: StripeRequest, usable: number): number {
  if (req.stripeCount === 0 || req.stripeCount < -1) {
    throw new KlError('EINVAL', `stripe count ${req.stripeCount} must be resolved before allocation`);
  }
  if (req.stripeCount === -1) return usable;
  return req.overstriped ? req.stripeCount : Math.min(req.stripeCount, usable);
}

/** True when LOD would allocate round-robin: free space differs by at most qos_threshold_rr. */
export function isBalanced(usable: readonly OstSpace[]): boolean {
  if (usable.length < 2) return true;
  const free = usable.map((ost) => ost.freeBytes);
  const max = Math.max(...free);
  return (max * (256 - THRESHOLD_RR_256THS)) / 256 <= Math.min(...free);
}

function poolMembers(
  pool: string | undefined,
  osts: readonly OstSpace[],
  pools: Readonly<Record<string, number[]>>,
): OstSpace[] {
  const sorted = [...osts].sort((a, b) => a.index - b.index);
  if (pool === undefined) return sorted;
  const indexes = pools[pool];
  if (indexes === undefined) throw new KlError('EINVAL', `pool '${pool}' does not exist`);
  return sorted.filter((ost) => indexes.includes(ost.index));
}

function isUsable(ost: OstSpace, req: StripeRequest): boolean {
  return ost.active && ost.freeBytes > (req.minFreeBytes ?? 0) && !req.avoid?.includes(ost.index);
}

function fromOffset(req: StripeRequest, members: OstSpace[], usable: OstSpace[], count: number): number[] {
  const offset = req.stripeOffset;
  const position = members.findIndex((ost) => ost.index === offset);
  if (position === -1) {
    const where = req.pool === undefined ? 'an OST of the filesystem' : `in pool '${req.pool}'`;
    throw new KlError('EINVAL', `stripe offset ${offset} is not ${where}`);
  }
  // Start at the requested OST, or the first usable one after it if it cannot take a stripe.
  const ordered = [...members.slice(position), ...members.slice(0, position)].filter((ost) =>
    usable.includes(ost),
  );
  return cycle(ordered, 0, count);
}

function roundRobin(usable: OstSpace[], count: number, state: RoundRobinState): number[] {
  const start = state.next % usable.length;
  state.next = (start + count) % usable.length;
  return cycle(usable, start, count);
}

/** `count` OST indexes going round `osts` from `start`: each OST once per round. */
function cycle(osts: OstSpace[], start: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => osts[(start + i) % osts.length]!.index);
}

function weightedRandom(usable: OstSpace[], count: number, random: () => number): number[] {
  const chosen: number[] = [];
  let left: OstSpace[] = [];
  while (chosen.length < count) {
    if (left.length === 0) left = [...usable];
    const total = left.reduce((sum, ost) => sum + ost.freeBytes, 0);
    let target = random() * total;
    const k = left.findIndex((ost) => {
      target -= ost.freeBytes;
      return target < 0;
    });
    const pick = k === -1 ? left.length - 1 : k;
    chosen.push(left[pick]!.index);
    left.splice(pick, 1);
  }
  return chosen;
}
