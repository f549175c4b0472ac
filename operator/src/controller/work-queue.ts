/**
 * A queue of object keys in the manner of client-go's workqueue: a key waits in the queue at most once
 * however many events name it, and is never handed to two workers at once (a key added while it is
 * being processed is queued again when that processing is done). Failing keys come back after an
 * exponential per-key backoff, bounded by `backoffMaxMs`.
 */

export interface WorkQueueOptions {
  backoffBaseMs?: number;
  backoffMaxMs?: number;
}

const BACKOFF_BASE_MS_DEFAULT = 200;
const BACKOFF_MAX_MS_DEFAULT = 60_000;

export class WorkQueue {
  readonly #backoffBaseMs: number;
  readonly #backoffMaxMs: number;
  readonly #queue: string[] = [];
  readonly #queued = new Set<string>();
  readonly #processing = new Set<string>();
  /** Keys added while being processed: queued again by `done`. */
  readonly #dirty = new Set<string>();
  readonly #failures = new Map<string, number>();
  readonly #delayed = new Map<string, { atMs: number; timer: NodeJS.Timeout }>();
  #waiters: Array<(key: string | undefined) => void> = [];
  #shutDown = false;

  constructor(opts: WorkQueueOptions = {}) {
    this.#backoffBaseMs = opts.backoffBaseMs ?? BACKOFF_BASE_MS_DEFAULT;
    this.#backoffMaxMs = opts.backoffMaxMs ?? BACKOFF_MAX_MS_DEFAULT;
  }

  /** Keys waiting to be processed (not counting delayed ones). */
  get length(): number {
    return this.#queue.length;
  }

  add(key: string): void {
    if (this.#shutDown || this.#queued.has(key)) return;
    if (this.#processing.has(key)) {
      this.#dirty.add(key);
      return;
    }
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) {
      this.#processing.add(key);
      waiter(key);
      return;
    }
    this.#queued.add(key);
    this.#queue.push(key);
  }

  /** Adds `key` after `delayMs`; an earlier pending add of the same key stands. */
  addAfter(key: string, delayMs: number): void {
    if (this.#shutDown) return;
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    const atMs = Date.now() + delayMs;
    const pending = this.#delayed.get(key);
    if (pending !== undefined && pending.atMs <= atMs) return;
    if (pending !== undefined) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.#delayed.delete(key);
      this.add(key);
    }, delayMs);
    this.#delayed.set(key, { atMs, timer });
  }

  /** Adds `key` after its backoff, which doubles with each failure until `forget`. */
  addRateLimited(key: string): number {
    const failures = (this.#failures.get(key) ?? 0) + 1;
    this.#failures.set(key, failures);
    const delayMs = Math.min(this.#backoffBaseMs * 2 ** (failures - 1), this.#backoffMaxMs);
    this.addAfter(key, delayMs);
    return delayMs;
  }

  /** Ends `key`'s backoff: it succeeded. */
  forget(key: string): void {
    this.#failures.delete(key);
  }

  failures(key: string): number {
    return this.#failures.get(key) ?? 0;
  }

  /** The next key to process, once there is one; undefined after `shutDown`. */
  get(): Promise<string | undefined> {
    const key = this.#queue.shift();
    if (key !== undefined) {
      this.#queued.delete(key);
      this.#processing.add(key);
      return Promise.resolve(key);
    }
    if (this.#shutDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Marks `key` processed; if it was added meanwhile, it goes back in the queue. */
  done(key: string): void {
    this.#processing.delete(key);
    if (this.#dirty.delete(key)) this.add(key);
  }

  /** Stops handing out keys: waiting `get`s return undefined, delayed adds are dropped. */
  shutDown(): void {
    this.#shutDown = true;
    for (const { timer } of this.#delayed.values()) clearTimeout(timer);
    this.#delayed.clear();
    for (const waiter of this.#waiters) waiter(undefined);
    this.#waiters = [];
  }
}
