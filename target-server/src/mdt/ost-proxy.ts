import type { FsConfigValue } from '@kubelustre/protocol/config-watcher.ts';
import { KlError } from '@kubelustre/protocol/errors.ts';
import type { OstSpace } from '@kubelustre/protocol/layout/index.ts';
import type { Logger } from '@kubelustre/protocol/log.ts';
import type { Statfs } from '@kubelustre/protocol/messages/common.ts';
import * as ost from '@kubelustre/protocol/messages/ost.ts';
import { RpcClient } from '@kubelustre/protocol/wire/rpc-client.ts';
import type { Static } from '@sinclair/typebox';

export interface OstProxyOptions {
  /** Object ids asked for per ost.precreate. */
  precreateBatch?: number;
  /** A pool with fewer ids than this is refilled. */
  refillBelow?: number;
  statfsIntervalMs?: number;
  requestTimeoutMs?: number;
}

interface IdRange {
  next: number;
  last: number;
}

interface OstState {
  index: number;
  client: RpcClient;
  /** Precreated ids not handed out yet, oldest range first. */
  ranges: IdRange[];
  refilling: boolean;
  /** Answered its last statfs and precreate: the allocator may use it. */
  active: boolean;
  space: Static<typeof Statfs> | undefined;
}

/**
 * Lustre's OSP: the MDT's side of every OST. Keeps, per OST, a pool of object ids the OST precreated for
 * this MDT (ost.precreate), refilled in the background so that instantiating a layout takes ids from
 * memory without an OST round trip; polls ost.statfs for the allocator's free space; an OST that does
 * not answer is inactive for allocation.
 *
 * Nothing about the pools is persisted: ids left in a pool when the MDT stops are simply never used.
 * They were never written, so no object exists for them on the OST beyond its last-id counter, and no
 * file refers to them: nothing leaks, and the OST never hands an id out twice.
 */
export class OstProxy {
  readonly #mdtIndex: number;
  readonly #key: Buffer;
  readonly #log: Logger;
  readonly #opts: Required<OstProxyOptions>;
  readonly #osts = new Map<number, OstState>();
  readonly #timer: NodeJS.Timeout;
  readonly #clientUuid = crypto.randomUUID();
  #config: FsConfigValue | undefined;

  constructor(mdtIndex: number, key: Buffer, log: Logger, opts: OstProxyOptions = {}) {
    this.#mdtIndex = mdtIndex;
    this.#key = key;
    this.#log = log;
    this.#opts = {
      precreateBatch: 256,
      refillBelow: 64,
      statfsIntervalMs: 3000,
      requestTimeoutMs: 10_000,
      ...opts,
    };
    this.#timer = setInterval(() => this.#pollAll(), this.#opts.statfsIntervalMs);
    this.#timer.unref();
  }

  get config(): FsConfigValue | undefined {
    return this.#config;
  }

  /** Follows a new MGS configuration: connects to new OSTs, follows moved ones, drops removed ones. */
  applyConfig(config: FsConfigValue): void {
    this.#config = config;
    const seen = new Set<number>();
    for (const t of config.targets) {
      if (t.role !== 'ost') continue;
      seen.add(t.index);
      const known = this.#osts.get(t.index);
      if (!known) this.#add(t.index, t.address);
      else {
        known.client.setAddress(t.address);
        // The MGS says it is back: ask now rather than at the next poll, so allocation resumes at once.
        if (!known.active && t.state === 'up') void this.#poll(known);
      }
    }
    for (const [index, state] of this.#osts) {
      if (seen.has(index)) continue;
      state.client.close();
      this.#osts.delete(index);
      this.#log.info({ ost: index }, 'Dropped OST removed from the configuration');
    }
  }

  #add(index: number, address: string): void {
    const client = new RpcClient({
      address,
      key: this.#key,
      clientUuid: this.#clientUuid,
      log: this.#log,
      requestTimeoutMs: this.#opts.requestTimeoutMs,
      backoffMaxMs: 2000,
    });
    const state: OstState = { index, client, ranges: [], refilling: false, active: false, space: undefined };
    this.#osts.set(index, state);
    this.#log.info({ ost: index, address }, 'Connected OST proxy');
    void this.#poll(state);
  }

  #pollAll(): void {
    for (const state of this.#osts.values()) void this.#poll(state);
  }

  async #poll(state: OstState): Promise<void> {
    try {
      const { reply } = await state.client.call(ost.statfs, {}, undefined, this.#opts.statfsIntervalMs);
      state.space = reply;
      if (!state.active) this.#log.info({ ost: state.index }, 'OST answered; active for allocation');
      state.active = true;
      this.#refill(state);
    } catch (e) {
      if (state.active)
        this.#log.warn({ ost: state.index, err: (e as Error).message }, 'OST stopped answering; inactive');
      state.active = false;
    }
  }

  #refill(state: OstState): void {
    if (state.refilling || available(state) >= this.#opts.refillBelow) return;
    state.refilling = true;
    const count = this.#opts.precreateBatch;
    state.client
      .call(ost.precreate, { mdtIndex: this.#mdtIndex, count })
      .then(({ reply }) => {
        state.ranges.push({ next: reply.first, last: reply.last });
        state.refilling = false;
        this.#log.debug({ ost: state.index, first: reply.first, last: reply.last }, 'Precreated objects');
        this.#refill(state);
      })
      .catch((e: Error) => {
        state.refilling = false;
        state.active = false;
        this.#log.warn(
          { ost: state.index, err: e.message },
          'Precreate failed; OST inactive until it answers',
        );
      });
  }

  /** Free space per known OST, for `allocateStripes`. */
  spaces(): OstSpace[] {
    return [...this.#osts.values()].map((s) => ({
      index: s.index,
      active: s.active,
      freeBytes: s.space?.availBytes ?? 0,
      totalBytes: s.space?.totalBytes ?? 0,
    }));
  }

  freeBytes(index: number): number {
    const s = this.#osts.get(index);
    return s?.active ? (s.space?.availBytes ?? 0) : 0;
  }

  available(index: number): number {
    const s = this.#osts.get(index);
    return s === undefined ? 0 : available(s);
  }

  /** Takes one precreated id; the caller checked `available` first (within the same synchronous step). */
  take(index: number): number {
    const s = this.#osts.get(index);
    const range = s?.ranges[0];
    if (s === undefined || range === undefined)
      throw new KlError('EAGAIN', `no precreated objects on OST ${index}`);
    const id = range.next++;
    if (range.next > range.last) s.ranges.shift();
    this.#refill(s);
    return id;
  }

  /** Waits until each OST in `needed` has that many ids; EAGAIN naming the OSTs still short after `timeoutMs`. */
  async waitForIds(needed: ReadonlyMap<number, number>, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const short = [...needed]
        .filter(([index, count]) => this.available(index) < count)
        .map(([index]) => index);
      if (short.length === 0) return;
      for (const index of short) {
        const s = this.#osts.get(index);
        if (s) this.#refill(s);
      }
      if (Date.now() >= deadline) {
        throw new KlError(
          'EAGAIN',
          `OSTs ${short.join(', ')} have no precreated objects after ${timeoutMs} ms: not answering precreate`,
        );
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** ost.destroy on one OST (the destroy worker's transport). */
  async destroy(index: number, objIds: number[]): Promise<void> {
    const s = this.#osts.get(index);
    if (!s) throw new KlError('ENXIO', `OST ${index} is not in the filesystem configuration`);
    await s.client.call(ost.destroy, { objIds });
  }

  /** The indexes of every OST in the configuration. */
  indexes(): number[] {
    return [...this.#osts.keys()];
  }

  /** ost.quota_sync on one OST: its new grants; answers its per-project usage. */
  async quotaSync(
    index: number,
    grants: Array<{ projid: number; allowedBytes: number; limitBytes: number }>,
    timeoutMs: number,
  ): Promise<Array<{ projid: number; bytes: number }>> {
    const s = this.#osts.get(index);
    if (!s) throw new KlError('ENXIO', `OST ${index} is not in the filesystem configuration`);
    return (await s.client.call(ost.quotaSync, { grants }, undefined, timeoutMs)).reply.usage;
  }

  /** True once every known OST answered and has ids to hand out. */
  ready(): boolean {
    return [...this.#osts.values()].every((s) => s.active && available(s) > 0);
  }

  close(): void {
    clearInterval(this.#timer);
    for (const s of this.#osts.values()) s.client.close();
    this.#osts.clear();
  }
}

function available(s: OstState): number {
  return s.ranges.reduce((n, r) => n + r.last - r.next + 1, 0);
}
