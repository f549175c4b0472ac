import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { isKlError, KlError } from '@kubelustre/protocol/errors.ts';
import type { Logger } from '@kubelustre/protocol/log.ts';
import { register, report } from '@kubelustre/protocol/messages/mgs.ts';
import type { ReplyOf, RequestOf } from '@kubelustre/protocol/messages/op.ts';
import { RpcClient } from '@kubelustre/protocol/wire/rpc-client.ts';
import type { StatfsValue } from './role.ts';
import { targetLabel, targetName } from './target-name.ts';

export const REPORT_INTERVAL_MS_DEFAULT = 2000;
/** How long a starting target keeps trying to reach the MGS before it gives up (and is restarted). */
export const REGISTER_TIMEOUT_MS_DEFAULT = 300_000;
/**
 * A registration attempt waits this long at first, doubling up to ATTEMPT_TIMEOUT_MS_MAX: the RPC client
 * reconnects quietly while a call waits, so only a timeout tells us (and the log) that the MGS is away.
 */
const ATTEMPT_TIMEOUT_MS_MIN = 1000;
const ATTEMPT_TIMEOUT_MS_MAX = 5000;
const REPORT_TIMEOUT_MS = 5000;
const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 5000;

export interface MgsLinkOptions {
  /** `host:port` of the MGS. */
  mgsAddress: string;
  key: Buffer;
  log: Logger;
  /** What this target announces: role, index, uuid (from target.json) and advertised address. */
  registration: RequestOf<typeof register>;
  reportIntervalMs?: number;
  registerTimeoutMs?: number;
  /** Aborts a registration still waiting for the MGS (shutdown). */
  signal?: AbortSignal;
  /**
   * Called when the MGS no longer accepts this target (re-registration refused, or the MGS now serves
   * another filesystem): the target must not go on serving, so main.ts stops the process.
   */
  onRejected?: (err: KlError) => void;
}

/** Registers a target with the MGS and keeps it known there by periodic space reports. */
export class MgsLink {
  readonly #opts: MgsLinkOptions;
  readonly #client: RpcClient;
  readonly #reportIntervalMs: number;
  readonly fsName: string;
  #timer: NodeJS.Timeout | undefined;
  #reportFailing = false;
  #closed = false;

  /** Made by `registerWithMgs`, once the MGS accepted the target. */
  constructor(opts: MgsLinkOptions, client: RpcClient, fsName: string) {
    this.#opts = opts;
    this.#client = client;
    this.#reportIntervalMs = opts.reportIntervalMs ?? REPORT_INTERVAL_MS_DEFAULT;
    this.fsName = fsName;
  }

  /** Reports `statfs()` every reportIntervalMs from now on, re-registering if the MGS forgot us. */
  startReporting(statfs: () => Promise<StatfsValue>): void {
    const next = () => {
      if (this.#closed) return;
      this.#timer = setTimeout(() => void this.#reportOnce(statfs).finally(next), this.#reportIntervalMs);
    };
    next();
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#client.close();
  }

  async #reportOnce(statfs: () => Promise<StatfsValue>): Promise<void> {
    const { role, index } = this.#opts.registration;
    try {
      const space = await statfs();
      await this.#client.call(report, { role, index, space }, undefined, REPORT_TIMEOUT_MS);
      if (this.#reportFailing) this.#opts.log.info({}, `Reached the MGS at ${this.#opts.mgsAddress} again`);
      this.#reportFailing = false;
    } catch (e) {
      if (this.#closed) return;
      if (isKlError(e, 'ENOENT')) return this.#reregister();
      // One line when reports start failing, not one per interval while the MGS is away.
      if (!this.#reportFailing) {
        this.#opts.log.warn(
          { err: (e as Error).message, everyMs: this.#reportIntervalMs },
          `Failed to report to the MGS at ${this.#opts.mgsAddress}; retrying`,
        );
      }
      this.#reportFailing = true;
    }
  }

  /** The MGS answered our report with "unknown target": it lost its state, so announce ourselves again. */
  async #reregister(): Promise<void> {
    const { role, index } = this.#opts.registration;
    const name = targetName(this.fsName, role, index);
    try {
      const { reply } = await this.#client.call(
        register,
        this.#opts.registration,
        undefined,
        ATTEMPT_TIMEOUT_MS_MAX,
      );
      if (reply.fsName !== this.fsName) {
        throw new KlError(
          'EEXIST',
          `the MGS at ${this.#opts.mgsAddress} now serves filesystem "${reply.fsName}", not "${this.fsName}"`,
        );
      }
      this.#opts.log.info(
        { version: reply.version },
        `Re-registered ${name} with the MGS (it did not know it)`,
      );
    } catch (e) {
      if (isKlError(e, 'EEXIST') || isKlError(e, 'EACCES')) {
        this.#opts.log.error({ err: e.message }, `The MGS refused ${name}`);
        this.#opts.onRejected?.(e);
        return;
      }
      this.#opts.log.warn({ err: (e as Error).message }, `Failed to re-register ${name}; will retry`);
    }
  }
}

async function registerWithRetries(
  client: RpcClient,
  opts: MgsLinkOptions,
): Promise<ReplyOf<typeof register>> {
  const label = targetLabel(opts.registration.role, opts.registration.index);
  const deadlineMs = Date.now() + (opts.registerTimeoutMs ?? REGISTER_TIMEOUT_MS_DEFAULT);
  let delayMs = BACKOFF_MIN_MS;
  for (let attempt = 1; ; attempt++) {
    try {
      const attemptMs = Math.min(ATTEMPT_TIMEOUT_MS_MIN * 2 ** (attempt - 1), ATTEMPT_TIMEOUT_MS_MAX);
      const timeoutMs = Math.max(1, Math.min(attemptMs, deadlineMs - Date.now()));
      return (await client.call(register, opts.registration, undefined, timeoutMs)).reply;
    } catch (e) {
      if (opts.signal?.aborted) throw new KlError('ESHUTDOWN', `stopped while registering ${label}`);
      if (isKlError(e, 'EACCES') || isKlError(e, 'EEXIST')) throw e;
      const why = (e as Error).message;
      if (Date.now() + delayMs >= deadlineMs) {
        throw new KlError(
          'ETIMEDOUT',
          `could not register ${label} with the MGS at ${opts.mgsAddress}: ${why}`,
        );
      }
      opts.log.warn(
        { attempt, retryInMs: delayMs, err: why },
        `Failed to register ${label} with the MGS; retrying`,
      );
      await sleep(delayMs, undefined, { signal: opts.signal }).catch(() => {});
      delayMs = Math.min(delayMs * 2, BACKOFF_MAX_MS);
    }
  }
}

/**
 * Registers, retrying with exponential backoff (each failure logged) until the MGS answers or
 * `registerTimeoutMs` passed. A wrong key (EACCES) or a taken index (EEXIST) fails at once: retrying
 * cannot fix either.
 */
export async function registerWithMgs(opts: MgsLinkOptions): Promise<MgsLink> {
  const client = new RpcClient({
    address: opts.mgsAddress,
    key: opts.key,
    clientUuid: randomUUID(),
    log: opts.log,
    backoffMaxMs: BACKOFF_MAX_MS,
  });
  const abort = () => client.close();
  opts.signal?.addEventListener('abort', abort, { once: true });
  try {
    const reply = await registerWithRetries(client, opts);
    const { role, index, address } = opts.registration;
    opts.log.info(
      { version: reply.version, address },
      `Registered ${targetName(reply.fsName, role, index)} with the MGS at ${opts.mgsAddress}`,
    );
    return new MgsLink(opts, client, reply.fsName);
  } catch (e) {
    client.close();
    throw e;
  } finally {
    opts.signal?.removeEventListener('abort', abort);
  }
}
