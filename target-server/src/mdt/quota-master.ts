import { KlError } from '@kubelustre/protocol/errors.ts';
import type { Logger } from '@kubelustre/protocol/log.ts';
import type { OstProxy } from './ost-proxy.ts';
import { blockLimits, getLimits } from './quota-limits.ts';
import type { Store } from './store.ts';

/** How long one OST may take to answer a quota round before its last report stands in. */
const ROUND_OST_TIMEOUT_MS = 2000;

/** What one OST holds and may hold, per project. */
interface OstQuota {
  usage: Map<number, number>;
  granted: Map<number, number>;
}

/**
 * The grant left for OST `ost` when every other OST keeps what it holds: the limit less, for each other
 * OST, the larger of its usage and its grant (an OST that did not answer the revoke keeps its grant).
 * Pure, so the arithmetic is tested on its own.
 */
export function headroomFor(
  limitBytes: number,
  others: ReadonlyArray<{ usedBytes: number; grantedBytes: number }>,
): number {
  const held = others.reduce((sum, o) => sum + Math.max(o.usedBytes, o.grantedBytes), 0);
  return Math.max(0, limitBytes - held);
}

/**
 * Lustre's quota master (QMT) for block limits. Each OST holds a grant per limited project and refuses
 * writes past it; grants always partition the limit (their sum, with what OSTs hold beyond them, never
 * passes it), so OSTs never together overshoot by more than the writes in flight when a grant shrank.
 *
 * A project starts with every grant at 0. An OST refusing a write makes the client ask for more
 * (`acquire`): the MDT revokes the project's grants on the other OSTs (each then holds its usage), and
 * grants this OST the rest of the limit. Every `intervalMs` a round resends the grants (an OST restarted
 * knows none until then: at most one interval unenforced) and collects usage for `lfs quota`.
 */
export class QuotaMaster {
  readonly #store: Store;
  readonly #osp: OstProxy;
  readonly #log: Logger;
  readonly #osts = new Map<number, OstQuota>();
  readonly #timer: NodeJS.Timeout;
  /** Rounds and acquisitions run one at a time, so grants never race. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(store: Store, osp: OstProxy, log: Logger, intervalMs: number) {
    this.#store = store;
    this.#osp = osp;
    this.#log = log;
    this.#timer = setInterval(() => void this.round(), intervalMs);
    this.#timer.unref();
  }

  /** Sends every OST its grants and collects its usage. */
  round(): Promise<void> {
    return this.#serial(async () => {
      if (!this.#store.db.isOpen) return;
      const osts = this.#currentOsts();
      await Promise.all(osts.map((ost) => this.#sync(ost)));
    });
  }

  /** A limit changed: every OST's grant of the project starts again from 0, then a round sends it. */
  limitChanged(projid: number): Promise<void> {
    for (const q of this.#osts.values()) q.granted.delete(projid);
    return this.round();
  }

  /** Revokes the project's grants elsewhere and grants OST `ost` what is left of its limit. */
  acquire(projid: number, ost: number): Promise<void> {
    return this.#serial(async () => {
      const osts = this.#currentOsts();
      if (!osts.includes(ost))
        throw new KlError('ENXIO', `OST ${ost} is not in the filesystem configuration`);
      const { blockHardBytes } = getLimits(this.#store, projid);
      if (blockHardBytes === 0) return;
      const others = osts.filter((o) => o !== ost);
      const revoked = await Promise.all(
        others.map(async (o) => {
          const q = this.#quotaOf(o);
          const before = q.granted.get(projid) ?? 0;
          q.granted.set(projid, 0);
          // Not answering, it may still use what it was granted.
          if (!(await this.#sync(o))) q.granted.set(projid, before);
          return { usedBytes: q.usage.get(projid) ?? 0, grantedBytes: q.granted.get(projid) ?? 0 };
        }),
      );
      this.#quotaOf(ost).granted.set(projid, headroomFor(blockHardBytes, revoked));
      await this.#sync(ost);
    });
  }

  /** Bytes the project holds on all OSTs, as of their last reports. */
  usedBytes(projid: number): number {
    let total = 0;
    for (const q of this.#osts.values()) total += q.usage.get(projid) ?? 0;
    return total;
  }

  close(): void {
    clearInterval(this.#timer);
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(fn);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  #currentOsts(): number[] {
    const osts = this.#osp.indexes();
    for (const known of this.#osts.keys()) if (!osts.includes(known)) this.#osts.delete(known);
    return osts;
  }

  #quotaOf(ost: number): OstQuota {
    let q = this.#osts.get(ost);
    if (!q) {
      q = { usage: new Map(), granted: new Map() };
      this.#osts.set(ost, q);
    }
    return q;
  }

  /** One ost.quota_sync with the OST's grants for every limited project; false if it did not answer. */
  async #sync(ost: number): Promise<boolean> {
    const q = this.#quotaOf(ost);
    const limits = blockLimits(this.#store);
    const grants = [...limits].map(([projid, limitBytes]) => ({
      projid,
      allowedBytes: q.granted.get(projid) ?? 0,
      limitBytes,
    }));
    try {
      const usage = await this.#osp.quotaSync(ost, grants, ROUND_OST_TIMEOUT_MS);
      q.usage = new Map(usage.map((u) => [u.projid, u.bytes]));
      return true;
    } catch (e) {
      this.#log.debug({ ost, err: (e as Error).message }, 'Kept last quota report of an OST not answering');
      return false;
    }
  }
}
