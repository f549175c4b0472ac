import type { Static } from '@sinclair/typebox';
import { isKlError } from './errors.ts';
import type { Logger } from './log.ts';
import { config as configOp, type FsConfig } from './messages/mgs.ts';
import type { RpcClient } from './wire/rpc-client.ts';

export type FsConfigValue = Static<typeof FsConfig>;

/**
 * Follows the MGS's configuration by long polling: each poll returns at once when the MGS has a newer
 * version, else waits for one. Listeners hear every new version, so clients and targets learn of new
 * OSTs, pools and default layouts without remounting or restarting.
 */
export class ConfigWatcher {
  readonly #mgs: RpcClient;
  readonly #log: Logger;
  readonly #pollWaitMs: number;
  readonly #listeners = new Set<(c: FsConfigValue) => void>();
  #current: FsConfigValue | undefined;
  #stopped = false;
  #firstWaiters: Array<{ resolve: (c: FsConfigValue) => void; reject: (e: Error) => void }> = [];

  constructor(mgs: RpcClient, log: Logger, pollWaitMs = 30_000) {
    this.#mgs = mgs;
    this.#log = log;
    this.#pollWaitMs = pollWaitMs;
  }

  get current(): FsConfigValue | undefined {
    return this.#current;
  }

  /** Starts polling; resolves with the first configuration (rejects if the MGS refuses us). */
  start(): Promise<FsConfigValue> {
    const first = new Promise<FsConfigValue>((resolve, reject) =>
      this.#firstWaiters.push({ resolve, reject }),
    );
    void this.#loop();
    return first;
  }

  onChange(listener: (c: FsConfigValue) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Fetches now (after a change this process made itself), without waiting for the poll. */
  async refresh(): Promise<FsConfigValue> {
    const { reply } = await this.#mgs.call(configOp, { sinceVersion: -1, waitMs: 0 });
    this.#apply(reply);
    return this.#current!;
  }

  stop(): void {
    this.#stopped = true;
  }

  async #loop(): Promise<void> {
    let failures = 0;
    while (!this.#stopped) {
      const since = this.#current?.version ?? -1;
      const waitMs = since < 0 ? 0 : this.#pollWaitMs;
      try {
        const { reply } = await this.#mgs.call(
          configOp,
          { sinceVersion: since, waitMs },
          undefined,
          waitMs + 30_000,
        );
        failures = 0;
        this.#apply(reply);
      } catch (e) {
        if (this.#stopped) return;
        if (isKlError(e, 'EACCES') || isKlError(e, 'ESHUTDOWN')) {
          for (const w of this.#firstWaiters.splice(0)) w.reject(e as Error);
          if (isKlError(e, 'ESHUTDOWN')) return;
        }
        failures++;
        this.#log.warn({ err: (e as Error).message, failures }, 'Config poll failed; retrying');
        await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** failures, 5000)));
      }
    }
  }

  #apply(c: FsConfigValue): void {
    const changed = !this.#current || c.version !== this.#current.version;
    this.#current = changed ? c : { ...this.#current!, targets: c.targets };
    for (const w of this.#firstWaiters.splice(0)) w.resolve(c);
    if (!changed) return;
    this.#log.info({ version: c.version }, 'Received filesystem configuration');
    for (const l of this.#listeners) l(c);
  }
}
