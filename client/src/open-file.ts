import type { KlError } from '@kubelustre/protocol/errors.ts';
import type { Layout } from '@kubelustre/protocol/layout/types.ts';
import type { Logger } from '@kubelustre/protocol/log.ts';
import * as mdtOps from '@kubelustre/protocol/messages/mdt.ts';
import { FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE } from '@kubelustre/protocol/messages/ost.ts';
import type { Attr, Timespec } from './attr.ts';
import { ByteBudget } from './io/byte-budget.ts';
import { Limiter } from './io/limiter.ts';
import type { ReadaheadOptions } from './io/readahead.ts';
import { type SeekWhence, seekFile } from './io/seek.ts';
import { StripedIo } from './io/striped-io.ts';
import { WritebackCache, type WritebackOptions } from './io/writeback.ts';
import type { TargetConnections } from './targets.ts';

const MiB = 1024 * 1024;

/** Data-path limits of one client; every one bounds memory or RPCs. */
export interface IoSettings {
  /** Data RPCs in flight per open file. */
  rpcsInflightPerFileMax: number;
  /** Dirty bytes the whole client holds before writes wait. */
  dirtyBytesMax: number;
  writeback: Omit<WritebackOptions, 'budget'>;
  /** Prefetched bytes the whole client holds; prefetching just stops beyond. */
  readaheadBytesMax: number;
  /** Prefetched bytes one file handle holds. */
  readaheadPerHandleBytesMax: number;
  readahead: ReadaheadOptions;
}

export const DEFAULT_IO_SETTINGS: IoSettings = {
  rpcsInflightPerFileMax: 16,
  dirtyBytesMax: 256 * MiB,
  writeback: { fileDirtyBytesMax: 32 * MiB, flushTriggerBytes: 8 * MiB, dirtyExpireMs: 5000 },
  readaheadBytesMax: 256 * MiB,
  readaheadPerHandleBytesMax: 128 * MiB,
  readahead: { windowMinBytes: MiB, windowMaxBytes: 64 * MiB },
};

/** What every OpenFile of one client shares. */
export interface OpenFileDeps {
  targets: TargetConnections;
  log: Logger;
  settings: IoSettings;
  dirtyBudget: ByteBudget;
  readaheadBudget: ByteBudget;
}

/**
 * The state this client keeps for a file while any handle has it open (Linux's in-core inode with its
 * page cache): the layout, the size as far as this client knows it, the write-back cache, and the
 * write-back errors not yet reported.
 *
 * Size follows close-to-open consistency, as NFS does: the size is read from the MDT at open (and
 * stat), raised by this client's own writes, and pushed to the MDT with mdt.size_update on flush, fsync
 * and close. Another client sees our writes once we closed (or fsynced) and it opened after that.
 */
export class OpenFile {
  readonly fid: string;
  readonly io: StripedIo;
  readonly writeback: WritebackCache;
  readonly #deps: OpenFileDeps;
  #attr: Attr;
  /** End of the highest byte this client wrote; the size is at least this. */
  #writtenEnd = 0;
  #sizePending = false;
  #lastWriteTime: Timespec = { sec: 0, nsec: 0 };
  #errorSeq = 0;
  #lastError: KlError | undefined;
  #dataVersion = 0;
  #appends: Promise<unknown> = Promise.resolve();
  handleCount = 0;

  constructor(attr: Attr, layout: Layout | undefined, deps: OpenFileDeps) {
    this.fid = attr.fid;
    this.#deps = deps;
    this.#attr = attr;
    this.io = new StripedIo(
      attr.fid,
      deps.targets,
      new Limiter(deps.settings.rpcsInflightPerFileMax),
      layout,
      () => this.#attr.projid,
    );
    this.writeback = new WritebackCache(
      (offset, data) => this.io.write(offset, data),
      (e) => this.#recordError(e),
      { ...deps.settings.writeback, budget: deps.dirtyBudget },
    );
  }

  get targets(): TargetConnections {
    return this.#deps.targets;
  }

  get size(): number {
    return Math.max(this.#attr.size, this.#writtenEnd);
  }

  /**
   * Attributes as this client sees them: the MDT's, with its own unpublished writes' size, mtime and
   * ctime on top (ctime as mdt.size_update will set it: moved with mtime, never backwards), so a stat
   * between a write and its flush sees both times change, as on a local filesystem.
   */
  get attr(): Attr {
    const attr = { ...this.#attr, size: this.size };
    if (!this.#sizePending) return attr;
    if (laterThan(this.#lastWriteTime, attr.mtime)) attr.mtime = this.#lastWriteTime;
    if (laterThan(this.#lastWriteTime, attr.ctime)) attr.ctime = this.#lastWriteTime;
    return attr;
  }

  /** Bumped by every write and truncate through this client: prefetched data older than it is stale. */
  get dataVersion(): number {
    return this.#dataVersion;
  }

  get errorSeq(): number {
    return this.#errorSeq;
  }

  /** The latest write-back error if one happened after `seenSeq` (each handle reports it once). */
  errorSince(seenSeq: number): KlError | undefined {
    return this.#errorSeq > seenSeq ? this.#lastError : undefined;
  }

  /** Records an error that happened outside write-back (the file was lost with an eviction). */
  fail(e: KlError): void {
    this.#recordError(e);
  }

  /** Takes what the MDT just said about the file (at open, stat, after setattr). */
  refresh(attr: Attr, layout: Layout | undefined): void {
    this.#attr = attr;
    this.io.adoptLayout(layout);
  }

  /**
   * The objects' bytes with this client's written bytes on top, as they were when the read began or
   * newer: a flush that lands after the objects answered is still seen (its bytes are overlaid).
   */
  async readObjects(offset: number, length: number): Promise<Buffer> {
    const token = this.writeback.beginRead();
    try {
      const data = await this.io.read(offset, length);
      this.writeback.overlay(data, offset, token);
      return data;
    } finally {
      this.writeback.endRead(token);
    }
  }

  /** Up to `length` bytes at `offset`, ending at the size: objects first, this client's dirty bytes on top. */
  async read(offset: number, length: number, fromObjects = (o: number, l: number) => this.readObjects(o, l)) {
    const n = Math.max(0, Math.min(length, this.size - offset));
    if (n === 0) return Buffer.alloc(0);
    const data = await fromObjects(offset, n);
    this.writeback.overlay(data, offset);
    return data;
  }

  /**
   * Buffers a write. Components the range needs are instantiated first (mdt.layout_intent), so running
   * out of OSTs or space for objects is reported by this write, not by a later flush.
   */
  async write(offset: number, data: Buffer): Promise<void> {
    if (data.length === 0) return;
    this.#dataVersion++;
    await this.io.instantiate(offset, data.length);
    await this.writeback.write(offset, data);
    this.#writtenEnd = Math.max(this.#writtenEnd, offset + data.length);
    this.#sizePending = true;
    this.#lastWriteTime = nowTimespec();
  }

  /** Writes at the end of the file; answers where. Appends through this client land one after another. */
  append(data: Buffer): Promise<number> {
    const done = this.#appends.then(async () => {
      const at = this.size;
      await this.write(at, data);
      return at;
    });
    this.#appends = done.catch(() => undefined);
    return done;
  }

  /** Writes dirty data out and publishes the size (what close and FUSE's flush do). */
  async flush(): Promise<void> {
    await this.writeback.flush();
    await this.#pushSize();
  }

  /**
   * fsync: the data on stable storage (ost.sync of every object written since the last sync), then the
   * size on the MDT (mdt.size_update) and durable there (mdt.sync, which also covers DoM data and the
   * inode itself). fdatasync skips mdt.sync when neither the size nor DoM data changed, as POSIX allows.
   */
  async fsync(datasync: boolean): Promise<void> {
    await this.writeback.flush();
    const { domWritten } = await this.io.syncData();
    const sizePushed = await this.#pushSize();
    if (!datasync || sizePushed || domWritten) await this.#deps.targets.mdt().call(mdtOps.sync, {});
  }

  /**
   * Truncate, as Lustre does it: dirty bytes past the new size are dropped and the rest written, each OST
   * object is punched to its share of a file of `size` bytes when the file shrinks, then the MDT records
   * the size (and trims DoM data). Extending only sets the size: the gap reads as a hole.
   */
  async truncate(size: number): Promise<void> {
    this.#dataVersion++;
    this.writeback.truncate(size);
    await this.writeback.flush();
    const { reply: fresh } = await this.#deps.targets.mdt().call(mdtOps.getattr, { fid: this.fid });
    this.refresh(fresh.attr, fresh.layout);
    if (size < this.size) await this.io.punchTo(size);
    const { reply } = await this.#deps.targets.mdt().call(mdtOps.setattr, { fid: this.fid, size });
    this.#writtenEnd = Math.min(this.#writtenEnd, size);
    this.refresh(reply.attr, reply.layout);
  }

  /**
   * lseek(SEEK_DATA / SEEK_HOLE) within the size this client knows: the objects are asked (ost.seek),
   * and bytes this client still holds (dirty or in flight) count as data wherever the objects have holes.
   */
  seek(offset: number, whence: SeekWhence): Promise<number> {
    const size = this.size;
    const held = this.writeback.heldRanges();
    return seekFile(offset, whence, size, held, (at, w) => this.io.seek(at, w, size));
  }

  /**
   * fallocate(2), mode already checked by the handle. Reserving instantiates and reserves the objects'
   * shares; without FALLOC_FL_KEEP_SIZE it raises the size, pushed to the MDT with the next flush as a
   * write's would be. Punching first flushes write-back, so no older dirty byte lands in the hole after
   * it is punched, then punches every object's share (and zeroes DoM bytes); it changes mtime, not size.
   */
  async fallocate(mode: number, offset: number, length: number): Promise<void> {
    this.#dataVersion++;
    if ((mode & FALLOC_FL_PUNCH_HOLE) !== 0) {
      await this.writeback.flush();
      await this.io.punchHole(offset, length, this.size);
    } else {
      await this.io.allocate(offset, length, mode);
      if ((mode & FALLOC_FL_KEEP_SIZE) !== 0 || offset + length <= this.size) return;
      this.#writtenEnd = offset + length;
    }
    this.#sizePending = true;
    this.#lastWriteTime = nowTimespec();
  }

  /** Stops background work once the last handle is closed (after its flush). */
  close(): void {
    this.writeback.close();
  }

  /** Sends mdt.size_update if this client wrote since the last one; answers whether it did. */
  async #pushSize(): Promise<boolean> {
    if (!this.#sizePending) return false;
    this.#sizePending = false;
    const req = { fid: this.fid, size: this.size, mtime: this.#lastWriteTime };
    try {
      const { reply } = await this.#deps.targets.mdt().call(mdtOps.sizeUpdate, req);
      this.refresh(reply.attr, reply.layout);
      return true;
    } catch (e) {
      this.#sizePending = true;
      throw e;
    }
  }

  #recordError(e: KlError): void {
    this.#deps.log.warn(
      { fid: this.fid, err: e.message },
      'File I/O failed; the next fsync or close reports it',
    );
    this.#errorSeq++;
    this.#lastError = e;
  }
}

/**
 * The files this client has open, by FID: handles on one file share one OpenFile, so they see each
 * other's unflushed writes (as processes on one Linux host share the page cache).
 */
export class OpenFileTable {
  readonly #deps: OpenFileDeps;
  readonly #byFid = new Map<string, OpenFile>();

  constructor(deps: OpenFileDeps) {
    this.#deps = deps;
  }

  get deps(): OpenFileDeps {
    return this.#deps;
  }

  /** The file's shared state with one more handle on it, refreshed with what the MDT said at open. */
  acquire(attr: Attr, layout: Layout | undefined): OpenFile {
    let file = this.#byFid.get(attr.fid);
    if (file) file.refresh(attr, layout);
    else {
      file = new OpenFile(attr, layout, this.#deps);
      this.#byFid.set(attr.fid, file);
    }
    file.handleCount++;
    return file;
  }

  release(file: OpenFile): void {
    file.handleCount--;
    if (file.handleCount > 0) return;
    file.close();
    this.#byFid.delete(file.fid);
  }

  /** The open state of a file, for stat and setattr to see this client's unflushed size. */
  find(fid: string): OpenFile | undefined {
    return this.#byFid.get(fid);
  }

  get openCount(): number {
    return this.#byFid.size;
  }

  /** Flushes every open file (at client close); failures go to `onError`, one per file. */
  async flushAll(onError: (fid: string, e: Error) => void): Promise<void> {
    await Promise.all(
      [...this.#byFid.values()].map((f) => f.flush().catch((e: unknown) => onError(f.fid, e as Error))),
    );
  }
}

export function newBudgets(settings: IoSettings): Pick<OpenFileDeps, 'dirtyBudget' | 'readaheadBudget'> {
  return {
    dirtyBudget: new ByteBudget(settings.dirtyBytesMax),
    readaheadBudget: new ByteBudget(settings.readaheadBytesMax),
  };
}

export function nowTimespec(): Timespec {
  const ms = Date.now();
  return { sec: Math.floor(ms / 1000), nsec: (ms % 1000) * 1_000_000 };
}

function laterThan(a: Timespec, b: Timespec): boolean {
  return a.sec > b.sec || (a.sec === b.sec && a.nsec > b.nsec);
}
