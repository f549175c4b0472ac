import { isKlError, KlError } from '@kubelustre/protocol/errors.ts';
import type { Logger } from '@kubelustre/protocol/log.ts';
import * as mdtOps from '@kubelustre/protocol/messages/mdt.ts';
import type { Node } from './attr.ts';
import type { TargetConnections } from './targets.ts';

interface Entry {
  /** Local handles on the file. */
  handles: number;
  /** The mdt.open of the first handle; every later handle waits for it. */
  opened: Promise<Node>;
}

export interface MdtOpensDeps {
  targets: TargetConnections;
  log: Logger;
  /** The MDT lost this client's open of `fid` (eviction) and it could not be re-established. */
  onOpenLost: (fid: string, e: KlError) => void;
}

/**
 * This client's opens on the MDT, one per file however many handles it has (Lustre's MDS_OPEN with the
 * client's own counting): mdt.open goes out with the first local handle and answers the fresh node,
 * which then replaces the getattr an open would need; mdt.close goes out after the last handle closed,
 * without being waited for, so close(2) costs nothing more. That is safe because a close lost with a
 * crashed client is made up for by eviction, a new open of the same file waits for our close to be
 * answered (so the MDT never sees them reordered), and KlClient.close waits for every close in flight.
 *
 * While it holds opens the client renews its lease with mdt.renew several times per lease. An MDT that
 * evicted us anyway (we were partitioned for longer) says so once; we then open every file again, and
 * a file the MDT freed meanwhile (an orphan whose objects are gone) is reported through `onOpenLost`.
 */
export class MdtOpens {
  readonly #deps: MdtOpensDeps;
  readonly #byFid = new Map<string, Entry>();
  /** mdt.close calls sent and not answered yet, by FID. */
  readonly #closing = new Map<string, Promise<void>>();
  #renewTimer: NodeJS.Timeout | undefined;
  #renewEveryMs = 0;
  #renewing: Promise<void> | undefined;

  constructor(deps: MdtOpensDeps) {
    this.#deps = deps;
  }

  /** Files this client holds open on the MDT. */
  get openCount(): number {
    return this.#byFid.size;
  }

  /**
   * Counts one more local handle on `fid`. The first sends mdt.open and answers the node the MDT gave
   * (fresh attributes and layout); later ones answer undefined once that open succeeded.
   */
  async acquire(fid: string): Promise<Node | undefined> {
    let entry = this.#byFid.get(fid);
    const first = entry === undefined;
    if (entry === undefined) {
      entry = { handles: 0, opened: this.#open(fid) };
      this.#byFid.set(fid, entry);
    }
    entry.handles++;
    try {
      const node = await entry.opened;
      return first ? node : undefined;
    } catch (e) {
      entry.handles--;
      if (entry.handles === 0 && this.#byFid.get(fid) === entry) this.#byFid.delete(fid);
      throw e;
    }
  }

  /**
   * Counts a handle on a file the MDT has just recorded open for us (mdt.create_open): no mdt.open is
   * needed. The MDT answers a connection's requests in order, so a close of ours still in flight for the
   * same file (an existing file opened with O_CREAT) was done before this open.
   */
  adopt(node: Node, leaseMs: number): void {
    const fid = node.attr.fid;
    const entry = this.#byFid.get(fid);
    if (entry !== undefined) {
      entry.handles++;
      entry.opened = Promise.resolve(node);
    } else this.#byFid.set(fid, { handles: 1, opened: Promise.resolve(node) });
    this.#renewWithin(leaseMs);
  }

  /** One local handle on `fid` is gone; after the last, mdt.close is sent (not waited for). */
  release(fid: string): void {
    const entry = this.#byFid.get(fid);
    if (entry === undefined) throw new KlError('EBADF', `${fid} is not open on the MDT through this client`);
    if (--entry.handles > 0) return;
    this.#byFid.delete(fid);
    this.#sendClose(fid);
    if (this.#byFid.size === 0) this.#stopRenewing();
  }

  /** Resolves once every mdt.close sent so far has been answered (or failed, which is logged). */
  async settled(): Promise<void> {
    while (this.#closing.size > 0) await Promise.all(this.#closing.values());
  }

  /** At client close: closes every file still open on the MDT and waits for all closes. */
  async closeAll(): Promise<void> {
    this.#stopRenewing();
    for (const fid of [...this.#byFid.keys()]) {
      this.#byFid.delete(fid);
      this.#sendClose(fid);
    }
    await this.settled();
  }

  async #open(fid: string): Promise<Node> {
    // After our own close of this file: the MDT must see the close before the new open.
    await this.#closing.get(fid);
    try {
      const { reply } = await this.#deps.targets.mdt().call(mdtOps.open, { fid });
      this.#renewWithin(reply.leaseMs);
      return reply.node;
    } catch (e) {
      // No reply does not mean no open: close it, or it would pin an orphan for as long as we live.
      if (isKlError(e, 'ETIMEDOUT')) this.#sendClose(fid);
      throw e;
    }
  }

  #sendClose(fid: string): void {
    const sent = this.#deps.targets
      .mdt()
      .call(mdtOps.close, { fid })
      .then(
        () => undefined,
        (e: unknown) =>
          this.#deps.log.warn(
            { fid, err: (e as Error).message },
            'mdt.close failed; the MDT drops the open when our lease expires',
          ),
      )
      .finally(() => {
        if (this.#closing.get(fid) === sent) this.#closing.delete(fid);
      });
    this.#closing.set(fid, sent);
  }

  /** Renews four times per lease, so one lost renewal is not yet an eviction. */
  #renewWithin(leaseMs: number): void {
    const everyMs = Math.max(1, Math.floor(leaseMs / 4));
    if (this.#renewTimer !== undefined && everyMs === this.#renewEveryMs) return;
    this.#stopRenewing();
    this.#renewEveryMs = everyMs;
    this.#renewTimer = setInterval(() => {
      this.#renewing ??= this.#renew().finally(() => {
        this.#renewing = undefined;
      });
    }, everyMs);
    this.#renewTimer.unref();
  }

  #stopRenewing(): void {
    clearInterval(this.#renewTimer);
    this.#renewTimer = undefined;
  }

  async #renew(): Promise<void> {
    try {
      const { reply } = await this.#deps.targets.mdt().call(mdtOps.renew, {}, undefined, this.#renewEveryMs);
      if (reply.evicted) await this.#reopenAll();
    } catch (e) {
      // ESHUTDOWN: the client is closing, which closes its opens anyway.
      if (isKlError(e, 'ESHUTDOWN')) return;
      this.#deps.log.warn({ err: (e as Error).message }, 'Lease renewal with the MDT failed; retrying');
    }
  }

  /** After an eviction: open every file again; one the MDT no longer has is reported lost. */
  async #reopenAll(): Promise<void> {
    const fids = [...this.#byFid.keys()];
    this.#deps.log.error({ files: fids.length }, 'The MDT evicted this client; reopening its files');
    await Promise.all(
      fids.map(async (fid) => {
        try {
          await this.#deps.targets.mdt().call(mdtOps.open, { fid });
        } catch (e) {
          const lost = new KlError('EIO', `${fid}: the MDT evicted this client and the file is gone`, {
            cause: e,
          });
          this.#deps.onOpenLost(fid, lost);
        }
      }),
    );
  }
}
