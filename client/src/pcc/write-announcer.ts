import { isKlError } from '@kubelustre/protocol/errors.ts';
import type { Logger } from '@kubelustre/protocol/log.ts';
import * as mdtOps from '@kubelustre/protocol/messages/mdt.ts';
import type { RpcClient } from '@kubelustre/protocol/wire/rpc-client.ts';
import { retryWhileRestoring } from './restore-wait.ts';

export interface WriteAnnouncerOptions {
  mdt: () => RpcClient;
  log: Logger;
  /** This mount is about to write `fid`: drop its own cached copy first. */
  beforeAnnounce?: (fid: string) => Promise<void>;
  /**
   * Whether the MDT already counts this client as a writer of `fid` that no client caches (its open
   * for write found the file untracked: MdtOpens.writeUntracked): a change through an open handle then
   * needs no announcement, since no copy exists and none can be made until that open's close.
   */
  writeUntracked?: (fid: string) => boolean;
}

interface Writer {
  /** The handles (FUSE fh) that wrote, or are about to. */
  handles: Set<number>;
  /** Some handle had no open on the MDT (failed open, change by path): the write is ended explicitly. */
  mdtOpenMissing: boolean;
  announced: Promise<void>;
}

/**
 * Tells the MDT which files this mount writes (mdt.pcc_write_open), which revokes every client's PCC
 * copy of them. Lazy: a handle announces before its first change (write, truncate, fallocate, copy into
 * it), not at open, so opens for write that never write cost nothing. The write ends on the MDT with
 * this client's mdt.close of the file (after its data was flushed), so a written file costs one extra
 * round trip; only a change with no open behind it (truncate by path, a failed open) ends it with
 * mdt.pcc_write_close. Every mount does this, with PCC or not: the copies it revokes are other mounts'.
 * A file no client caches costs nothing: a change through a handle whose open for write the MDT
 * recorded while the file was untracked is not announced (`writeUntracked`; docs/pcc.md, Coherence).
 */
export class WriteAnnouncer {
  readonly #opts: WriteAnnouncerOptions;
  readonly #byFid = new Map<string, Writer>();
  /**
   * mdt.pcc_write_close calls in flight: a new announcement of the file goes out after its close. (An
   * mdt.close is ordered before a later mdt.open of the file by MdtOpens, and announcements follow opens.)
   */
  readonly #closing = new Map<string, Promise<void>>();
  #unsupportedLogged = false;
  /** Handle numbers for one-off changes without a handle (truncate by path), below every real fh. */
  #nextAnonymous = -1;

  constructor(opts: WriteAnnouncerOptions) {
    this.#opts = opts;
  }

  /** Files this mount writes now. */
  get writingCount(): number {
    return this.#byFid.size;
  }

  /** Resolves once the MDT knows this mount writes `fid` through handle `fh`. */
  async beforeChange(fid: string, fh: number): Promise<void> {
    let w = this.#byFid.get(fid);
    if (w?.handles.has(fh)) return w.announced;
    // A real handle holds the MDT open (for write) until its release, which comes after this change.
    if (!w && fh > 0 && this.#opts.writeUntracked?.(fid) === true) return;
    if (!w) {
      w = { handles: new Set(), announced: this.#announce(fid), mdtOpenMissing: false };
      this.#byFid.set(fid, w);
    }
    w.handles.add(fh);
    try {
      await w.announced;
    } catch (e) {
      w.handles.delete(fh);
      if (w.handles.size === 0 && this.#byFid.get(fid) === w) this.#byFid.delete(fid);
      throw e;
    }
  }

  /**
   * Handle `fh` is closed and flushed. `openOnMdt`: the handle's open is recorded on the MDT, whose
   * mdt.close ends the write; otherwise the last writer of `fid` ends it with mdt.pcc_write_close.
   */
  async released(fid: string, fh: number, openOnMdt = true): Promise<void> {
    const w = this.#byFid.get(fid);
    if (!w?.handles.delete(fh)) return;
    w.mdtOpenMissing ||= !openOnMdt;
    if (w.handles.size > 0) return;
    this.#byFid.delete(fid);
    if (!w.mdtOpenMissing) return;
    const closing = this.#close(fid, w);
    this.#closing.set(fid, closing);
    try {
      await closing;
    } finally {
      if (this.#closing.get(fid) === closing) this.#closing.delete(fid);
    }
  }

  async #close(fid: string, w: Writer): Promise<void> {
    await w.announced.catch(() => undefined);
    try {
      await this.#opts.mdt().call(mdtOps.pccWriteClose, { fid });
    } catch (e) {
      // The MDT drops our writer record when it evicts us; until then attaches of the file are refused.
      if (!isKlError(e, 'ENOSYS') && !isKlError(e, 'ENOENT')) {
        this.#opts.log.warn({ fid, err: (e as Error).message }, 'mdt.pcc_write_close failed');
      }
    }
  }

  /** A change with no handle (truncate by path): announced before `run`, ended after it. */
  async around<T>(fid: string, run: () => Promise<T>): Promise<T> {
    const fh = this.#nextAnonymous--;
    await this.beforeChange(fid, fh);
    try {
      return await run();
    } finally {
      await this.released(fid, fh, false);
    }
  }

  async #announce(fid: string): Promise<void> {
    await this.#closing.get(fid);
    await this.#opts.beforeAnnounce?.(fid);
    try {
      // EAGAIN while another client caches the file read-write: it writes it back first.
      await retryWhileRestoring(() => this.#opts.mdt().call(mdtOps.pccWriteOpen, { fid }));
    } catch (e) {
      if (!isKlError(e, 'ENOSYS')) throw e;
      // An MDT older than PCC keeps no attachments: there is nothing to revoke.
      if (!this.#unsupportedLogged) this.#opts.log.warn({ fid }, 'MDT does not serve mdt.pcc_write_open');
      this.#unsupportedLogged = true;
    }
  }
}
