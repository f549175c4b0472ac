import { KlError } from '@kubelustre/protocol/errors.ts';

/** Long polls one MGS holds at once; each is a parked request of one client or target. */
export const CONFIG_WAITERS_MAX = 4096;

interface Waiter {
  resolve: () => void;
  timer: NodeJS.Timeout;
}

/**
 * Parked `mgs.config` long polls. A poll waits until the configuration changes or its time is up, then
 * answers with whatever is current; either way the caller re-reads the state, so a waiter carries no data.
 */
export class ConfigWaiters {
  readonly #waiters = new Set<Waiter>();
  readonly #max: number;

  constructor(max = CONFIG_WAITERS_MAX) {
    this.#max = max;
  }

  get size(): number {
    return this.#waiters.size;
  }

  /** Resolves at the next `wakeAll()` or after `waitMs`. Refuses with EAGAIN when too many are parked. */
  wait(waitMs: number): Promise<void> {
    if (this.#waiters.size >= this.#max) {
      return Promise.reject(
        new KlError('EAGAIN', `the MGS already holds ${this.#max} config long polls; retry shortly`),
      );
    }
    return new Promise((resolve) => {
      const waiter: Waiter = {
        resolve: () => {
          clearTimeout(waiter.timer);
          this.#waiters.delete(waiter);
          resolve();
        },
        timer: setTimeout(() => waiter.resolve(), waitMs),
      };
      this.#waiters.add(waiter);
    });
  }

  /** Answers every parked poll (the configuration changed, or the MGS is stopping). */
  wakeAll(): void {
    for (const w of [...this.#waiters]) w.resolve();
  }
}
