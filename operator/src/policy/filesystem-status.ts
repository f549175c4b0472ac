import type { FsConfig } from '@kubelustre/protocol/messages/mgs.ts';
import type { Static } from '@sinclair/typebox';
import { type BuildContext, mountTarget, ROLES, type Role } from '../builders/names.ts';
import type { LustreFileSystemStatus } from '../crds/lustre-filesystem.ts';
import type { Condition, LustreFileSystem, StatefulSet } from '../k8s/objects.ts';
import { type ConditionSpec, mergeConditions } from './conditions.ts';
import { formatBytes } from './quantity.ts';

export type FsConfigValue = Static<typeof FsConfig>;

/** What the operator knows of the MGS: not dialed (its pod is not ready), unreachable, or its config. */
export type MgsView =
  | { state: 'notReady' }
  | { state: 'unreachable'; message: string }
  | { state: 'reachable'; config: FsConfigValue };

/** Something wrong that a person has to act on; it makes the filesystem Degraded. */
export interface Problem {
  reason: string;
  message: string;
}

export interface StatusInputs {
  fs: LustreFileSystem;
  /** Replicas per role, as applied (more than the spec when a scale-down was refused). */
  replicas: Record<Role, number>;
  workloads: Partial<Record<Role, StatefulSet>>;
  mgs: MgsView;
  problems: readonly Problem[];
  ctx: BuildContext;
  now: Date;
}

type ReadyCounts = { mgs: number; mdts: number; osts: number };

/**
 * The filesystem's status from what was observed. Ready counts come from the MGS when it answers
 * (a target counts once it registered and reports), otherwise from the StatefulSets' ready pods.
 */
export function fileSystemStatus(inputs: StatusInputs): LustreFileSystemStatus {
  const { fs, mgs, problems } = inputs;
  const ready = readyCounts(inputs);
  const allReady = mgs.state === 'reachable' && ROLES.every((r) => readyOf(ready, r) >= inputs.replicas[r]);
  const wanted = [
    readyCondition(inputs, ready, allReady),
    progressingCondition(inputs, ready, allReady),
    degradedCondition(problems),
  ];
  const status: LustreFileSystemStatus = {
    phase: phaseOf(ready, allReady, problems),
    conditions: mergeConditions(
      fs.status?.conditions as Condition[] | undefined,
      wanted,
      fs.metadata.generation,
      inputs.now,
    ) as LustreFileSystemStatus['conditions'],
    ready,
    mountTarget: mountTarget(fs, inputs.ctx),
  };
  if (fs.metadata.generation !== undefined) status.observedGeneration = fs.metadata.generation;
  const capacity = mgs.state === 'reachable' ? capacityOf(mgs.config) : undefined;
  if (capacity !== undefined) status.capacity = capacity;
  return status;
}

function readyCounts(inputs: StatusInputs): ReadyCounts {
  const { mgs, workloads, replicas } = inputs;
  if (mgs.state === 'reachable') {
    const up = (role: 'mdt' | 'ost') =>
      mgs.config.targets.filter((t) => t.role === role && t.state === 'up' && t.index < replicas[role])
        .length;
    return { mgs: 1, mdts: up('mdt'), osts: up('ost') };
  }
  const pods = (role: Role) => Math.min(workloads[role]?.status?.readyReplicas ?? 0, replicas[role]);
  // An MGS that does not answer is not ready, whatever its pod's probe says.
  return { mgs: 0, mdts: pods('mdt'), osts: pods('ost') };
}

function readyOf(ready: ReadyCounts, role: Role): number {
  return role === 'mgs' ? ready.mgs : role === 'mdt' ? ready.mdts : ready.osts;
}

const COUNT_LABELS: Record<Role, string> = { mgs: 'MGS', mdt: 'MDTs', ost: 'OSTs' };

function countsMessage(inputs: StatusInputs, ready: ReadyCounts): string {
  return ROLES.map((r) => `${COUNT_LABELS[r]} ${readyOf(ready, r)}/${inputs.replicas[r]}`).join(', ');
}

function readyCondition(inputs: StatusInputs, ready: ReadyCounts, allReady: boolean): ConditionSpec {
  const base = { type: 'Ready' } as const;
  if (allReady) {
    return {
      ...base,
      status: 'True',
      reason: 'AllTargetsReady',
      message: `Serving: ${countsMessage(inputs, ready)}`,
    };
  }
  const { mgs } = inputs;
  if (mgs.state === 'unreachable') {
    return { ...base, status: 'False', reason: 'MGSUnreachable', message: mgs.message };
  }
  const blocking = inputs.problems.find((p) => p.reason.startsWith('SharedKey'));
  if (blocking !== undefined) return { ...base, status: 'False', ...blocking };
  return {
    ...base,
    status: 'False',
    reason: 'TargetsNotReady',
    message: `Ready: ${countsMessage(inputs, ready)}`,
  };
}

function progressingCondition(inputs: StatusInputs, ready: ReadyCounts, allReady: boolean): ConditionSpec {
  const base = { type: 'Progressing' } as const;
  if (allReady) return { ...base, status: 'False', reason: 'Reconciled', message: 'Every target is serving' };
  return {
    ...base,
    status: 'True',
    reason: 'WaitingForTargets',
    message: `Waiting for targets to serve: ${countsMessage(inputs, ready)}`,
  };
}

function degradedCondition(problems: readonly Problem[]): ConditionSpec {
  const base = { type: 'Degraded' } as const;
  const first = problems[0];
  if (first === undefined)
    return { ...base, status: 'False', reason: 'AsExpected', message: 'No problems found' };
  return {
    ...base,
    status: 'True',
    reason: first.reason,
    message: problems.map((p) => p.message).join('; '),
  };
}

function phaseOf(
  ready: ReadyCounts,
  allReady: boolean,
  problems: readonly Problem[],
): NonNullable<LustreFileSystemStatus['phase']> {
  if (problems.length > 0) return 'Degraded';
  if (allReady) return 'Ready';
  return ready.mgs + ready.mdts + ready.osts === 0 ? 'Pending' : 'Progressing';
}

/**
 * OST space as the MGS last heard it from the OSTs that are up; undefined until one has reported (an
 * OST registers first and reports its space a moment later: "0" would be wrong, not unknown).
 */
function capacityOf(config: FsConfigValue): { total: string; free: string } | undefined {
  let total = 0;
  let free = 0;
  let reported = 0;
  for (const t of config.targets) {
    if (t.role !== 'ost' || t.state !== 'up' || t.space === undefined) continue;
    total += t.space.totalBytes;
    free += t.space.availBytes;
    reported++;
  }
  return reported === 0 ? undefined : { total: formatBytes(total), free: formatBytes(free) };
}
