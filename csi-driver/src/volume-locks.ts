import { status } from '@grpc/grpc-js';
import { CsiError } from './csi-error.ts';

/**
 * One operation per volume at a time, without queueing (csi-driver-nfs's VolumeLocks): a second call
 * for a volume still in progress answers ABORTED at once, and the CO retries it later with backoff.
 * Calls for different volumes never wait for each other.
 */
export class VolumeLocks {
  readonly #held = new Set<string>();

  /** Takes the lock of `key` for the life of the returned disposable, or throws ABORTED. */
  acquire(key: string): Disposable {
    if (this.#held.has(key)) {
      throw new CsiError(status.ABORTED, `an operation on volume ${key} is already in progress`);
    }
    this.#held.add(key);
    return { [Symbol.dispose]: () => this.#held.delete(key) };
  }
}

/**
 * A lock that waits (a chain of promises per key): for work that many volumes share and that must
 * not run twice at once, such as mounting one filesystem for the first of its volumes on a node.
 */
export class KeyedMutex {
  readonly #tails = new Map<string, Promise<void>>();

  async run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const before = this.#tails.get(key) ?? Promise.resolve();
    const { promise: done, resolve } = Promise.withResolvers<void>();
    const tail = before.then(() => done);
    this.#tails.set(key, tail);
    await before;
    try {
      return await work();
    } finally {
      resolve();
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    }
  }
}
