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
  /** The MDT recorded this client's open for write (mdt.open2 `write`). */
  write: boolean;
  /**
   * Open for write, and the file was not PCC-tracked when the MDT recorded it: the MDT counts the open
   * as a writer until our close, so no client can attach the file meanwhile and our writes need no
   * announcement (docs/pcc.md, Coherence).
   */
  writeUntracked: boolean;
}

/** What mdt.open2 and mdt.create_open2 answer beside the node. */
export interface OpenAccess {
  /** The open was for write. */
  write: boolean;
  /** The MDT's `pccTracked`. */
  pccTracked: boolean;
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
  /** The MDT answered ENOSYS to mdt.open2 (older than it): mdt.open, and every write is announced. */
  #open2Unsupported = false;

  constructor(deps: MdtOpensDeps) {
    this.#deps = deps;
  }

  /** Files this client holds open on the MDT. */
  get openCount(): number {
    return this.#byFid.size;
  }

  /**
   * Counts one more local handle on `fid`. The first sends mdt.open2 (`write`: the handle may write)
   * and answers the node the MDT gave (fresh attributes and layout); later ones answer undefined once
   * that open succeeded. A later handle for write on a file first opened read-only adds no write intent
   * on the MDT: its writes are announced (WriteAnnouncer).
   */
  async acquire(fid: string, write = false): Promise<Node | undefined> {
    let entry = this.#byFid.get(fid);
    const first = entry === undefined;
    if (entry === undefined) {
      const fresh: Entry = {
        handles: 0,
        write,
        writeUntracked: false,
        opened: this.#open(fid, write, (untracked) => {
          fresh.writeUntracked = untracked;
        }),
      };
      entry = fresh;
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
  adopt(node: Node, leaseMs: number, access?: OpenAccess): void {
    const fid = node.attr.fid;
    const write = access?.write === true;
    const untracked = write && access?.pccTracked === false;
    const entry = this.#byFid.get(fid);
    if (entry !== undefined) {
      entry.handles++;
      entry.opened = Promise.resolve(node);
      // Held open for write since it was untracked: nobody could attach it since (see Entry).
      entry.writeUntracked ||= untracked;
      entry.write ||= write;
    } else {
      const opened = Promise.resolve(node);
      this.#byFid.set(fid, { handles: 1, opened, write, writeUntracked: untracked });
    }
    this.#renewWithin(leaseMs);
  }

  /**
   * Whether this client holds `fid` open on the MDT for write since a time the file was not PCC-tracked:
   * then a change through one of its handles needs no mdt.pcc_write_open (docs/pcc.md, Coherence).
   */
  writeUntracked(fid: string): boolean {
    return this.#byFid.get(fid)?.writeUntracked === true;
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

  async #open(fid: string, write: boolean, setUntracked: (untracked: boolean) => void): Promise<Node> {
    // After our own close of this file: the MDT must see the close before the new open.
    await this.#closing.get(fid);
    try {
      const { node, leaseMs, access } = await this.#openOnMdt(fid, write);
      setUntracked(access?.write === true && !access.pccTracked);
      this.#renewWithin(leaseMs);
      return node;
    } catch (e) {
      // No reply does not mean no open: close it, or it would pin an orphan for as long as we live.
      if (isKlError(e, 'ETIMEDOUT')) this.#sendClose(fid);
      throw e;
    }
  }

  /** mdt.open2, or mdt.open (no access mode: `access` undefined) from an MDT older than it. */
  async #openOnMdt(
    fid: string,
    write: boolean,
  ): Promise<{ node: Node; leaseMs: number; access?: OpenAccess }> {
    const mdt = this.#deps.targets.mdt();
    if (!this.#open2Unsupported) {
      try {
        const { reply } = await mdt.call(mdtOps.open2, { fid, write });
        return { node: reply.node, leaseMs: reply.leaseMs, access: { write, pccTracked: reply.pccTracked } };
      } catch (e) {
        if (!isKlError(e, 'ENOSYS')) throw e;
        this.#open2Unsupported = true;
      }
    }
    const { reply } = await mdt.call(mdtOps.open, { fid });
    return reply;
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

  /**
   * After an eviction: open every file again (for write as before); one the MDT no longer has is
   * reported lost. The MDT dropped our opens for write meanwhile, so a client may have attached a file
   * we write: from now on our writes to it are announced (which revokes such copies).
   */
  async #reopenAll(): Promise<void> {
    const entries = [...this.#byFid];
    this.#deps.log.error({ files: entries.length }, 'The MDT evicted this client; reopening its files');
    await Promise.all(
      entries.map(async ([fid, entry]) => {
        entry.writeUntracked = false;
        try {
          await this.#openOnMdt(fid, entry.write);
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
