import { KlError } from '@kubelustre/protocol/errors.ts';
import { EOF_EXTENT } from '@kubelustre/protocol/layout/types.ts';
import * as mdtOps from '@kubelustre/protocol/messages/mdt.ts';
import { FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE } from '@kubelustre/protocol/messages/ost.ts';
import type { Attr } from './attr.ts';
import { PrefetchBuffer, ReadaheadWindow } from './io/readahead.ts';
import type { SeekWhence } from './io/seek.ts';
import { canReadWith, canWriteWith, O_APPEND } from './mode.ts';
import type { OpenFile, OpenFileTable } from './open-file.ts';

/** fallocate modes served: allocate, allocate without growing, punch a hole (Linux wants KEEP_SIZE with it). */
const FALLOCATE_MODES = new Set([0, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE]);

/**
 * One open of a regular file (an open file description): its flags, its own position, its readahead
 * stream, and which write-back errors it has already reported. Data and size live in the OpenFile the
 * handles of one file share.
 *
 * Semantics: writes are buffered (write-back) and reach the OSTs on flush, fsync or close; a write-back
 * error is reported once by the next fsync/flush/close of every handle open when it happened, as Linux
 * does. Reads see this client's own writes at once and other clients' writes after they closed and we
 * reopened (close-to-open).
 */
export class FileHandle {
  readonly fid: string;
  readonly flags: number;
  readonly #file: OpenFile;
  readonly #table: OpenFileTable;
  /** Drops this handle's share of the client's open of the file on the MDT. */
  readonly #releaseOpen: () => void;
  #position = 0;
  #closed = false;
  #seenErrorSeq: number;
  readonly #readahead: ReadaheadWindow;
  readonly #prefetch: PrefetchBuffer;
  #prefetchVersion: number;

  constructor(file: OpenFile, table: OpenFileTable, flags: number, releaseOpen: () => void) {
    this.fid = file.fid;
    this.flags = flags;
    this.#file = file;
    this.#table = table;
    this.#releaseOpen = releaseOpen;
    this.#seenErrorSeq = file.errorSeq;
    const { settings, readaheadBudget } = table.deps;
    this.#readahead = new ReadaheadWindow(settings.readahead);
    this.#prefetch = new PrefetchBuffer(
      (offset, length) => file.readObjects(offset, length),
      readaheadBudget,
      settings.readaheadPerHandleBytesMax,
    );
    this.#prefetchVersion = file.dataVersion;
  }

  /** The size as this client knows it: the MDT's at open, raised by this client's writes. */
  get size(): number {
    return this.#file.size;
  }

  get position(): number {
    return this.#position;
  }

  /** Reads up to `length` bytes at `position` (default: the handle's position, which then advances). */
  read(length: number, position?: number): Promise<Buffer>;
  /** Reads into `buffer`; answers the bytes read (fewer at end of file). */
  read(buffer: Buffer, position?: number): Promise<number>;
  async read(target: number | Buffer, position?: number): Promise<Buffer | number> {
    this.#checkOpen();
    if (!canReadWith(this.flags)) throw new KlError('EBADF', `${this.fid} is not open for reading`);
    const length = typeof target === 'number' ? target : target.length;
    if (!Number.isSafeInteger(length) || length < 0) throw new KlError('EINVAL', `bad read length ${length}`);
    const offset = this.#offsetOf(position);
    this.#dropStalePrefetch();
    const ahead = this.#readahead.onRead(offset, length, this.#file.size);
    const reading = this.#file.read(offset, length, async (o, l) => {
      return (await this.#prefetch.take(o, l)) ?? this.#file.readObjects(o, l);
    });
    if (ahead) this.#prefetch.prefetch(ahead);
    const data = await reading;
    if (position === undefined) this.#position = offset + data.length;
    if (typeof target === 'number') return data;
    data.copy(target);
    return data.length;
  }

  /**
   * Writes all of `data` at `position` (default: the handle's position, which then advances). With
   * O_APPEND every write goes to the end of the file as this client knows it, whatever `position` says
   * (as Linux's pwrite does); appends from several clients at once are not ordered (no lock manager).
   */
  async write(data: Buffer, position?: number): Promise<number> {
    this.#checkOpen();
    if (!canWriteWith(this.flags)) throw new KlError('EBADF', `${this.fid} is not open for writing`);
    const append = (this.flags & O_APPEND) !== 0;
    let at: number;
    if (append) {
      this.#checkWithinLayout(this.#file.size, data.length);
      at = await this.#file.append(data);
    } else {
      at = this.#offsetOf(position);
      this.#checkWithinLayout(at, data.length);
      await this.#file.write(at, data);
    }
    if (append || position === undefined) this.#position = at + data.length;
    return data.length;
  }

  /** ftruncate(2): needs a handle open for writing (EINVAL otherwise, as Linux). */
  async truncate(size: number): Promise<void> {
    this.#checkOpen();
    if (!canWriteWith(this.flags)) throw new KlError('EINVAL', `${this.fid} is not open for writing`);
    if (!Number.isSafeInteger(size) || size < 0) throw new KlError('EINVAL', `bad size ${size}`);
    this.#checkWithinLayout(size, 0);
    await this.#file.truncate(size);
  }

  /**
   * lseek(2) with SEEK_DATA or SEEK_HOLE: the first data (or hole) offset at or after `offset`, over the
   * whole layout (OST objects asked with ost.seek, DoM bytes count as data, uninstantiated components as
   * holes) with this client's unflushed writes counted as data; SEEK_HOLE finds the end of the file at the
   * latest. ENXIO when `offset` is negative or at or past the end, or no data follows (SEEK_DATA). Moves
   * the handle's position to the answer, as lseek does. Hole granularity is the OSTs' filesystem block.
   */
  async seek(offset: number, whence: SeekWhence): Promise<number> {
    this.#checkOpen();
    const found = await this.#file.seek(offset, whence);
    this.#position = found;
    return found;
  }

  /**
   * fallocate(2). `mode` 0 reserves [offset, offset + length) and extends the size to its end;
   * FALLOC_FL_KEEP_SIZE reserves without extending; FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
   * deallocates the range, which then reads as zeros. Other modes (and PUNCH_HOLE alone) answer ENOTSUP
   * (EOPNOTSUPP), as Linux does. EINVAL for a negative offset or a length below 1; a handle open for
   * writing is needed (EBADF); EFBIG past the layout's end (a punch there is cut at it: nothing lies
   * beyond).
   */
  async fallocate(mode: number, offset: number, length: number): Promise<void> {
    this.#checkOpen();
    // In vfs_fallocate's order: the range, the mode, then the open mode.
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 1)
      throw new KlError('EINVAL', `bad fallocate range: offset ${offset}, length ${length}`);
    if (!FALLOCATE_MODES.has(mode))
      throw new KlError('ENOTSUP', `fallocate mode 0x${mode.toString(16)} is not supported`);
    if (!canWriteWith(this.flags)) throw new KlError('EBADF', `${this.fid} is not open for writing`);
    if ((mode & FALLOC_FL_PUNCH_HOLE) === 0) {
      this.#checkWithinLayout(offset, length);
      await this.#file.fallocate(mode, offset, length);
      return;
    }
    const end = Math.min(offset + length, this.#layoutEnd());
    if (end > offset) await this.#file.fallocate(mode, offset, end - offset);
  }

  /** Makes data and size durable (see OpenFile.fsync); reports a write-back error not yet reported. */
  async fsync(datasync = false): Promise<void> {
    this.#checkOpen();
    await this.#file.fsync(datasync);
    this.#reportError();
  }

  /** Writes dirty data out and publishes the size without waiting for durability (FUSE's flush). */
  async flush(): Promise<void> {
    this.#checkOpen();
    await this.#file.flush();
    this.#reportError();
  }

  /** Fresh attributes from the MDT, with this client's unflushed size and mtime on top. */
  async stat(): Promise<Attr> {
    this.#checkOpen();
    const { reply } = await this.#file.targets.mdt().call(mdtOps.getattr, { fid: this.fid });
    this.#file.refresh(reply.attr, reply.layout);
    return this.#file.attr;
  }

  /**
   * Flushes (the data reaches the OSTs' page cache, which survives the OST process being killed) and
   * publishes the size; the handle is closed even when that fails, and the failure is reported. The
   * last handle of this client on the file then sends mdt.close without waiting for it (see MdtOpens).
   */
  async close(): Promise<void> {
    this.#checkOpen();
    this.#closed = true;
    this.#prefetch.clear();
    try {
      await this.#file.flush();
    } finally {
      this.#table.release(this.#file);
      this.#releaseOpen();
    }
    this.#reportError();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.#closed) await this.close();
  }

  #offsetOf(position: number | undefined): number {
    const offset = position ?? this.#position;
    if (!Number.isSafeInteger(offset) || offset < 0)
      throw new KlError('EINVAL', `bad file position ${offset}`);
    return offset;
  }

  /** A write past the end of a layout whose last component stops short of EOF fails now, not at flush. */
  #checkWithinLayout(offset: number, length: number): void {
    const end = offset + length;
    if (!Number.isSafeInteger(end)) throw new KlError('EFBIG', `file offset ${end} is too big`);
    const layoutEnd = this.#layoutEnd();
    if (end > layoutEnd) {
      throw new KlError('EFBIG', `${this.fid}'s layout ends at ${layoutEnd}; cannot write up to ${end}`);
    }
  }

  /** Where the layout's last component ends (the largest safe integer when it reaches EOF). */
  #layoutEnd(): number {
    const last = this.#file.io.layout?.components.at(-1);
    return last && last.end !== EOF_EXTENT ? last.end : Number.MAX_SAFE_INTEGER;
  }

  /** Prefetched bytes from before a write or truncate through this client are stale. */
  #dropStalePrefetch(): void {
    if (this.#prefetchVersion === this.#file.dataVersion) return;
    this.#prefetch.clear();
    this.#readahead.reset();
    this.#prefetchVersion = this.#file.dataVersion;
  }

  #reportError(): void {
    const e = this.#file.errorSince(this.#seenErrorSeq);
    this.#seenErrorSeq = this.#file.errorSeq;
    if (e) throw e;
  }

  #checkOpen(): void {
    if (this.#closed) throw new KlError('EBADF', `handle on ${this.fid} is closed`);
  }
}
