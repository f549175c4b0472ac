/**
 * Byte ranges of a read-write cache file written since its last write-back: what the next write-back
 * sends to the OSTs. Kept sorted, merged when they touch; past `rangesMax` the two closest are merged
 * (a write-back then sends a few bytes it need not), so the list stays bounded.
 */
export type ByteRange = readonly [start: number, end: number];

export const DIRTY_RANGES_MAX = 256;

/** `ranges` with [start, end) added (a new array; `ranges` is sorted and disjoint, and so is the result). */
export function addRange(
  ranges: readonly ByteRange[],
  start: number,
  end: number,
  rangesMax = DIRTY_RANGES_MAX,
): ByteRange[] {
  if (end <= start) return [...ranges];
  const out: ByteRange[] = [];
  let [s, e] = [start, end];
  let placed = false;
  for (const r of ranges) {
    if (r[1] < s) out.push(r);
    else if (r[0] > e) {
      if (!placed) out.push([s, e]);
      placed = true;
      out.push(r);
    } else [s, e] = [Math.min(s, r[0]), Math.max(e, r[1])];
  }
  if (!placed) out.push([s, e]);
  while (out.length > rangesMax) mergeClosest(out);
  return out;
}

/** Merges the two neighbours with the smallest gap between them. */
function mergeClosest(ranges: ByteRange[]): void {
  let best = 0;
  for (let i = 1; i < ranges.length - 1; i++) {
    if (ranges[i + 1]![0] - ranges[i]![1] < ranges[best + 1]![0] - ranges[best]![1]) best = i;
  }
  ranges.splice(best, 2, [ranges[best]![0], ranges[best + 1]![1]]);
}

/** The bytes the ranges cover. */
export function rangeBytes(ranges: readonly ByteRange[]): number {
  return ranges.reduce((n, [s, e]) => n + e - s, 0);
}
