import type { Condition } from '../k8s/objects.ts';

/** A condition as a decision states it; `lastTransitionTime` and `observedGeneration` are filled in here. */
export interface ConditionSpec {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
}

/**
 * The new conditions list: each wanted condition, keeping the previous lastTransitionTime when its
 * status did not change (a condition's time says since when it holds, not when it was last computed).
 */
export function mergeConditions(
  previous: readonly Condition[] | undefined,
  wanted: readonly ConditionSpec[],
  generation: number | undefined,
  now: Date,
): Condition[] {
  return wanted.map((w) => {
    const before = previous?.find((c) => c.type === w.type);
    const lastTransitionTime =
      before !== undefined && before.status === w.status ? before.lastTransitionTime : isoSeconds(now);
    return { ...w, ...(generation !== undefined && { observedGeneration: generation }), lastTransitionTime };
  });
}

export function findCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

/** The conditions whose status or reason changed from `before` to `after`: what deserves an Event. */
export function transitions(
  before: readonly Condition[] | undefined,
  after: readonly Condition[],
): Condition[] {
  return after.filter((c) => {
    const old = findCondition(before, c.type);
    return old === undefined || old.status !== c.status || old.reason !== c.reason;
  });
}

/** metav1.Time has second precision; a finer time would differ from what the API server echoes back. */
export function isoSeconds(d: Date): string {
  return `${d.toISOString().slice(0, 19)}Z`;
}
