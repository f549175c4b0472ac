import type { FileHandle } from 'node:fs/promises';
import type { Logger } from '@kubelustre/protocol/log.ts';

/** A pinned open file: it is not closed until released, even if the cache evicts or forgets it. */
export interface Lease extends Disposable {
  readonly handle: FileHandle;
}

interface Entry {
  readonly key: number;
  /** Shared by every caller that asks for the same key while the open is in progress. */
  readonly opening: Promise<FileHandle>;
  users: number;
  /** Out of the map (evicted or forgotten): closed by whoever releases it last. */
  detached: boolean;
}

/**
 * A bounded LRU of open file handles keyed by object id, so hot objects skip open(2) and the OST never
 * holds more than `openFilesMax` idle descriptors. Handles in use are pinned: when every cached handle is
 * in use the cache grows past its bound until they are released (the RPC server's in-flight limit bounds
 * that), rather than closing a descriptor under a running pread/pwrite.
 */
export class HandleCache {
  readonly #entries = new Map<number, Entry>(); // iteration order = least recently used first
  readonly #closing = new Set<Promise<void>>();
  readonly #openFilesMax: number;
  readonly #log: Logger;

  constructor(openFilesMax: number, log: Logger) {
    if (!Number.isInteger(openFilesMax) || openFilesMax < 1)
      throw new RangeError(`openFilesMax must be a positive integer, got ${openFilesMax}`);
    this.#openFilesMax = openFilesMax;
    this.#log = log;
  }

  /** Handles open or opening, pinned ones included. */
  get size(): number {
    return this.#entries.size;
  }

  /** The cached handle for `key`, or one opened with `open`; rejects with `open`'s error. */
  async acquire(key: number, open: () => Promise<FileHandle>): Promise<Lease> {
    let entry = this.#entries.get(key);
    if (entry) {
      this.#entries.delete(key); // re-insert: most recently used
      this.#entries.set(key, entry);
    } else {
      entry = { key, opening: open(), users: 0, detached: false };
      const created = entry;
      // Registered before any caller awaits, so a failed open leaves the map before anyone retries.
      created.opening.catch(() => {
        if (this.#entries.get(key) === created) this.#entries.delete(key);
      });
      this.#entries.set(key, entry);
    }
    entry.users++;
    this.#evictIdle();
    let handle: FileHandle;
    try {
      handle = await entry.opening;
    } catch (e) {
      entry.users--;
      throw e;
    }
    const pinned = entry;
    let released = false;
    return {
      handle,
      [Symbol.dispose]: () => {
        if (released) return;
        released = true;
        if (--pinned.users > 0) return;
        if (pinned.detached) this.#close(pinned);
        else this.#evictIdle(); // the cache may have grown past its bound while everything was pinned
      },
    };
  }

  /** Drops `key` from the cache (its file is being removed); the handle closes once nobody uses it. */
  forget(key: number): void {
    const entry = this.#entries.get(key);
    if (!entry) return;
    this.#entries.delete(key);
    this.#detach(entry);
  }

  /** Closes every handle; callers must have stopped using them. */
  async closeAll(): Promise<void> {
    for (const entry of [...this.#entries.values()]) {
      this.#entries.delete(entry.key);
      this.#detach(entry);
    }
    await Promise.all(this.#closing);
  }

  #evictIdle(): void {
    let excess = this.#entries.size - this.#openFilesMax;
    for (const entry of this.#entries.values()) {
      if (excess <= 0) return;
      if (entry.users > 0) continue;
      this.#entries.delete(entry.key);
      this.#detach(entry);
      excess--;
    }
  }

  #detach(entry: Entry): void {
    entry.detached = true;
    if (entry.users === 0) this.#close(entry);
  }

  /**
   * Closing loses nothing: written data stays in the page cache, and a later fdatasync through a new
   * descriptor flushes the whole inode (and reports a writeback error nobody has seen yet).
   */
  #close(entry: Entry): void {
    const closing = entry.opening
      .then(
        (fh) => fh.close(),
        () => undefined, // the open failed: its callers got the error and there is nothing to close
      )
      .catch((e: unknown) => {
        this.#log.warn({ objId: entry.key, err: (e as Error).message }, 'Failed to close object file');
      })
      .finally(() => this.#closing.delete(closing));
    this.#closing.add(closing);
  }
}
