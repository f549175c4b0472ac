import { constants } from 'node:fs';
import {
  access,
  type FileHandle as LocalFileHandle,
  mkdir,
  open,
  rename,
  rm,
  stat,
  statfs,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import { isKlError, KlError, toKlError } from '@kubelustre/protocol/errors.ts';
import type { Logger } from '@kubelustre/protocol/log.ts';
import * as mdtOps from '@kubelustre/protocol/messages/mdt.ts';
import type { RpcClient } from '@kubelustre/protocol/wire/rpc-client.ts';
import type { Node } from '../attr.ts';
import type { FileHandle } from '../file-handle.ts';
import { O_RDONLY, O_WRONLY } from '../mode.ts';
import { ROOT_CALLER } from '../permissions.ts';
import { type EvictionCandidate, evictionPlan, type Watermarks } from './eviction.ts';
import type { PccRule } from './pcc-rules.ts';
import { newPccCounters, type PccCounters } from './pcc-state.ts';
import { retryWhileRestoring } from './restore-wait.ts';
import { cacheIdOf, RwPcc, removeLeftovers } from './rw-pcc.ts';

/** Attach copies the file in chunks of this size. */
const COPY_CHUNK_BYTES = 4 * 1024 * 1024;
/** How often the cache checks its watermarks (besides after every attach). */
const EVICTION_CHECK_MS = 5000;
/** How stale a validation may be before a cached read asks the MDT again (`-o pcc_revalidate_ms`). */
export const DEFAULT_REVALIDATE_MS = 1000;

/** What PccCache needs of the client library (KlClient, or a fake in tests). */
export interface PccLibrary {
  mdt(): RpcClient;
  getnode(fid: string): Promise<Node>;
  openRead(node: Node): Promise<FileHandle>;
  /** Opens for writing as root: read-write PCC's write-back. */
  openWrite(node: Node): Promise<FileHandle>;
}

export interface PccCacheOptions {
  /** The cache directory (the node's NVMe); one per mount. */
  dir: string;
  lib: PccLibrary;
  log: Logger;
  revalidateMs?: number;
  /** The archive id `lfs pcc attach` uses when given none (Lustre's `-i`). */
  archiveId?: number;
  /** Auto-attach rules (pcc-rules.ts), parsed already. */
  rules?: readonly PccRule[];
  /**
   * LRU eviction of read-only copies (eviction.ts); `capacityBytes` undefined: the cache filesystem's
   * size, and its used space as the usage.
   */
  watermarks?: Omit<Watermarks, 'capacityBytes'> & { capacityBytes: number | undefined };
}

interface Attachment {
  fid: string;
  path: string;
  archiveId: number;
  dataVersion: number;
  /** Open readers on the cache file. */
  readers: number;
  /** The copy's size. */
  bytes: number;
  /** When it was last attached, opened or read: what LRU eviction orders by. */
  lastUsedMs: number;
}

/** One open of an attached file: its cache file, and when the MDT last confirmed it current. */
export interface PccReader {
  readonly fid: string;
  readonly fd: import('node:fs/promises').FileHandle;
  readonly attachment: Attachment;
  validatedAtMs: number;
}

/**
 * A mount's read-only Persistent Client Cache (Lustre 2.13's RO-PCC): whole copies of attached files in
 * a local directory, named by FID, from which reads are served while the MDT's data version of the file
 * still equals the one copied. Every open validates the copy with the MDT (mdt.pcc_state) and every
 * read does again when the last validation is older than `revalidateMs`; a copy found stale is
 * detached and the read goes to the OSTs. Guarantee: a read served from the cache started at most
 * `revalidateMs` after the MDT last confirmed the copy current, and a writer bumps the version before
 * its first write is sent, so no read starting later than `revalidateMs` after a write was acknowledged
 * returns data older than that write.
 */
export class PccCache {
  readonly dir: string;
  readonly counters: PccCounters = newPccCounters();
  /** The read-write attachments (rw-pcc.ts). */
  readonly rw: RwPcc;
  readonly rules: readonly PccRule[];
  readonly #watermarks: PccCacheOptions['watermarks'];
  #evictionTimer: NodeJS.Timeout | undefined;
  #evicting: Promise<void> | undefined;
  readonly #lib: PccLibrary;
  readonly #log: Logger;
  readonly #revalidateMs: number;
  readonly #archiveId: number;
  readonly #byFid = new Map<string, Attachment>();
  /** Attaches and detaches in flight, so two never run at once for one file. */
  readonly #busy = new Map<string, Promise<unknown>>();

  private constructor(opts: PccCacheOptions, cacheId: string) {
    this.dir = opts.dir;
    this.#lib = opts.lib;
    this.#log = opts.log;
    this.#revalidateMs = opts.revalidateMs ?? DEFAULT_REVALIDATE_MS;
    this.#archiveId = opts.archiveId ?? 1;
    this.rules = opts.rules ?? [];
    this.#watermarks = opts.watermarks;
    if (opts.watermarks) {
      this.#evictionTimer = setInterval(() => void this.evict(), EVICTION_CHECK_MS);
      this.#evictionTimer.unref();
    }
    this.rw = new RwPcc({
      dir: opts.dir,
      cacheId,
      lib: opts.lib,
      log: opts.log,
      counters: this.counters,
      exclusive: (fid, run) => this.#exclusive(fid, run),
    });
  }

  /**
   * A cache over `opts.dir`, or undefined when the directory does not exist or cannot be written (the
   * mount then runs without PCC; the reason is logged).
   */
  static async open(opts: PccCacheOptions): Promise<PccCache | undefined> {
    let cacheId: string;
    try {
      if (!(await stat(opts.dir)).isDirectory()) throw new KlError('ENOTDIR', `${opts.dir} is no directory`);
      await access(opts.dir, constants.W_OK | constants.R_OK | constants.X_OK);
      const probe = join(opts.dir, `.kl-pcc-probe-${process.pid}`);
      await writeFile(probe, 'probe');
      await rm(probe);
      cacheId = await cacheIdOf(opts.dir);
    } catch (e) {
      opts.log.error(
        { pcc: opts.dir, err: (e as Error).message },
        'PCC cache directory is unusable; mounted without PCC',
      );
      return undefined;
    }
    await mkdir(opts.dir, { recursive: true });
    const cache = new PccCache(opts, cacheId);
    await cache.#recover();
    opts.log.info({ pcc: opts.dir, revalidateMs: opts.revalidateMs, cacheId }, 'Enabled PCC');
    return cache;
  }

  /**
   * Read-write files a dead mount over this directory left are written back (rw-pcc.ts); its other
   * cache files (read-only copies: attachments are per mount process) are deleted.
   */
  async #recover(): Promise<void> {
    let kept: string[] = [];
    try {
      kept = await this.rw.recover();
    } catch (e) {
      if (!isKlError(e, 'ENOSYS')) {
        this.#log.error({ pcc: this.dir, err: (e as Error).message }, 'PCC recovery failed');
        return; // copies are kept: the next mount tries again
      }
    }
    await removeLeftovers(this.dir, new Set(kept), this.#log);
  }

  /** The mount's counters, with the bytes the cache holds now: the metrics hook (docs/pcc.md). */
  metrics(): PccCounters {
    let bytes = this.rw.bytesUsed;
    for (const a of this.#byFid.values()) bytes += a.bytes;
    this.counters.cacheBytesUsed = bytes;
    return { ...this.counters };
  }

  /** At unmount: read-write files go back to the OSTs. */
  async close(): Promise<void> {
    clearInterval(this.#evictionTimer);
    await this.#evicting;
    await this.rw.close();
  }

  /**
   * Drops least-recently-used read-only copies nobody has open while the cache is above its high
   * watermark, down to the low one (eviction.ts). One pass at a time; answers the evicted FIDs.
   */
  async evict(): Promise<string[]> {
    const w = this.#watermarks;
    if (!w) return [];
    if (this.#evicting) {
      await this.#evicting; // the pass in progress does the work
      return [];
    }
    const evicted: string[] = [];
    const run = (async () => {
      const { usedBytes, capacityBytes } = await this.#usage(w.capacityBytes);
      const candidates: EvictionCandidate[] = [...this.#byFid.values()].map((a) => ({
        fid: a.fid,
        bytes: a.bytes,
        lastUsedMs: a.lastUsedMs,
        users: a.readers,
        readWrite: false,
      }));
      for (const fid of evictionPlan(usedBytes, { ...w, capacityBytes }, candidates)) {
        const a = this.#byFid.get(fid);
        if (!a || a.readers > 0) continue;
        await this.detach(fid, 'evicted: least recently used above the high watermark');
        this.counters.evictions++;
        evicted.push(fid);
      }
    })();
    this.#evicting = run.catch((e: unknown) =>
      this.#log.warn({ pcc: this.dir, err: (e as Error).message }, 'PCC eviction failed'),
    );
    await this.#evicting;
    this.#evicting = undefined;
    return evicted;
  }

  /** With a configured size: the bytes of our copies against it; else the cache filesystem's. */
  async #usage(capacityBytes: number | undefined): Promise<{ usedBytes: number; capacityBytes: number }> {
    if (capacityBytes !== undefined) return { usedBytes: this.metrics().cacheBytesUsed, capacityBytes };
    const fs = await statfs(this.dir);
    return { usedBytes: (fs.blocks - fs.bfree) * fs.bsize, capacityBytes: fs.blocks * fs.bsize };
  }

  get revalidateMs(): number {
    return this.#revalidateMs;
  }

  /**
   * Asks the MDT whether the read-only copy of `fid` is still current, detaching it if not (a write
   * elsewhere revoked it; this mount learns of it at the next open otherwise). Nothing to do without one.
   */
  async validate(fid: string): Promise<void> {
    const a = this.#byFid.get(fid);
    if (a) await this.#current(a);
  }

  /** The local attachment of `fid`, if any (not validated). */
  attachmentOf(fid: string): { path: string; archiveId: number; dataVersion: number } | undefined {
    return this.#byFid.get(fid);
  }

  get attachedCount(): number {
    return this.#byFid.size;
  }

  /**
   * Copies the whole file into the cache and records the attachment with the MDT. Order: record first
   * (which fixes the version and fails EBUSY while anyone writes), copy, then check the version again:
   * a write announced during the copy makes it fail with ESTALE (nothing is kept).
   */
  attach(fid: string, archiveId = this.#archiveId, readWrite = false): Promise<void> {
    if (this.rw.attachmentOf(fid)) {
      if (readWrite) return Promise.resolve();
      return Promise.reject(new KlError('EBUSY', `${fid} is cached read-write by this mount`));
    }
    if (readWrite) {
      return this.detach(fid, 'attached read-write').then(() =>
        this.rw.attach(fid, archiveId, (f, path) => this.#copy(f, path)),
      );
    }
    return this.#exclusive(fid, async () => {
      const existing = this.#byFid.get(fid);
      if (existing) {
        const state = (await this.#lib.mdt().call(mdtOps.pccState, { fid })).reply;
        if (state.attached && state.dataVersion === existing.dataVersion) return;
        await this.#detachNow(existing, 'stale at a new attach');
      }
      const { reply } = await retryWhileRestoring(() => this.#lib.mdt().call(mdtOps.pccAttach, { fid }));
      const path = join(this.dir, fid);
      let bytes = 0;
      try {
        bytes = await this.#copy(fid, path);
        const state = (await this.#lib.mdt().call(mdtOps.pccState, { fid })).reply;
        if (!state.attached || state.dataVersion !== reply.dataVersion) {
          throw new KlError('ESTALE', `${fid} was written while it was being attached`);
        }
      } catch (e) {
        await rm(path, { force: true });
        await this.#lib
          .mdt()
          .call(mdtOps.pccDetach, { fid })
          .catch((undo: unknown) =>
            this.#log.warn(
              { fid, err: (undo as Error).message },
              'Could not give up the attachment of a failed attach; the MDT drops it with our lease',
            ),
          );
        throw e;
      }
      this.#byFid.set(fid, {
        fid,
        path,
        archiveId,
        dataVersion: reply.dataVersion,
        readers: 0,
        bytes,
        lastUsedMs: Date.now(),
      });
      void this.evict();
      this.counters.attaches++;
      this.#log.info({ fid, dataVersion: reply.dataVersion, path }, 'Attached file to PCC');
    });
  }

  /**
   * Drops the copy and the MDT's record of it; a read-write file's data goes back to the OSTs first.
   * Not attached: nothing to do.
   */
  detach(fid: string, why = 'requested'): Promise<void> {
    if (this.rw.attachmentOf(fid)) return this.rw.restore(fid, why);
    return this.#exclusive(fid, async () => {
      const a = this.#byFid.get(fid);
      if (a) await this.#detachNow(a, why);
    });
  }

  /** Open readers keep their fd: the copy's name goes, its data stays until they close. */
  async #detachNow(a: Attachment, why: string): Promise<void> {
    const { fid } = a;
    if (this.#byFid.get(fid) === a) this.#byFid.delete(fid);
    await rm(a.path, { force: true });
    this.counters.detaches++;
    this.#log.info({ fid, why }, 'Detached file from PCC');
    await this.#lib
      .mdt()
      .call(mdtOps.pccDetach, { fid })
      .catch((e: unknown) => this.#log.warn({ fid, err: (e as Error).message }, 'mdt.pcc_detach failed'));
  }

  /**
   * An open for reading: a reader on the cache file when `fid` is attached and the MDT confirms the
   * copy current; undefined otherwise (a stale copy is detached), and the open reads from the OSTs.
   */
  async openReader(fid: string): Promise<PccReader | undefined> {
    const a = this.#byFid.get(fid);
    if (!a) {
      this.counters.misses++;
      return undefined;
    }
    const validatedAtMs = Date.now();
    if (!(await this.#current(a))) return undefined;
    const fd = await open(a.path, 'r');
    a.readers++;
    a.lastUsedMs = Date.now();
    return { fid, fd, attachment: a, validatedAtMs };
  }

  /**
   * Reads from the cache file, validating again first when the last validation is older than the
   * bound; undefined when the copy turned out stale (the caller reads from the OSTs).
   */
  async read(r: PccReader, offset: number, length: number): Promise<Buffer | undefined> {
    // Detached meanwhile (by this mount's own write, or a revocation another reader found): stale.
    if (this.#byFid.get(r.fid) !== r.attachment) {
      this.counters.misses++;
      return undefined;
    }
    if (Date.now() - r.validatedAtMs >= this.#revalidateMs) {
      const startedMs = Date.now();
      const current = await this.#current(r.attachment).catch((e: unknown) => {
        this.#log.warn(
          { fid: r.fid, err: (e as Error).message },
          'PCC revalidation failed; reading from the OSTs',
        );
        return false;
      });
      if (!current) {
        this.counters.misses++;
        return undefined;
      }
      r.validatedAtMs = startedMs;
    }
    const buf = Buffer.allocUnsafe(length);
    const { bytesRead } = await r.fd.read(buf, 0, length, offset);
    r.attachment.lastUsedMs = Date.now();
    this.counters.hits++;
    this.counters.bytesFromCache += bytesRead;
    return buf.subarray(0, bytesRead);
  }

  async closeReader(r: PccReader): Promise<void> {
    r.attachment.readers--;
    await r.fd.close();
  }

  /**
   * This mount will change `fid` other than by a write to its read-write copy: its own copy goes at
   * once (the MDT revokes the others'); a read-write file is written back first.
   */
  async dropLocal(fid: string): Promise<void> {
    if (this.#byFid.has(fid) || this.rw.attachmentOf(fid))
      await this.detach(fid, 'written through this mount');
  }

  /** Whether the MDT still has our attachment at the copied version; detaches it if not. */
  async #current(a: Attachment): Promise<boolean> {
    let state: { dataVersion: number; attached: boolean };
    try {
      state = (await this.#lib.mdt().call(mdtOps.pccState, { fid: a.fid })).reply;
    } catch (e) {
      if (isKlError(e, 'ENOENT')) {
        await this.detach(a.fid, 'file is gone');
        return false;
      }
      throw e;
    }
    if (state.attached && state.dataVersion === a.dataVersion) return true;
    await this.detach(a.fid, `revoked: data version ${a.dataVersion} is now ${state.dataVersion}`);
    return false;
  }

  /** Copies the file's data from the OSTs into `path`; answers its size. */
  async #copy(fid: string, path: string): Promise<number> {
    const node = await this.#lib.getnode(fid);
    const handle = await this.#lib.openRead(node);
    const tmp = `${path}.tmp`;
    const out = await open(tmp, 'w', 0o600);
    let offset = 0;
    try {
      for (;;) {
        const chunk = await handle.read(COPY_CHUNK_BYTES, offset);
        if (chunk.length === 0) break;
        await writeAll(out, chunk, offset);
        offset += chunk.length;
      }
      await out.sync();
      // A cache filesystem that ran out of room can also have taken less than was written.
      const copied = (await out.stat()).size;
      if (copied !== offset) {
        throw new KlError('ENOSPC', `the copy holds ${copied} of ${offset} bytes: the cache is full`);
      }
    } catch (e) {
      await rm(tmp, { force: true });
      throw toKlError(e, `copy of ${fid} into ${this.dir}`);
    } finally {
      await out.close();
      await handle.close();
    }
    await rename(tmp, path);
    return offset;
  }

  /** Runs `run` after any attach or detach of `fid` still in flight: one at a time per file. */
  async #exclusive<T>(fid: string, run: () => Promise<T>): Promise<T> {
    const previous = this.#busy.get(fid) ?? Promise.resolve();
    const p = previous.catch(() => undefined).then(run);
    this.#busy.set(fid, p);
    try {
      return await p;
    } finally {
      if (this.#busy.get(fid) === p) this.#busy.delete(fid);
    }
  }
}

/** The library calls PccCache makes, over a KlClient. */
export function pccLibraryOf(client: {
  mdt(): RpcClient;
  inodes: {
    getnode(fid: string): Promise<Node>;
    open(node: Node, flags: number, caller: typeof ROOT_CALLER): Promise<FileHandle>;
  };
}): PccLibrary {
  return {
    mdt: () => client.mdt(),
    getnode: (fid) => client.inodes.getnode(fid),
    openRead: (node) => client.inodes.open(node, O_RDONLY, ROOT_CALLER),
    openWrite: (node) => client.inodes.open(node, O_WRONLY, ROOT_CALLER),
  };
}

/** Writes all of `chunk` at `position`: a write may take less than asked (a filling disk). */
async function writeAll(out: LocalFileHandle, chunk: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < chunk.length) {
    const { bytesWritten } = await out.write(chunk, done, chunk.length - done, position + done);
    if (bytesWritten === 0) throw new KlError('ENOSPC', 'the cache is full: a write took no bytes');
    done += bytesWritten;
  }
}
