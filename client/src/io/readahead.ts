import type { ByteBudget } from './byte-budget.ts';
import { RPC_BYTES_MAX } from './object-rpcs.ts';

const MiB = 1024 * 1024;

export interface ReadaheadOptions {
  /** The first window after a sequential read is seen. */
  windowMinBytes?: number;
  /** Windows double up to this. */
  windowMaxBytes?: number;
}

export interface ByteRange {
  offset: number;
  length: number;
}

/**
 * Decides what to prefetch for one file handle, as Linux's ondemand readahead does in spirit: a read that
 * starts where the previous one ended (or at 0, a file read from its start) is sequential; while
 * sequential, the next window is requested once less than half the current one is left ahead of the
 * reader, and windows double up to the maximum. Any other read resets to the smallest window and
 * prefetches nothing.
 */
export class ReadaheadWindow {
  readonly #windowMinBytes: number;
  readonly #windowMaxBytes: number;
  #windowBytes: number;
  #nextOffset = 0;
  /** The end of what has been requested ahead of the reader. */
  #aheadEnd = 0;
  /** The size of the last window requested: the next one is due when half of it is left. */
  #lastWindowBytes = 0;

  constructor(opts: ReadaheadOptions = {}) {
    this.#windowMinBytes = opts.windowMinBytes ?? MiB;
    this.#windowMaxBytes = opts.windowMaxBytes ?? 64 * MiB;
    this.#windowBytes = this.#windowMinBytes;
  }

  /** Records a read; answers the range to prefetch now, if any (never past `fileSize`). */
  onRead(offset: number, length: number, fileSize: number): ByteRange | undefined {
    const sequential = offset === this.#nextOffset;
    const readEnd = offset + length;
    this.#nextOffset = readEnd;
    if (!sequential) {
      this.reset();
      this.#nextOffset = readEnd;
      return undefined;
    }
    this.#aheadEnd = Math.max(this.#aheadEnd, readEnd);
    if (this.#aheadEnd - readEnd > this.#lastWindowBytes / 2) return undefined;
    const start = this.#aheadEnd;
    const end = Math.min(start + this.#windowBytes, fileSize);
    if (end <= start) return undefined;
    this.#aheadEnd = end;
    this.#lastWindowBytes = end - start;
    this.#windowBytes = Math.min(this.#windowBytes * 2, this.#windowMaxBytes);
    return { offset: start, length: end - start };
  }

  /** Forgets the stream (after a write or truncate made prefetched data stale). */
  reset(): void {
    this.#windowBytes = this.#windowMinBytes;
    this.#aheadEnd = 0;
    this.#lastWindowBytes = 0;
    this.#nextOffset = -1;
  }
}

interface Chunk {
  offset: number;
  length: number;
  data: Promise<Buffer | undefined>;
  settled: boolean;
  dropped: boolean;
}

/**
 * Prefetched bytes of one file handle, in chunks of up to one RPC size. Memory is bounded per handle and
 * by a client-wide budget; prefetching never waits for room, it just does less. A failed prefetch is
 * forgotten: the reader's own read then fetches (and reports) it.
 */
export class PrefetchBuffer {
  readonly #fetch: (offset: number, length: number) => Promise<Buffer>;
  readonly #budget: ByteBudget;
  readonly #bytesMax: number;
  #chunks: Chunk[] = [];
  #bytes = 0;

  constructor(
    fetch: (offset: number, length: number) => Promise<Buffer>,
    budget: ByteBudget,
    bytesMax: number,
  ) {
    this.#fetch = fetch;
    this.#budget = budget;
    this.#bytesMax = bytesMax;
  }

  /** Starts fetching `range` in the background, as far as memory allows. */
  prefetch(range: ByteRange): void {
    const end = range.offset + range.length;
    for (let at = range.offset; at < end; at += RPC_BYTES_MAX) {
      const length = Math.min(RPC_BYTES_MAX, end - at);
      if (this.#bytes + length > this.#bytesMax || !this.#budget.tryAcquire(length)) return;
      this.#bytes += length;
      const chunk: Chunk = {
        offset: at,
        length,
        data: Promise.resolve(undefined),
        settled: false,
        dropped: false,
      };
      chunk.data = this.#fetch(at, length)
        .catch(() => undefined)
        .finally(() => {
          chunk.settled = true;
          if (chunk.dropped) this.#budget.release(length);
        });
      this.#chunks.push(chunk);
    }
  }

  /**
   * The bytes [offset, offset + length) if prefetched chunks cover all of them, else undefined. Chunks
   * the reader has passed are let go.
   */
  async take(offset: number, length: number): Promise<Buffer | undefined> {
    const end = offset + length;
    this.#dropWhere((c) => c.offset + c.length <= offset);
    const covering: Chunk[] = [];
    let at = offset;
    for (const c of this.#chunks) {
      if (c.offset > at) break;
      if (c.offset + c.length <= at) continue;
      covering.push(c);
      at = c.offset + c.length;
      if (at >= end) break;
    }
    if (at < end || length === 0) return undefined;
    const datas = await Promise.all(covering.map((c) => c.data));
    if (datas.some((d) => d === undefined)) return undefined;
    const out = Buffer.allocUnsafe(length);
    covering.forEach((c, i) => {
      const from = Math.max(offset, c.offset);
      const to = Math.min(end, c.offset + c.length);
      datas[i]!.copy(out, from - offset, from - c.offset, to - c.offset);
    });
    this.#dropWhere((c) => c.offset + c.length <= end);
    return out;
  }

  clear(): void {
    this.#dropWhere(() => true);
  }

  #dropWhere(pred: (c: Chunk) => boolean): void {
    const kept: Chunk[] = [];
    for (const c of this.#chunks) {
      if (!pred(c)) {
        kept.push(c);
        continue;
      }
      c.dropped = true;
      this.#bytes -= c.length;
      if (c.settled) this.#budget.release(c.length);
    }
    this.#chunks = kept;
  }
}
