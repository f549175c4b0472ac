import { constants } from 'node:fs';
import { KlError } from '@kubelustre/protocol/errors.ts';
import type { Logger } from '@kubelustre/protocol/log.ts';
import type { Node } from '../attr.ts';
import { O_ACCMODE, O_RDONLY } from '../mode.ts';
import type { PccCache, PccReader } from './pcc-cache.ts';
import { matchingRule, type RuleSubject } from './pcc-rules.ts';
import { type PccStateValue, parsePccCommand } from './pcc-state.ts';

const O_DIRECT = constants.O_DIRECT;
/** Names remembered for auto-attach rules (fname={...}), by FID; the oldest go first past this. */
const RULE_NAMES_MAX = 65_536;
/** Read-only auto-attaches copying at once; opens past this attach nothing. */
const AUTO_ATTACH_INFLIGHT_MAX = 4;

export interface PccHandlesOptions {
  /** The mount's PCC (`-o pcc=DIR`); undefined: none, and `lfs pcc` gets ENOTSUP. */
  pcc: PccCache | undefined;
  log: Logger;
  /** Offer read-only opens of current read-only copies for FUSE passthrough (`pcc_passthrough`). */
  passthrough: boolean;
}

/**
 * The FUSE layer's side of PCC (docs/pcc.md): which open handles read a read-only copy or go to a
 * read-write cache file, auto-attach rules at open and create, the size a read-write file shows on this
 * mount, and `lfs pcc` through the lustre.pcc xattr. KlFuseOps asks it first and falls back to the
 * OSTs whenever it answers undefined.
 */
export class PccHandles {
  readonly #pcc: PccCache | undefined;
  readonly #log: Logger;
  readonly #passthrough: boolean;
  /** Opens reading from a read-only copy, by fh. */
  readonly #readers = new Map<number, PccReader>();
  /** Opens of files cached read-write, by fh (their I/O goes to the cache file while it lasts). */
  readonly #rw = new Map<number, string>();
  /** The last name each file was looked up or created by (what fname={...} rules match). */
  readonly #names = new Map<string, string>();
  /** Read-only auto-attaches in flight, by FID. */
  readonly #autoAttaching = new Set<string>();

  constructor(o: PccHandlesOptions) {
    this.#pcc = o.pcc;
    this.#log = o.log;
    this.#passthrough = o.passthrough;
  }

  /** This mount will change `fid` other than by a local write: its own copy goes (see PccCache). */
  async beforeAnnounce(fid: string): Promise<void> {
    await this.#pcc?.dropLocal(fid);
  }

  rememberName(fid: string, name: string): void {
    if (!this.#pcc || this.#pcc.rules.length === 0) return;
    this.#names.delete(fid);
    this.#names.set(fid, name);
    if (this.#names.size > RULE_NAMES_MAX) this.#names.delete(this.#names.keys().next().value!);
  }

  /**
   * Handle `fh` was opened on `attr.fid`: a read-write file's I/O goes to its cache file; a read-only
   * open reads a current copy (answering its fd for FUSE passthrough when allowed) or may start an
   * auto-attach. A PCC failure only means no copy.
   */
  async opened(fh: number, attr: Node['attr'], flags: number): Promise<number | undefined> {
    const pcc = this.#pcc;
    if (!pcc) return undefined;
    if (this.#addRw(fh, attr.fid) || (flags & O_ACCMODE) !== O_RDONLY) return undefined;
    try {
      const reader = await pcc.openReader(attr.fid);
      if (!reader) {
        this.#autoAttachReadOnly(attr);
        return undefined;
      }
      this.#readers.set(fh, reader);
      if (!this.#passthrough || (flags & O_DIRECT) !== 0) return undefined;
      pcc.counters.passthroughOpens++;
      return reader.fd.fd;
    } catch (e) {
      this.#log.warn({ fid: attr.fid, err: (e as Error).message }, 'PCC open failed; reading from the OSTs');
      return undefined;
    }
  }

  /** A file about to be opened by its creator: an `rwid` rule matching it attaches it read-write first. */
  async beforeCreateOpen(attr: Node['attr']): Promise<void> {
    const pcc = this.#pcc;
    if (!pcc || pcc.rules.length === 0 || attr.size !== 0) return;
    const subject = this.#subject(attr);
    const rule = subject && matchingRule(pcc.rules, subject, 'rw');
    if (!rule) return;
    try {
      await pcc.attach(attr.fid, rule.rwid, true);
    } catch (e) {
      this.#log.warn({ fid: attr.fid, rule: rule.text, err: (e as Error).message }, 'PCC auto-attach failed');
    }
  }

  /** Handle `fh` was created (O_CREAT) on `fid`. */
  created(fh: number, fid: string): void {
    this.#addRw(fh, fid);
  }

  /** From the read-write cache file or a current read-only copy; undefined: read the OSTs. */
  async read(fh: number, offset: number, size: number): Promise<Buffer | undefined> {
    const pcc = this.#pcc;
    if (!pcc) return undefined;
    const rwFid = this.#rw.get(fh);
    if (rwFid !== undefined) {
      const local = await pcc.rw.read(rwFid, offset, size);
      if (local) return local;
    }
    const reader = this.#readers.get(fh);
    // A stale copy answers undefined from then on; its fd stays open until release, for reads in flight.
    return reader && (await pcc.read(reader, offset, size));
  }

  /** To the read-write cache file (no MDT round trip); undefined: write the OSTs (announced). */
  async write(fh: number, data: Buffer, offset: number, append: boolean): Promise<number | undefined> {
    const fid = this.#rw.get(fh);
    return fid === undefined ? undefined : this.#pcc?.rw.write(fid, data, offset, append);
  }

  /**
   * A size change (truncate, O_TRUNC) of `fid`: done to its read-write cache file, if it has one (the
   * OSTs get it at the next write-back). False: not cached read-write; the caller changes the OSTs.
   */
  async truncate(fid: string, size: number): Promise<boolean> {
    return (await this.#pcc?.rw.truncate(fid, size)) === true;
  }

  /** utimens of a file cached read-write: the mtime this mount shows is the cache file's. */
  touched(fid: string, mtimeMs: number): void {
    const a = this.#pcc?.rw.attachmentOf(fid);
    if (a) a.mtimeMs = mtimeMs;
  }

  /** fsync of a read-write file: its data goes back to the OSTs (it stays attached). False: not one. */
  async sync(fh: number): Promise<boolean> {
    const fid = this.#rw.get(fh);
    return fid !== undefined && (await this.#pcc?.rw.sync(fid)) === true;
  }

  /** The size of the file behind `fh` when a read-write cache file holds it (lseek answers by it). */
  localSize(fh: number): number | undefined {
    const fid = this.#rw.get(fh);
    return fid === undefined ? undefined : this.#pcc?.rw.attachmentOf(fid)?.size;
  }

  async released(fh: number): Promise<void> {
    const fid = this.#rw.get(fh);
    if (fid !== undefined) {
      this.#rw.delete(fh);
      const a = this.#pcc?.rw.attachmentOf(fid);
      if (a) a.users--;
    }
    const reader = this.#readers.get(fh);
    if (!reader || !this.#pcc) return;
    this.#readers.delete(fh);
    await this.#pcc.closeReader(reader).catch(() => undefined);
  }

  /**
   * A file cached read-write here: its size and mtime are the cache file's (the MDT's are those of the
   * last write-back).
   */
  withLocal(node: Node): Node {
    const a = this.#pcc?.rw.attachmentOf(node.attr.fid);
    if (!a) return node;
    const sec = Math.floor(a.mtimeMs / 1000);
    const mtime = { sec, nsec: Math.floor((a.mtimeMs - sec * 1000) * 1e6) };
    return { ...node, attr: { ...node.attr, size: a.size, blocks: Math.ceil(a.size / 512), mtime } };
  }

  /**
   * setxattr(lustre.pcc) on `xattrFid`: `lfs pcc attach`/`detach` (of the FID the command names, if
   * any). `openFids` are the files this mount has open: a read-write attach of one is EBUSY. Without a
   * PCC: ENOTSUP, logged, since setxattr(2) cannot carry the reason.
   */
  async control(xattrFid: string, value: Buffer, openFids: () => Iterable<string>): Promise<void> {
    const command = parsePccCommand(value);
    const fid = command.fid ?? xattrFid;
    if (!this.#pcc) {
      this.#log.warn({ fid, command: command.op }, 'Refused lfs pcc: this mount has no PCC (-o pcc=DIR)');
      throw new KlError('ENOTSUP', 'this mount has no PCC (-o pcc=DIR)');
    }
    if (command.op === 'detach') return this.#pcc.detach(fid);
    try {
      // Handles opened before would read and write the OSTs past the cache file.
      if (command.readWrite && [...openFids()].includes(fid)) {
        throw new KlError('EBUSY', `${fid} is open through this mount: close it before attaching read-write`);
      }
      await this.#pcc.attach(fid, command.archiveId, command.readWrite);
    } catch (e) {
      this.#log.warn({ fid, err: (e as Error).message }, 'PCC attach failed');
      throw e;
    }
  }

  /**
   * getxattr(lustre.pcc): the file's state on this mount and the mount's counters. A read-only copy is
   * checked with the MDT first, so a copy another client's write revoked shows as detached, as Lustre's
   * layout lock would have it; if the MDT cannot answer, the local state is shown (and the reason logged).
   */
  async state(fid: string): Promise<PccStateValue> {
    const pcc = this.#pcc;
    if (!pcc) return { enabled: false, type: 'none' };
    await pcc
      .validate(fid)
      .catch((e: unknown) =>
        this.#log.warn(
          { fid, err: (e as Error).message },
          'PCC state shown unvalidated: the MDT did not answer',
        ),
      );
    const attachedFiles = pcc.attachedCount + pcc.rw.count;
    const common = { enabled: true, attachedFiles, counters: pcc.metrics() };
    const rw = pcc.rw.attachmentOf(fid);
    if (rw) return { ...common, type: 'readwrite', path: rw.path, archiveId: rw.archiveId, users: rw.users };
    const a = pcc.attachmentOf(fid);
    if (!a) return { ...common, type: 'none' };
    const users = [...this.#readers.values()].filter((r) => r.attachment === a).length;
    return {
      ...common,
      type: 'readonly',
      path: a.path,
      archiveId: a.archiveId,
      dataVersion: a.dataVersion,
      users,
    };
  }

  /** At unmount: read-write files go back to the OSTs; the counters are logged. */
  async close(): Promise<void> {
    if (!this.#pcc) return;
    await this.#pcc.close();
    this.#log.info({ ...this.#pcc.metrics(), pcc: this.#pcc.dir }, 'PCC counters at unmount');
  }

  #addRw(fh: number, fid: string): boolean {
    const a = this.#pcc?.rw.attachmentOf(fid);
    if (!a) return false;
    this.#rw.set(fh, fid);
    a.users++;
    return true;
  }

  #subject(attr: Node['attr']): RuleSubject | undefined {
    const name = this.#names.get(attr.fid);
    return name === undefined ? undefined : { name, uid: attr.uid, gid: attr.gid, projid: attr.projid };
  }

  /**
   * A read-only open of a file no copy serves: a rule with roid (and open_attach or io_attach) attaches
   * it in the background; this open reads the OSTs, later ones the copy.
   */
  #autoAttachReadOnly(attr: Node['attr']): void {
    const pcc = this.#pcc;
    if (!pcc || pcc.rules.length === 0 || pcc.rw.attachmentOf(attr.fid)) return;
    const subject = this.#subject(attr);
    const rule = subject && matchingRule(pcc.rules, subject, 'ro');
    if (!rule || !(rule.openAttach || rule.ioAttach)) return;
    const fid = attr.fid;
    if (this.#autoAttaching.has(fid) || this.#autoAttaching.size >= AUTO_ATTACH_INFLIGHT_MAX) return;
    this.#autoAttaching.add(fid);
    pcc
      .attach(fid, rule.roid)
      .then(
        () => this.#log.info({ fid, rule: rule.text }, 'Auto-attached a file to PCC read-only'),
        (e: unknown) =>
          this.#log.info({ fid, rule: rule.text, err: (e as Error).message }, 'PCC auto-attach failed'),
      )
      .finally(() => this.#autoAttaching.delete(fid));
  }
}
