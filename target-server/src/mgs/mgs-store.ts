import { join } from 'node:path';
import { KlError } from '@kubelustre/protocol/errors.ts';
import { FsConfig } from '@kubelustre/protocol/messages/mgs.ts';
import { readJsonFile, writeFileAtomic } from '../server/atomic-file.ts';
import { ConfigWaiters } from './config-waiters.ts';
import { initialMgsState, type MgsState } from './registry.ts';

export const MGS_STATE_FILE = 'mgs.json';

export interface Change {
  before: MgsState;
  after: MgsState;
}

/**
 * Holds the MGS state, applies transitions one at a time, and makes each new version durable in
 * `DATA/mgs.json` before anyone can see it: a client never learns a version that a crash could take back.
 * Transitions that keep the version (space reports, heartbeats) stay in memory; they are re-sent every
 * few seconds, so writing them would cost a sync per report for nothing.
 */
export class MgsStore {
  readonly #path: string;
  readonly #waiters: ConfigWaiters;
  #state: MgsState;
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(path: string, state: MgsState, waiters: ConfigWaiters) {
    this.#path = path;
    this.#state = state;
    this.#waiters = waiters;
  }

  /** Loads `DATA/mgs.json`, or creates it for a new filesystem. */
  static async open(dataDir: string, fsName: string, waiters = new ConfigWaiters()): Promise<MgsStore> {
    const path = join(dataDir, MGS_STATE_FILE);
    const loaded = await readJsonFile(path, FsConfig);
    if (loaded && loaded.fsName !== fsName) {
      throw new KlError(
        'EEXIST',
        `${path} holds the configuration of filesystem "${loaded.fsName}", not "${fsName}"; ` +
          'give this MGS its own data directory',
      );
    }
    const store = new MgsStore(path, loaded ?? initialMgsState(fsName), waiters);
    if (!loaded) await store.#persist(store.#state);
    return store;
  }

  get state(): MgsState {
    return this.#state;
  }

  /**
   * Applies `transition` to the current state after every earlier one finished. When the version changed,
   * the new state is written and parked long polls are woken; if the write fails, the state is unchanged
   * and the error (EIO, ENOSPC...) goes to the caller.
   */
  update(transition: (state: MgsState) => MgsState): Promise<Change> {
    const run = this.#queue.then(async (): Promise<Change> => {
      const before = this.#state;
      const after = transition(before);
      if (after.version !== before.version) await this.#persist(after);
      this.#state = after;
      if (after.version !== before.version) this.#waiters.wakeAll();
      return { before, after };
    });
    this.#queue = run.catch(() => {});
    return run;
  }

  /**
   * The state as soon as its version differs from `sinceVersion` (at once if it already does), or the
   * unchanged state after `waitMs`: Lustre clients likewise re-read the config log when the MGS revokes
   * their config lock.
   */
  async waitForChange(sinceVersion: number, waitMs: number): Promise<MgsState> {
    if (this.#state.version !== sinceVersion || waitMs === 0) return this.#state;
    await this.#waiters.wait(waitMs);
    return this.#state;
  }

  /** Answers parked polls and waits for transitions in progress to be written. */
  async close(): Promise<void> {
    this.#waiters.wakeAll();
    await this.#queue;
  }

  async #persist(state: MgsState): Promise<void> {
    await writeFileAtomic(this.#path, `${JSON.stringify(state, null, 2)}\n`);
  }
}
