import { type KlError, toKlError } from '@kubelustre/protocol/errors.ts';
import type { ByteBudget } from './byte-budget.ts';
import { type DirtyExtent, DirtyExtents, extentBytes, overlayExtents } from './dirty-extents.ts';

const MiB = 1024 * 1024;

export interface WritebackOptions {
  /** Client-wide bound on dirty bytes, shared by every file. */
  budget: ByteBudget;
  /** Dirty plus in-flight bytes of this file before a write waits. */
  fileDirtyBytesMax?: number;
  /** Dirty bytes at which a background flush starts. */
  flushTriggerBytes?: number;
  /** How long bytes may stay dirty before a background flush writes them (Linux's dirty_expire). */
  dirtyExpireMs?: number;
}

/** Writes one run of file bytes to where they live (the file's StripedIo). */
export type FlushSink = (offset: number, data: Buffer) => Promise<void>;

/** Flush rounds of one file in flight at once; more only adds memory, not throughput. */
const ROUNDS_INFLIGHT_MAX = 4;

interface Round {
  extents: DirtyExtent[];
  bytes: number;
  done: Promise<void>;
}

/**
 * A read of the objects in progress (beginRead … endRead). A round that finishes while it runs may have
 * reached the objects after the read saw them, so its bytes stay available to that read's overlay.
 */
export interface ReadToken {
  readonly epoch: number;
}

/**
 * The write-back cache of one file: writes land in memory, merged with adjacent and overlapping ones, and
 * are written out in flush rounds. Rounds whose ranges are disjoint run at the same time, so a streaming
 * writer keeps every OST busy; a round that overlaps one in flight waits for it, so an older copy of a
 * range never lands after a newer one. A round writes all its extents in parallel (the sink cuts them into
 * per-object RPCs of up to 4 MiB). A write waits while the file or the client is over its dirty bound.
 *
 * A failed flush drops the data it carried (as Linux marks pages clean after a write-back error) and
 * reports the error to `onError`: the owner hands it to the next fsync/close, never swallowing it.
 */
export class WritebackCache {
  readonly #sink: FlushSink;
  readonly #onError: (e: KlError) => void;
  readonly #budget: ByteBudget;
  readonly #fileDirtyBytesMax: number;
  readonly #flushTriggerBytes: number;
  readonly #dirtyExpireMs: number;
  readonly #dirty = new DirtyExtents();
  readonly #rounds = new Set<Round>();
  /** Rounds finished while reads were in progress, with the epoch they finished in (ascending). */
  #retired: Array<{ round: Round; epoch: number }> = [];
  readonly #reads = new Set<ReadToken>();
  #epoch = 0;
  #starting: Promise<void> | undefined;
  #expireTimer: NodeJS.Timeout | undefined;
  readonly #stopPressure: () => void;

  constructor(sink: FlushSink, onError: (e: KlError) => void, opts: WritebackOptions) {
    this.#sink = sink;
    this.#onError = onError;
    this.#budget = opts.budget;
    this.#fileDirtyBytesMax = opts.fileDirtyBytesMax ?? 32 * MiB;
    this.#flushTriggerBytes = opts.flushTriggerBytes ?? 8 * MiB;
    this.#dirtyExpireMs = opts.dirtyExpireMs ?? 5000;
    this.#stopPressure = this.#budget.onPressure(() => void this.#startRound());
  }

  /** Dirty bytes not yet handed to a flush round. */
  get dirtyBytes(): number {
    return this.#dirty.bytes;
  }

  get #inflightBytes(): number {
    let n = 0;
    for (const r of this.#rounds) n += r.bytes;
    return n;
  }

  /** Buffers `data` at `offset` (copied: the caller may reuse its buffer once this resolves). */
  async write(offset: number, data: Buffer): Promise<void> {
    const pieceMax = Math.max(1, Math.floor(this.#fileDirtyBytesMax / 2));
    for (let done = 0; done < data.length; done += pieceMax) {
      await this.#writePiece(offset + done, data.subarray(done, done + pieceMax));
    }
  }

  /** Marks the start of a read of the objects; pass the token to overlay, then to endRead. */
  beginRead(): ReadToken {
    const token = { epoch: this.#epoch };
    this.#reads.add(token);
    return token;
  }

  endRead(token: ReadToken): void {
    this.#reads.delete(token);
    if (this.#retired.length === 0) return;
    let oldest = Number.POSITIVE_INFINITY;
    for (const t of this.#reads) oldest = Math.min(oldest, t.epoch);
    this.#retired = this.#retired.filter((r) => r.epoch > oldest);
  }

  /**
   * Copies the bytes this cache holds over a read of the file, oldest first: with `since`, the rounds
   * that finished after that read began (the objects may have answered it before those bytes landed),
   * then the rounds in flight, then the newer dirty bytes.
   */
  overlay(target: Buffer, targetOffset: number, since?: ReadToken): void {
    if (since) {
      for (const r of this.#retired) {
        if (r.epoch > since.epoch) overlayExtents(r.round.extents, target, targetOffset);
      }
    }
    for (const r of this.#rounds) overlayExtents(r.extents, target, targetOffset);
    this.#dirty.overlay(target, targetOffset);
  }

  /** Where the bytes this cache holds (dirty or in flight) are: data the objects may not have yet. */
  heldRanges(): Array<{ offset: number; length: number }> {
    const inflight = [...this.#rounds].flatMap((r) =>
      r.extents.map((e) => ({ offset: e.offset, length: e.length })),
    );
    return [...inflight, ...this.#dirty.ranges()];
  }

  /** Writes out everything dirty when called; resolves once it has reached the targets (or failed). */
  async flush(): Promise<void> {
    await this.#startRound();
    await Promise.all([...this.#rounds].map((r) => r.done));
  }

  /** Forgets dirty bytes at and past `size`: they belong to a part of the file being cut off. */
  truncate(size: number): void {
    this.#budget.release(this.#dirty.truncate(size));
  }

  /** Stops background flushing; the owner flushes first. */
  close(): void {
    clearTimeout(this.#expireTimer);
    this.#stopPressure();
  }

  async #writePiece(offset: number, piece: Buffer): Promise<void> {
    while (this.#dirty.bytes + this.#inflightBytes + piece.length > this.#fileDirtyBytesMax) {
      if (this.#dirty.isEmpty && this.#rounds.size === 0) break;
      if (!this.#dirty.isEmpty) await this.#startRound();
      else await Promise.race([...this.#rounds].map((r) => r.done));
    }
    await this.#budget.acquire(piece.length);
    const added = this.#dirty.insert(offset, Buffer.from(piece));
    this.#budget.release(piece.length - added);
    if (this.#dirty.bytes >= this.#flushTriggerBytes) void this.#startRound();
    else if (!this.#expireTimer) {
      this.#expireTimer = setTimeout(() => {
        this.#expireTimer = undefined;
        void this.#startRound();
      }, this.#dirtyExpireMs);
      this.#expireTimer.unref();
    }
  }

  /**
   * Hands every dirty extent to a new round once it may start: after the rounds it overlaps, and while
   * fewer than ROUNDS_INFLIGHT_MAX run. Resolves when the round has started (not finished).
   */
  #startRound(): Promise<void> {
    this.#starting ??= this.#waitAndStart().finally(() => {
      this.#starting = undefined;
    });
    return this.#starting;
  }

  async #waitAndStart(): Promise<void> {
    for (;;) {
      if (this.#dirty.isEmpty) return;
      const blockers = [...this.#rounds].filter((r) =>
        r.extents.some((e) => this.#dirty.overlaps(e.offset, e.length)),
      );
      if (blockers.length === 0 && this.#rounds.size < ROUNDS_INFLIGHT_MAX) break;
      const waitFor = blockers.length > 0 ? blockers : [...this.#rounds];
      await Promise.race(waitFor.map((r) => r.done));
    }
    const extents = this.#dirty.takeAll();
    const round: Round = {
      extents,
      bytes: extents.reduce((n, e) => n + e.length, 0),
      done: Promise.resolve(),
    };
    round.done = this.#runRound(round).finally(() => {
      this.#rounds.delete(round);
      if (this.#reads.size > 0) this.#retired.push({ round, epoch: ++this.#epoch });
      this.#budget.release(round.bytes);
    });
    this.#rounds.add(round);
  }

  async #runRound(round: Round): Promise<void> {
    const results = await Promise.allSettled(round.extents.map((e) => this.#sink(e.offset, extentBytes(e))));
    results.forEach((r, i) => {
      if (r.status === 'fulfilled') return;
      const e = round.extents[i]!;
      this.#onError(toKlError(r.reason, `write-back of [${e.offset}, ${e.offset + e.length}) failed`));
    });
  }
}
