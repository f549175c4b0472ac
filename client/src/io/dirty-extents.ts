/** Contiguous dirty bytes at `offset`, held as the written buffers themselves (no copy per merge). */
export interface DirtyExtent {
  offset: number;
  length: number;
  parts: Buffer[];
}

/**
 * The dirty ranges of one file, sorted and never overlapping or touching: a write merges with every
 * extent it overlaps or adjoins, its bytes replacing the older ones. Appending to an extent's end (the
 * common sequential case) only adds a part.
 */
export class DirtyExtents {
  #extents: DirtyExtent[] = [];
  #bytes = 0;

  get bytes(): number {
    return this.#bytes;
  }

  get isEmpty(): boolean {
    return this.#extents.length === 0;
  }

  /** The end of the last dirty byte, 0 when clean. */
  get end(): number {
    const last = this.#extents.at(-1);
    return last ? last.offset + last.length : 0;
  }

  /** Where the dirty bytes are, in file order. */
  ranges(): Array<{ offset: number; length: number }> {
    return this.#extents.map((e) => ({ offset: e.offset, length: e.length }));
  }

  /** Adds `data` (kept by reference); answers how many more bytes are now held. */
  insert(offset: number, data: Buffer): number {
    if (data.length === 0) return 0;
    const end = offset + data.length;
    const first = this.#firstTouching(offset);
    let last = first;
    while (last < this.#extents.length && this.#extents[last]!.offset <= end) last++;
    const touched = this.#extents.slice(first, last);
    const before = this.#bytes;
    const head = touched[0];
    if (touched.length === 1 && head!.offset + head!.length === offset) {
      head!.parts.push(data);
      head!.length += data.length;
      this.#bytes += data.length;
      return data.length;
    }
    const parts: Buffer[] = [];
    if (head && head.offset < offset) parts.push(...sliceParts(head.parts, 0, offset - head.offset));
    parts.push(data);
    const tail = touched.at(-1);
    if (tail && tail.offset + tail.length > end) {
      parts.push(...sliceParts(tail.parts, end - tail.offset, tail.length));
    }
    const merged = { offset: Math.min(offset, head?.offset ?? offset), length: 0, parts };
    merged.length = parts.reduce((n, p) => n + p.length, 0);
    this.#extents.splice(first, touched.length, merged);
    this.#bytes += merged.length - touched.reduce((n, e) => n + e.length, 0);
    return this.#bytes - before;
  }

  /** Copies dirty bytes over `target`, which holds the file's bytes from `targetOffset`. */
  overlay(target: Buffer, targetOffset: number): void {
    overlayExtents(this.#extents, target, targetOffset);
  }

  /** Forgets dirty bytes at and past `size` (truncate); answers how many were dropped. */
  truncate(size: number): number {
    const before = this.#bytes;
    const kept: DirtyExtent[] = [];
    for (const e of this.#extents) {
      if (e.offset >= size) continue;
      if (e.offset + e.length > size) {
        kept.push({
          offset: e.offset,
          length: size - e.offset,
          parts: sliceParts(e.parts, 0, size - e.offset),
        });
      } else kept.push(e);
    }
    this.#extents = kept;
    this.#bytes = kept.reduce((n, e) => n + e.length, 0);
    return before - this.#bytes;
  }

  /** Hands every extent over (to be flushed) and starts empty. */
  /** True when some dirty byte lies in [offset, offset + length). */
  overlaps(offset: number, length: number): boolean {
    for (let i = this.#firstTouching(offset); i < this.#extents.length; i++) {
      const e = this.#extents[i]!;
      if (e.offset >= offset + length) return false;
      if (e.offset + e.length > offset) return true;
    }
    return false;
  }

  takeAll(): DirtyExtent[] {
    const taken = this.#extents;
    this.#extents = [];
    this.#bytes = 0;
    return taken;
  }

  /** Index of the first extent ending at or after `offset` (binary search). */
  #firstTouching(offset: number): number {
    let lo = 0;
    let hi = this.#extents.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const e = this.#extents[mid]!;
      if (e.offset + e.length < offset) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** Copies the bytes of `extents` that fall inside `target` (the file from `targetOffset`) into it. */
export function overlayExtents(extents: readonly DirtyExtent[], target: Buffer, targetOffset: number): void {
  const targetEnd = targetOffset + target.length;
  for (const e of extents) {
    if (e.offset >= targetEnd || e.offset + e.length <= targetOffset) continue;
    let at = e.offset;
    for (const p of e.parts) {
      const from = Math.max(at, targetOffset);
      const to = Math.min(at + p.length, targetEnd);
      if (from < to) p.copy(target, from - targetOffset, from - at, to - at);
      at += p.length;
      if (at >= targetEnd) break;
    }
  }
}

/** One buffer holding an extent's bytes. */
export function extentBytes(e: DirtyExtent): Buffer {
  return e.parts.length === 1 ? e.parts[0]! : Buffer.concat(e.parts, e.length);
}

/** The parts covering [from, to) of the bytes `parts` hold, as views (no copy). */
function sliceParts(parts: readonly Buffer[], from: number, to: number): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  for (const p of parts) {
    const s = Math.max(from, at);
    const e = Math.min(to, at + p.length);
    if (s < e) out.push(p.subarray(s - at, e - at));
    at += p.length;
    if (at >= to) break;
  }
  return out;
}
