import { KlError } from '@kubelustre/protocol/errors.ts';
import type { OstObject } from '@kubelustre/protocol/layout/index.ts';
import type { Logger } from '@kubelustre/protocol/log.ts';
import type { Store } from './store.ts';

/** Sends ost.destroy for `objIds` on OST `ostIdx`; resolves once the OST has destroyed them. */
export type DestroyObjects = (ostIdx: number, objIds: number[]) => Promise<void>;

export interface DestroyWorkerOptions {
  /** Object ids per ost.destroy (the message allows 4096). */
  batchMax?: number;
  backoffMinMs?: number;
  backoffMaxMs?: number;
}

/**
 * Records objects to destroy, in the transaction that unlinks their file's last name: if that commits,
 * the objects will be destroyed even if the MDT crashes right after; if it does not, the file still has
 * them. This is Lustre's unlink llog, and why no orphan object outlives a crash.
 */
export function logForDestroy(store: Store, objects: readonly OstObject[]): void {
  for (const o of objects) {
    store.run('INSERT OR IGNORE INTO destroy_log (ost, obj) VALUES (?, ?)', o.ostIdx, o.objId);
  }
}

export function destroyLogLength(store: Store): number {
  return store.get('SELECT count(*) AS n FROM destroy_log')?.n as number;
}

/**
 * Drains the destroy log in the background: batched ost.destroy per OST, rows deleted once the OST
 * answered, failures retried per OST with exponential backoff. It starts from whatever the log holds,
 * so after a restart it resumes where the last instance stopped (destroy is idempotent on the OST).
 */
export class DestroyWorker {
  readonly #store: Store;
  readonly #destroy: DestroyObjects;
  readonly #log: Logger;
  readonly #opts: Required<DestroyWorkerOptions>;
  readonly #retryAt = new Map<number, { atMs: number; delayMs: number }>();
  #stopped = false;
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;

  constructor(store: Store, destroy: DestroyObjects, log: Logger, opts: DestroyWorkerOptions = {}) {
    this.#store = store;
    this.#destroy = destroy;
    this.#log = log;
    this.#opts = { batchMax: 4096, backoffMinMs: 100, backoffMaxMs: 30_000, ...opts };
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  /** Tells the worker that new rows were committed. */
  notify(): void {
    this.#wake?.();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.notify();
    await this.#loop;
  }

  /** Resolves once the log is empty; ETIMEDOUT after `timeoutMs`. */
  async drained(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (destroyLogLength(this.#store) > 0) {
      if (Date.now() >= deadline) {
        const left = destroyLogLength(this.#store);
        throw new KlError('ETIMEDOUT', `destroy log still holds ${left} objects after ${timeoutMs} ms`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      const due = this.#dueOsts();
      if (due.length > 0) {
        await Promise.all(due.map((ost) => this.#destroyBatch(ost)));
        continue;
      }
      await this.#sleep();
    }
  }

  #dueOsts(): number[] {
    const nowMs = Date.now();
    return this.#store
      .all('SELECT DISTINCT ost FROM destroy_log')
      .map((r) => r.ost as number)
      .filter((ost) => (this.#retryAt.get(ost)?.atMs ?? 0) <= nowMs);
  }

  async #destroyBatch(ost: number): Promise<void> {
    const ids = this.#store
      .all('SELECT obj FROM destroy_log WHERE ost = ? ORDER BY obj LIMIT ?', ost, this.#opts.batchMax)
      .map((r) => r.obj as number);
    try {
      await this.#destroy(ost, ids);
    } catch (e) {
      const delayMs = Math.min(
        (this.#retryAt.get(ost)?.delayMs ?? this.#opts.backoffMinMs / 2) * 2,
        this.#opts.backoffMaxMs,
      );
      this.#retryAt.set(ost, { atMs: Date.now() + delayMs, delayMs });
      this.#log.warn(
        { ost, objects: ids.length, retryMs: delayMs, err: (e as Error).message },
        'Object destroy failed; will retry',
      );
      return;
    }
    this.#retryAt.delete(ost);
    if (this.#stopped && !this.#store.db.isOpen) return;
    this.#store.txn(() => {
      for (const id of ids) this.#store.run('DELETE FROM destroy_log WHERE ost = ? AND obj = ?', ost, id);
    });
    this.#log.debug({ ost, objects: ids.length }, 'Destroyed objects of unlinked files');
  }

  /** Waits for a notify or the earliest retry, whichever is first. */
  async #sleep(): Promise<void> {
    const retries = [...this.#retryAt.values()].map((r) => r.atMs);
    const delayMs =
      retries.length > 0 ? Math.max(0, Math.min(...retries) - Date.now()) : this.#opts.backoffMaxMs;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, delayMs);
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.#wake = undefined;
  }
}
