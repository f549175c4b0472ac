import { KlError } from '@kubelustre/protocol/errors.ts';
import { DEFAULT_STRIPE_COUNT, DEFAULT_STRIPE_SIZE, type Layout } from '@kubelustre/protocol/layout/types.ts';
import { validateTemplate } from '@kubelustre/protocol/layout/validate.ts';
import type { FsConfig, pool, register, report, TargetInfo } from '@kubelustre/protocol/messages/mgs.ts';
import type { RequestOf } from '@kubelustre/protocol/messages/op.ts';
import type { Static } from '@sinclair/typebox';
import { targetLabel } from '../server/target-name.ts';

/**
 * The MGS's whole state is the configuration it serves (Lustre's config llog), so one type serves as
 * wire reply and as `mgs.json`. Every function here is a pure transition: it returns a new state (the
 * input is never modified) or throws KlError. A transition that clients must hear of bumps `version`;
 * callers persist and wake long polls exactly when the version changed.
 */
export type MgsState = Static<typeof FsConfig>;
export type TargetInfoValue = Static<typeof TargetInfo>;

/** Pools an MGS keeps, so one misbehaving script cannot grow the configuration without end. */
export const POOLS_MAX = 1024;

/** Lustre's filesystem default: plain layout, 1 stripe of 1 MiB, OST chosen by the allocator. */
export function defaultLayout(): Layout {
  return {
    composite: false,
    generation: 0,
    components: [
      {
        id: 0,
        start: 0,
        end: -1,
        pattern: 'raid0',
        stripeSize: DEFAULT_STRIPE_SIZE,
        stripeCount: DEFAULT_STRIPE_COUNT,
        stripeOffset: -1,
      },
    ],
  };
}

export function initialMgsState(fsName: string): MgsState {
  return { fsName, version: 0, targets: [], pools: {}, defaultLayout: defaultLayout() };
}

function bumped(state: MgsState, change: Partial<MgsState>): MgsState {
  return { ...state, ...change, version: state.version + 1 };
}

function findTarget(state: MgsState, role: string, index: number): TargetInfoValue | undefined {
  return state.targets.find((t) => t.role === role && t.index === index);
}

function withTarget(state: MgsState, target: TargetInfoValue): MgsState['targets'] {
  const others = state.targets.filter((t) => !(t.role === target.role && t.index === target.index));
  return [...others, target].sort((a, b) => a.role.localeCompare(b.role) || a.index - b.index);
}

/**
 * A target announced itself. A new index joins; the same target again (same uuid) updates its address and
 * comes back up; a different target on a taken index is refused, as Lustre refuses a second OST with an
 * index already in its config log.
 */
export function registerTarget(state: MgsState, req: RequestOf<typeof register>, nowMs: number): MgsState {
  const label = targetLabel(req.role, req.index);
  const existing = findTarget(state, req.role, req.index);
  if (existing && existing.uuid !== req.uuid) {
    throw new KlError(
      'EEXIST',
      `${label} is already registered by another target (uuid ${existing.uuid}); ` +
        'give this target a free index, or restore the original target',
    );
  }
  const twin = state.targets.find((t) => t.uuid === req.uuid && t !== existing);
  if (twin) {
    throw new KlError(
      'EEXIST',
      `uuid ${req.uuid} is already registered as ${targetLabel(twin.role, twin.index)}, not ${label}: ` +
        'was its data directory copied? Each target needs its own',
    );
  }
  const target: TargetInfoValue = { ...existing, ...req, state: 'up', lastSeenMs: nowMs };
  const targets = withTarget(state, target);
  const changed = !existing || existing.address !== req.address || existing.state !== 'up';
  return changed ? bumped(state, { targets }) : { ...state, targets };
}

/**
 * A target's heartbeat with its space. Space changes constantly, so it does not bump the version;
 * coming back from `down` does. An unknown target gets ENOENT, which tells it to register again (this
 * MGS lost its state, or never had it).
 */
export function recordReport(state: MgsState, req: RequestOf<typeof report>, nowMs: number): MgsState {
  const existing = findTarget(state, req.role, req.index);
  if (!existing) {
    throw new KlError('ENOENT', `${targetLabel(req.role, req.index)} is not registered with this MGS`);
  }
  const target: TargetInfoValue = { ...existing, space: req.space, lastSeenMs: nowMs, state: 'up' };
  const targets = withTarget(state, target);
  return existing.state === 'up' ? { ...state, targets } : bumped(state, { targets });
}

/** Targets not heard from since `cutoffMs` turn `down`, so clients stop allocating on them. */
export function markSilentTargetsDown(state: MgsState, cutoffMs: number): MgsState {
  const silent = (t: TargetInfoValue) => t.state === 'up' && t.lastSeenMs < cutoffMs;
  if (!state.targets.some(silent)) return state;
  const targets = state.targets.map((t): TargetInfoValue => (silent(t) ? { ...t, state: 'down' } : t));
  return bumped(state, { targets });
}

/**
 * The filesystem default layout (`lfs setstripe` on the root): a template, checked against the OSTs and
 * pools this MGS knows.
 */
export function setDefaultLayout(state: MgsState, layout: Layout): MgsState {
  const ostIndexes = state.targets.filter((t) => t.role === 'ost').map((t) => t.index);
  validateTemplate(layout, { ostCount: Math.max(-1, ...ostIndexes) + 1, pools: state.pools });
  return bumped(state, { defaultLayout: layout });
}

/** lctl pool_new / pool_add / pool_remove / pool_destroy, with lctl's checks and messages. */
export function applyPoolOp(state: MgsState, req: RequestOf<typeof pool>): MgsState {
  const name = `${state.fsName}.${req.pool}`;
  const members = Object.hasOwn(state.pools, req.pool) ? state.pools[req.pool]! : undefined;
  const osts = [...new Set(req.osts)].sort((a, b) => a - b);
  if (req.op === 'new' || req.op === 'destroy') {
    if (osts.length > 0) {
      throw new KlError('EINVAL', `pool_${req.op} takes no OSTs; use pool_add / pool_remove for members`);
    }
  } else if (osts.length === 0) {
    throw new KlError('EINVAL', `pool_${req.op} ${name} needs at least one OST`);
  }
  if (req.op === 'new') {
    if (members) throw new KlError('EEXIST', `Pool ${name} already exists`);
    if (Object.keys(state.pools).length >= POOLS_MAX) {
      throw new KlError(
        'ENOSPC',
        `${state.fsName} already has ${POOLS_MAX} pools; destroy unused ones first`,
      );
    }
    return withPool(state, req.pool, []);
  }
  if (!members) throw new KlError('ENOENT', `Pool ${name} not found`);
  switch (req.op) {
    case 'destroy':
      return destroyPool(state, name, req.pool, members);
    case 'add':
      return addToPool(state, name, req.pool, members, osts);
    case 'remove':
      return removeFromPool(state, name, req.pool, members, osts);
  }
}

function withPool(state: MgsState, poolName: string, members: number[] | undefined): MgsState {
  // Rebuilt with fromEntries: pool names like "__proto__" must stay plain keys.
  const entries = Object.entries(state.pools).filter(([k]) => k !== poolName);
  if (members) entries.push([poolName, members]);
  entries.sort(([a], [b]) => a.localeCompare(b));
  return bumped(state, { pools: Object.fromEntries(entries) });
}

function destroyPool(state: MgsState, name: string, poolName: string, members: number[]): MgsState {
  if (members.length > 0) {
    const list = members.map((i) => targetLabel('ost', i)).join(', ');
    throw new KlError('ENOTEMPTY', `Pool ${name} not empty, please remove all members (${list})`);
  }
  return withPool(state, poolName, undefined);
}

function addToPool(
  state: MgsState,
  name: string,
  poolName: string,
  members: number[],
  osts: number[],
): MgsState {
  const unknown = osts.filter((i) => !findTarget(state, 'ost', i));
  if (unknown.length > 0) {
    const list = unknown.map((i) => targetLabel('ost', i)).join(', ');
    throw new KlError('ENOENT', `OST ${list} is not part of the '${state.fsName}' fs`);
  }
  const present = osts.filter((i) => members.includes(i));
  if (present.length > 0) {
    const list = present.map((i) => targetLabel('ost', i)).join(', ');
    throw new KlError('EEXIST', `OST ${list} is already in pool ${name}`);
  }
  return withPool(
    state,
    poolName,
    [...members, ...osts].sort((a, b) => a - b),
  );
}

function removeFromPool(
  state: MgsState,
  name: string,
  poolName: string,
  members: number[],
  osts: number[],
): MgsState {
  const absent = osts.filter((i) => !members.includes(i));
  if (absent.length > 0) {
    const list = absent.map((i) => targetLabel('ost', i)).join(', ');
    throw new KlError('ENOENT', `OST ${list} not found in pool ${name}`);
  }
  return withPool(
    state,
    poolName,
    members.filter((i) => !osts.includes(i)),
  );
}
