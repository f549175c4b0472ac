import { open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isKlError, KlError, toKlError } from '@kubelustre/protocol/errors.ts';
import type { Logger } from '@kubelustre/protocol/log.ts';
import * as mdtOps from '@kubelustre/protocol/messages/mdt.ts';
import type { RpcClient } from '@kubelustre/protocol/wire/rpc-client.ts';
import type { Node } from '../attr.ts';
import type { FileHandle } from '../file-handle.ts';
import { addRange, type ByteRange } from './dirty-ranges.ts';
import type { PccCounters } from './pcc-state.ts';

/** Write-back copies in chunks of this size. */
const WRITEBACK_CHUNK_BYTES = 4 * 1024 * 1024;
/** How long one mdt.pcc_rw_poll is held by the MDT while nobody asks for a file. */
const POLL_HOLD_MS = 2000;
/** Pause after a failed poll, or one that asked for restores, before the next. */
const POLL_RETRY_MS = 500;

/** What read-write PCC needs of the client library (KlClient, or a fake in tests). */
export interface RwLibrary {
  mdt(): RpcClient;
  getnode(fid: string): Promise<Node>;
  /** Opens the file for writing, as root (the write-back's handle). */
  openWrite(node: Node): Promise<FileHandle>;
}

/** One file cached read-write: its current data lives in the cache file. */
export interface RwAttachment {
  readonly fid: string;
  readonly path: string;
  readonly archiveId: number;
  readonly fd: import('node:fs/promises').FileHandle;
  size: number;
  mtimeMs: number;
  /** What was written since the last write-back started (what the next one sends). */
  dirty: ByteRange[];
  /** Truncated since: the next write-back sets the size on the OSTs even with nothing written. */
  sizeChanged: boolean;
  /** Local reads and writes in flight on `fd`. */
  inflight: number;
  /** Set when the data is going back to the OSTs for good: writes wait for it, then go there. */
  restoring: Promise<void> | undefined;
  /** FUSE handles open on it (Lustre's "user number"). */
  users: number;
}

export interface RwPccOptions {
  dir: string;
  cacheId: string;
  lib: RwLibrary;
  log: Logger;
  counters: PccCounters;
  /** Runs `run` exclusively per FID (shared with read-only attach and detach). */
  exclusive: <T>(fid: string, run: () => Promise<T>) => Promise<T>;
}

/**
 * A mount's read-write PCC (Lustre 2.13's RW-PCC): files whose current data is kept only in the cache
 * directory; reads and writes of them go to the cache file. The data goes back to the OSTs (write-back)
 * on fsync (the file stays attached: fsynced data is on the OSTs, so it survives the loss of this
 * node), on detach, when another client opens the file (the MDT tells us through mdt.pcc_rw_poll;
 * then the file is detached, as Lustre's HSM restore does), at unmount, and at the next mount over the
 * same directory after a crash (recover).
 */
export class RwPcc {
  readonly #o: RwPccOptions;
  readonly #byFid = new Map<string, RwAttachment>();
  #polling: Promise<void> | undefined;
  #closed = false;

  constructor(o: RwPccOptions) {
    this.#o = o;
  }

  get count(): number {
    return this.#byFid.size;
  }

  get bytesUsed(): number {
    let n = 0;
    for (const a of this.#byFid.values()) n += a.size;
    return n;
  }

  attachmentOf(fid: string): RwAttachment | undefined {
    return this.#byFid.get(fid);
  }

  /**
   * Records the read-write attachment with the MDT (EBUSY while another client has the file open),
   * then copies the file into the cache with `copy`; a failed copy gives the attachment up.
   */
  attach(
    fid: string,
    archiveId: number,
    copy: (fid: string, path: string) => Promise<unknown>,
  ): Promise<void> {
    return this.#o.exclusive(fid, async () => {
      if (this.#byFid.has(fid)) return;
      const mdt = this.#o.lib.mdt();
      await mdt.call(mdtOps.pccAttachRw, { fid, cacheId: this.#o.cacheId });
      const path = join(this.#o.dir, fid);
      let fd: import('node:fs/promises').FileHandle;
      try {
        await copy(fid, path);
        fd = await open(path, 'r+');
      } catch (e) {
        await rm(path, { force: true });
        await mdt
          .call(mdtOps.pccRwDetach, { fid })
          .catch((undo: unknown) =>
            this.#o.log.warn(
              { fid, err: (undo as Error).message },
              'Could not give up the read-write attachment of a failed attach; the MDT drops it with our lease',
            ),
          );
        throw e;
      }
      await this.#add(fid, path, archiveId, fd, false);
      this.#o.counters.attaches++;
      this.#o.log.info({ fid, path }, 'Attached file to PCC read-write');
    });
  }

  /**
   * Writes to the cache file (`append`: at its end); undefined when the file is not (or no longer)
   * cached read-write.
   */
  async write(fid: string, data: Buffer, offset: number, append = false): Promise<number | undefined> {
    const a = this.#byFid.get(fid);
    if (!a) return undefined;
    if (a.restoring) {
      await a.restoring.catch(() => undefined);
      return this.write(fid, data, offset, append);
    }
    a.inflight++;
    try {
      const at = append ? a.size : offset;
      const { bytesWritten } = await a.fd.write(data, 0, data.length, at);
      a.size = Math.max(a.size, at + bytesWritten);
      a.mtimeMs = Date.now();
      a.dirty = addRange(a.dirty, at, at + bytesWritten);
      return bytesWritten;
    } finally {
      a.inflight--;
    }
  }

  /**
   * truncate(2) of a file cached read-write: done to the cache file (false: not cached so). The OSTs
   * get the size at the next write-back.
   */
  async truncate(fid: string, size: number): Promise<boolean> {
    const a = this.#byFid.get(fid);
    if (!a) return false;
    if (a.restoring) {
      await a.restoring.catch(() => undefined);
      return this.truncate(fid, size);
    }
    a.inflight++;
    try {
      await a.fd.truncate(size);
      a.size = size;
      a.mtimeMs = Date.now();
      a.dirty = a.dirty.filter(([start]) => start < size).map(([start, end]) => [start, Math.min(end, size)]);
      a.sizeChanged = true;
      return true;
    } finally {
      a.inflight--;
    }
  }

  /** Reads from the cache file; undefined when the file is not cached read-write. */
  async read(fid: string, offset: number, length: number): Promise<Buffer | undefined> {
    const a = this.#byFid.get(fid);
    if (!a) return undefined;
    a.inflight++;
    try {
      const buf = Buffer.allocUnsafe(Math.max(0, Math.min(length, a.size - offset)));
      const { bytesRead } = await a.fd.read(buf, 0, buf.length, offset);
      this.#o.counters.hits++;
      this.#o.counters.bytesFromCache += bytesRead;
      return buf.subarray(0, bytesRead);
    } finally {
      a.inflight--;
    }
  }

  /** fsync: the cache file is made durable and its data written back; the file stays attached. */
  sync(fid: string): Promise<boolean> {
    return this.#o.exclusive(fid, async () => {
      const a = this.#byFid.get(fid);
      if (!a) return false;
      await a.fd.sync();
      try {
        await this.#writeBack(a);
      } catch (e) {
        if (!isKlError(e, 'ESTALE')) throw e;
        await this.#lost(a);
        throw new KlError(
          'EIO',
          `${fid}: read-write PCC attachment lost (evicted); unsynced writes are gone`,
        );
      }
      return true;
    });
  }

  /** The MDT no longer records our attachment (we were evicted): the copy is worthless now. */
  async #lost(a: RwAttachment): Promise<void> {
    this.#o.log.error({ fid: a.fid }, 'Discarded a read-write PCC copy the MDT no longer records');
    await this.#drop(a);
  }

  /** After the MDT said it records fewer attachments than we hold: drops those it lost. */
  async #dropLost(): Promise<void> {
    for (const a of [...this.#byFid.values()]) {
      await this.#o.exclusive(a.fid, async () => {
        if (this.#byFid.get(a.fid) !== a || a.restoring) return;
        try {
          await this.#o.lib.mdt().call(mdtOps.pccRwCheck, { fid: a.fid });
        } catch (e) {
          if (isKlError(e, 'ESTALE')) await this.#lost(a);
        }
      });
    }
  }

  /**
   * Writes the data back to the OSTs and detaches (Lustre's restore): on detach, on another client's
   * open, at unmount. Writes arriving meanwhile wait, then go to the OSTs. A write-back that fails
   * leaves the file attached (the data is still only here) and throws.
   */
  restore(fid: string, why: string): Promise<void> {
    const a = this.#byFid.get(fid);
    if (!a) return Promise.resolve();
    if (a.restoring) return a.restoring;
    const done = this.#o.exclusive(fid, async () => {
      if (this.#byFid.get(fid) !== a) return;
      await idle(a, `write-back of ${fid}`);
      try {
        await this.#writeBack(a);
      } catch (e) {
        if (!isKlError(e, 'ESTALE')) throw e;
        // The MDT gave our attachment up (we were evicted): the OSTs' data is the file's now.
        await this.#lost(a);
        return;
      }
      await this.#o.lib
        .mdt()
        .call(mdtOps.pccRwDetach, { fid })
        .catch((e: unknown) => {
          if (!isKlError(e, 'ESTALE')) throw e;
        });
      await this.#drop(a);
      this.#o.counters.detaches++;
      this.#o.log.info({ fid, why }, 'Wrote back and detached a read-write PCC file');
    });
    a.restoring = done;
    done.then(
      () => undefined,
      (e: unknown) => {
        if (a.restoring === done) a.restoring = undefined;
        this.#o.log.error(
          { fid, why, err: (e as Error).message },
          'Write-back of a read-write PCC file failed',
        );
      },
    );
    return done;
  }

  /**
   * At mount: takes over from the MDT the attachments recorded for this cache directory (left by a
   * process that died) and writes back each one's cache file; one whose file is gone is given up.
   * Answers the recovered FIDs.
   */
  async recover(): Promise<string[]> {
    const { reply } = await this.#o.lib.mdt().call(mdtOps.pccRwRecover, { cacheId: this.#o.cacheId });
    for (const fid of reply.fids) {
      const path = join(this.#o.dir, fid);
      let fd: import('node:fs/promises').FileHandle;
      try {
        fd = await open(path, 'r+');
      } catch (e) {
        this.#o.log.error(
          { fid, path, err: (e as Error).message },
          'Read-write PCC copy missing at recovery',
        );
        await this.#o.lib
          .mdt()
          .call(mdtOps.pccRwDetach, { fid })
          .catch(() => undefined);
        continue;
      }
      await this.#add(fid, path, 0, fd, true);
      this.#o.log.warn({ fid, path }, 'Recovered a read-write PCC file left by an earlier mount');
    }
    await Promise.allSettled(reply.fids.map((fid) => this.restore(fid, 'recovered at mount')));
    return reply.fids;
  }

  /** At unmount: every file goes back to the OSTs. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled([...this.#byFid.keys()].map((fid) => this.restore(fid, 'unmount')));
    await this.#polling;
  }

  async #add(fid: string, path: string, archiveId: number, fd: RwAttachment['fd'], dirty: boolean) {
    const s = await fd.stat();
    const a: RwAttachment = {
      fid,
      path,
      archiveId,
      fd,
      size: s.size,
      mtimeMs: s.mtimeMs,
      dirty: dirty && s.size > 0 ? [[0, s.size]] : [],
      sizeChanged: dirty,
      inflight: 0,
      restoring: undefined,
      users: 0,
    };
    this.#byFid.set(fid, a);
    this.#startPolling();
  }

  /**
   * What was written to the cache file since the last write-back goes to the OSTs, durably (the ranges
   * written, then fsync: data on the OSTs, size on the MDT). Writes made meanwhile are in the next one;
   * a failed write-back leaves its ranges for the next.
   */
  async #writeBack(a: RwAttachment): Promise<void> {
    const [ranges, sizeChanged] = [a.dirty, a.sizeChanged];
    if (ranges.length === 0 && !sizeChanged) return;
    [a.dirty, a.sizeChanged] = [[], false];
    try {
      await this.#writeRanges(a, ranges);
    } catch (e) {
      for (const [start, end] of ranges) a.dirty = addRange(a.dirty, start, end);
      a.sizeChanged ||= sizeChanged;
      throw e;
    }
    this.#o.counters.writebacks++;
  }

  async #writeRanges(a: RwAttachment, ranges: readonly ByteRange[]): Promise<void> {
    const { lib } = this.#o;
    await lib.mdt().call(mdtOps.pccRwCheck, { fid: a.fid });
    const size = (await a.fd.stat()).size;
    const h = await lib.openWrite(await lib.getnode(a.fid));
    try {
      const buf = Buffer.allocUnsafe(WRITEBACK_CHUNK_BYTES);
      for (const [start, rangeEnd] of ranges) {
        const end = Math.min(rangeEnd, size);
        for (let offset = start; offset < end; ) {
          const { bytesRead } = await a.fd.read(buf, 0, Math.min(buf.length, end - offset), offset);
          if (bytesRead === 0) break;
          await h.write(Buffer.from(buf.subarray(0, bytesRead)), offset);
          offset += bytesRead;
        }
      }
      if (h.size !== size) await h.truncate(size);
      await h.fsync();
    } catch (e) {
      throw toKlError(e, `write-back of ${a.fid}`);
    } finally {
      await h.close().catch(() => undefined);
    }
  }

  async #drop(a: RwAttachment): Promise<void> {
    if (this.#byFid.get(a.fid) === a) this.#byFid.delete(a.fid);
    // Past the bound, the I/O still in flight fails (EBADF) rather than the drop waiting forever.
    await idle(a, `drop of ${a.fid}`).catch((e: unknown) =>
      this.#o.log.warn({ fid: a.fid, err: (e as Error).message }, 'Dropped a cache copy with I/O in flight'),
    );
    await a.fd.close().catch(() => undefined);
    await rm(a.path, { force: true });
  }

  /** While files are cached read-write: asks the MDT which of them others want, and restores those. */
  #startPolling(): void {
    if (this.#polling || this.#closed) return;
    this.#polling = (async () => {
      while (this.#byFid.size > 0 && !this.#closed) {
        try {
          const { reply } = await this.#o.lib.mdt().call(mdtOps.pccRwPoll, { holdMs: POLL_HOLD_MS });
          for (const fid of reply.restore)
            void this.restore(fid, 'another client opened it').catch(() => undefined);
          // Requested files are being restored (or failed to be: tried again after this pause).
          if (reply.restore.length > 0) await sleep(POLL_RETRY_MS);
          else if (reply.held < this.#byFid.size) await this.#dropLost();
        } catch (e) {
          this.#o.log.warn({ err: (e as Error).message }, 'mdt.pcc_rw_poll failed');
          await sleep(POLL_RETRY_MS);
        }
      }
    })().finally(() => {
      this.#polling = undefined;
      if (this.#byFid.size > 0 && !this.#closed) this.#startPolling();
    });
  }
}

/** Names in a cache directory that are cache files (FIDs) or their temporary copies. */
/** How long a write-back or drop waits for the copy's in-flight reads and writes to finish. */
const INFLIGHT_WAIT_MS = 30_000;
const INFLIGHT_POLL_MS = 1;

/** Waits until no read or write of the copy is in flight, for at most INFLIGHT_WAIT_MS. */
async function idle(a: { inflight: number }, what: string): Promise<void> {
  const deadline = Date.now() + INFLIGHT_WAIT_MS;
  while (a.inflight > 0) {
    if (Date.now() > deadline) {
      throw new KlError(
        'ETIMEDOUT',
        `${what}: I/O on the cache copy still in flight after ${INFLIGHT_WAIT_MS} ms`,
      );
    }
    await sleep(INFLIGHT_POLL_MS);
  }
}

const CACHE_FILE_NAME = /^0x[0-9a-f]+:0x[0-9a-f]+:0x[0-9a-f]+(\.tmp)?$/;

/** Deletes cache files a dead mount left (read-only copies are per mount process), but `keep`. */
export async function removeLeftovers(dir: string, keep: ReadonlySet<string>, log: Logger): Promise<number> {
  let removed = 0;
  for (const name of await readdir(dir)) {
    if (!CACHE_FILE_NAME.test(name) || keep.has(name)) continue;
    await rm(join(dir, name), { force: true });
    removed++;
  }
  if (removed > 0) log.info({ pcc: dir, removed }, 'Removed PCC copies left by an earlier mount');
  return removed;
}

/** The cache directory's identity, kept in `DIR/.kl-pcc-id` (made at first use). */
export async function cacheIdOf(dir: string): Promise<string> {
  const path = join(dir, '.kl-pcc-id');
  try {
    const id = (await readFile(path, 'utf8')).trim();
    if (/^[0-9A-Za-z._-]{1,64}$/.test(id)) return id;
  } catch (e) {
    if ((e as { code?: string }).code !== 'ENOENT') throw e;
  }
  const id = crypto.randomUUID();
  const tmp = `${path}.tmp`;
  const f = await open(tmp, 'w', 0o600);
  try {
    await f.writeFile(id);
    await f.sync();
  } finally {
    await f.close();
  }
  await rename(tmp, path);
  return id;
}

/** Thrown for an operation on a file this mount caches read-write that it cannot do locally. */
export function rwBusy(fid: string): KlError {
  return new KlError('EBUSY', `${fid} is open through this mount: close it before attaching`);
}
