import type { pool } from '@kubelustre/protocol/messages/mgs.ts';
import type { RequestOf } from '@kubelustre/protocol/messages/op.ts';
import type { OstPoolSpec } from '../crds/ost-pool.ts';

export type PoolOp = RequestOf<typeof pool>;

/** The member OST indexes a pool's spec names: its indexes and ranges, sorted, each once. */
export function poolMembers(spec: OstPoolSpec): number[] {
  const members = new Set(spec.osts.indexes ?? []);
  for (const { first, last } of spec.osts.ranges ?? []) for (let i = first; i <= last; i++) members.add(i);
  return [...members].sort((a, b) => a - b);
}

/** Members beyond the filesystem's OSTs (indexes 0..ostCount-1): CEL cannot see the count. */
export function missingOsts(members: readonly number[], ostCount: number): number[] {
  return members.filter((i) => i >= ostCount);
}

/**
 * The `mgs.pool` calls that turn the MGS's pool (`current`, undefined if it has none) into `desired`:
 * create it, add the missing members, remove the extra ones (lctl pool_new, pool_add, pool_remove).
 */
export function poolOps(
  name: string,
  current: readonly number[] | undefined,
  desired: readonly number[],
): PoolOp[] {
  const ops: PoolOp[] = [];
  if (current === undefined) ops.push({ op: 'new', pool: name, osts: [] });
  const have = new Set(current ?? []);
  const want = new Set(desired);
  const add = desired.filter((i) => !have.has(i));
  const remove = [...have].filter((i) => !want.has(i)).sort((a, b) => a - b);
  if (add.length > 0) ops.push({ op: 'add', pool: name, osts: add });
  if (remove.length > 0) ops.push({ op: 'remove', pool: name, osts: remove });
  return ops;
}

/** The calls that take a pool off the MGS: empty it (lctl refuses to destroy a pool with members), destroy it. */
export function poolTeardownOps(name: string, current: readonly number[] | undefined): PoolOp[] {
  if (current === undefined) return [];
  const ops: PoolOp[] = [];
  if (current.length > 0) ops.push({ op: 'remove', pool: name, osts: [...current] });
  ops.push({ op: 'destroy', pool: name, osts: [] });
  return ops;
}

/** `0-3,7`: how lctl lists OST indexes, for messages. */
export function formatIndexes(indexes: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < indexes.length; i++) {
    const first = indexes[i]!;
    while (i + 1 < indexes.length && indexes[i + 1] === indexes[i]! + 1) i++;
    parts.push(first === indexes[i] ? `${first}` : `${first}-${indexes[i]}`);
  }
  return parts.join(',');
}
