/*
 * LRU eviction of read-only PCC copies between watermarks: once the cache holds more than the high
 * watermark, least-recently-used copies nobody has open are dropped until it holds no more than the low
 * one. Read-write copies are never evicted (their data exists nowhere else until written back); an
 * open copy is kept (its readers would lose it). Pure: the cache gathers the candidates and acts.
 */

export interface Watermarks {
  /** What 100% is: `-o pcc_size=BYTES`, else the cache filesystem's size. */
  capacityBytes: number;
  /** Eviction starts above this percentage of the capacity (`pcc_hwm`, default 90)... */
  highPercent: number;
  /** ...and stops at or below this one (`pcc_lwm`, default 75). */
  lowPercent: number;
}

export const DEFAULT_HIGH_WATERMARK_PERCENT = 90;
export const DEFAULT_LOW_WATERMARK_PERCENT = 75;

export interface EvictionCandidate {
  fid: string;
  bytes: number;
  /** When the copy was last attached, opened or read (ms since the epoch). */
  lastUsedMs: number;
  /** Open handles on the copy. */
  users: number;
  readWrite: boolean;
}

/** The FIDs to evict, in order (least recently used first); empty at or below the high watermark. */
export function evictionPlan(
  usedBytes: number,
  w: Watermarks,
  candidates: readonly EvictionCandidate[],
): string[] {
  if (usedBytes <= (w.capacityBytes * w.highPercent) / 100) return [];
  const targetBytes = (w.capacityBytes * w.lowPercent) / 100;
  const evictable = candidates
    .filter((c) => !c.readWrite && c.users === 0)
    .sort((a, b) => a.lastUsedMs - b.lastUsedMs || a.fid.localeCompare(b.fid));
  const plan: string[] = [];
  let used = usedBytes;
  for (const c of evictable) {
    if (used <= targetBytes) break;
    plan.push(c.fid);
    used -= c.bytes;
  }
  return plan;
}

/** Checks watermark settings: percentages in 0..100 with low below high. */
export function watermarkProblem(highPercent: number, lowPercent: number): string | undefined {
  if (!(highPercent > 0 && highPercent <= 100)) return `high watermark ${highPercent}% is not in 1..100`;
  if (!(lowPercent >= 0 && lowPercent < highPercent)) {
    return `low watermark ${lowPercent}% must be from 0 to below the high one (${highPercent}%)`;
  }
  return undefined;
}
