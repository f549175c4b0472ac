import { constants as fsConstants } from 'node:fs';
import fs, { type FileHandle } from 'node:fs/promises';
import { KlError, toKlError } from '@kubelustre/protocol/errors.ts';
import type { Logger } from '@kubelustre/protocol/log.ts';
import { FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE } from '@kubelustre/protocol/messages/ost.ts';
import { dirStatfs } from '../server/dir-statfs.ts';
import type { StatfsValue } from '../server/role.ts';
import { fallocateFd } from './fallocate.ts';
import { fsyncDirectory } from './fsync-directory.ts';
import { HandleCache, type Lease } from './handle-cache.ts';
import { type SeekWhence, seekDataOrHole } from './lseek.ts';
import { bucketDir, bucketOf, createBuckets, listObjectIds, objectPath } from './object-namespace.ts';
import type { ProjectQuota } from './project-quota.ts';

/** Largest object, in bytes: far beyond any real file, and offsets stay exact in a double. */
export const OBJECT_BYTES_MAX = 2 ** 50;
/** fdatasync, fsync and unlink calls one ost.sync or ost.destroy runs at once. */
const PARALLEL_FILE_OPS_MAX = 16;
const EMPTY = Buffer.alloc(0);
/** Allocate, allocate without growing, punch a hole (which Linux takes only with KEEP_SIZE). */
const FALLOCATE_MODES = new Set([0, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE]);

export interface ObjectStoreOptions {
  dataDir: string;
  /** For error messages and logs, e.g. `kl-OST0001`. */
  targetName: string;
  openFilesMax: number;
  log: Logger;
  /** Whether precreate has handed out `objId`: objects exist, or may come into being, only for those. */
  isReserved(objId: number): boolean;
  /** Per-project accounting and enforcement of allocated bytes. */
  quota: ProjectQuota;
  /** Called after each fdatasync, for metrics. */
  onDataSync?(): void;
}

/**
 * The OST's objects, one file each under DATA/O. All I/O is positioned (pread/pwrite on a cached
 * descriptor), so concurrent requests on one object never race on a file offset.
 *
 * Durability: a write is acknowledged once its pwrite completed, so the data is in the kernel's page cache
 * and survives kill -9 of this process (not power loss). `ost.sync`, and a write with `sync`, fdatasync the
 * object (and fsync its directory if the file is new) before replying, so acknowledged data then survives
 * power loss too.
 */
export class ObjectStore {
  readonly #opts: ObjectStoreOptions;
  readonly #handles: HandleCache;
  /** Objects written or punched since their last fdatasync: what an `ost.sync` of no objects flushes. */
  readonly #dirty = new Set<number>();
  /** Buckets whose directory gained object files since it was last fsync'ed. */
  readonly #newEntries = new Set<number>();

  private constructor(opts: ObjectStoreOptions) {
    this.#opts = opts;
    this.#handles = new HandleCache(opts.openFilesMax, opts.log);
  }

  static async open(opts: ObjectStoreOptions): Promise<ObjectStore> {
    try {
      await createBuckets(opts.dataDir);
    } catch (e) {
      throw toKlError(e, `creating object directories of ${opts.targetName} in ${opts.dataDir}`);
    }
    return new ObjectStore(opts);
  }

  get openFiles(): number {
    return this.#handles.size;
  }

  /** Up to `length` bytes at `offset` (shorter at the end) and the object's size; holes read as zeros. */
  read(objId: number, offset: number, length: number): Promise<{ size: number; data: Buffer }> {
    return this.#guard(`reading object ${objId}`, async () => {
      this.#requireExtent(objId, offset, length);
      using lease = await this.#openExisting(objId);
      if (!lease) return { size: 0, data: EMPTY }; // reserved, never written
      const [data, stat] = await Promise.all([readFully(lease.handle, offset, length), lease.handle.stat()]);
      return { size: stat.size, data };
    });
  }

  /**
   * Writes `data` at `offset` for a file of project `projid`, creating the object on its first write;
   * resolves with the new size. EDQUOT when the project's grant on this OST does not cover it.
   */
  write(
    objId: number,
    offset: number,
    data: Buffer,
    sync: boolean,
    projid: number,
  ): Promise<{ size: number }> {
    return this.#guard(`writing object ${objId}`, async () => {
      this.#requireExtent(objId, offset, data.length);
      using lease = await this.#openOrCreate(objId);
      const growth = growthOf(this.#opts.quota.trackedBytes(objId), offset, data.length);
      return this.#opts.quota.charge(
        objId,
        projid,
        growth,
        () => allocated(lease.handle),
        async () => {
          await writeFully(lease.handle, data, offset);
          // Completed pwrite: the data is in the page cache and survives kill -9 of this process.
          this.#dirty.add(objId);
          // Asked for stable storage: on disk before the reply, so it survives power loss.
          if (sync) await this.#syncObject(objId, lease.handle);
          return { size: (await lease.handle.stat()).size };
        },
      );
    });
  }

  /** Truncates or extends the object to `size`, creating it if it was never written. Allocates nothing. */
  punch(objId: number, size: number, projid: number): Promise<void> {
    return this.#guard(`punching object ${objId} to ${size} bytes`, async () => {
      this.#requireExtent(objId, size, 0);
      using lease = await this.#openOrCreate(objId);
      await this.#opts.quota.charge(
        objId,
        projid,
        0,
        () => allocated(lease.handle),
        async () => {
          await lease.handle.truncate(size);
          this.#dirty.add(objId);
        },
      );
    });
  }

  /** Puts the listed objects, or every object changed since its last sync when none are listed, on disk. */
  sync(objIds: readonly number[]): Promise<void> {
    return this.#guard('syncing objects', async () => {
      const ids = objIds.length > 0 ? [...new Set(objIds)] : [...this.#dirty];
      for (const objId of ids) this.#requireReserved(objId);
      await forEachBounded(ids, (objId) =>
        this.#guard(`syncing object ${objId}`, async () => {
          using lease = await this.#openExisting(objId);
          if (lease) await this.#syncObject(objId, lease.handle);
        }),
      );
      await this.#syncNewEntries(objIds.length > 0 ? ids.map(bucketOf) : [...this.#newEntries]);
      await this.#opts.quota.sync();
    });
  }

  getattr(objId: number): Promise<{ size: number; blocks: number }> {
    return this.#guard(`getting attributes of object ${objId}`, async () => {
      using lease = await this.#openExisting(objId);
      if (!lease) return { size: 0, blocks: 0 };
      const stat = await lease.handle.stat();
      return { size: stat.size, blocks: stat.blocks };
    });
  }

  /** SEEK_DATA / SEEK_HOLE from `offset`; ENXIO at or past the end of the object. */
  seek(objId: number, offset: number, whence: SeekWhence): Promise<number> {
    const what = `seeking ${whence} in object ${objId} from ${offset} on ${this.#opts.targetName}`;
    return this.#guard(what, async () => {
      using lease = await this.#openExisting(objId);
      if (!lease) throw new KlError('ENXIO', `${what}: the object is empty`);
      return seekDataOrHole(lease.handle.fd, offset, whence, what);
    });
  }

  /**
   * fallocate(2) on the object: reserve [offset, offset + length) (growing the object unless
   * FALLOC_FL_KEEP_SIZE), or with FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE deallocate it. Only those
   * modes are accepted (ENOTSUP otherwise, as Linux answers EOPNOTSUPP). Punching a never-written object
   * has nothing to do; reserving creates it.
   */
  fallocate(objId: number, mode: number, offset: number, length: number, projid: number): Promise<void> {
    const what = `fallocate of [${offset}, ${offset + length}) in object ${objId} on ${this.#opts.targetName}`;
    return this.#guard(what, async () => {
      if (!FALLOCATE_MODES.has(mode)) throw new KlError('ENOTSUP', `${what}: mode ${mode} is not supported`);
      this.#requireExtent(objId, offset, length);
      const punch = (mode & FALLOC_FL_PUNCH_HOLE) !== 0;
      using lease = punch ? await this.#openExisting(objId) : await this.#openOrCreate(objId);
      if (!lease) return;
      const handle = lease.handle;
      // Reserving may allocate all of the range; punching only frees.
      await this.#opts.quota.charge(
        objId,
        projid,
        punch ? 0 : length,
        () => allocated(handle),
        async () => {
          fallocateFd(handle.fd, mode, offset, length, what);
          this.#dirty.add(objId);
        },
      );
    });
  }

  /** Removes objects; one already gone (or never written) counts as destroyed. */
  destroy(objIds: readonly number[]): Promise<void> {
    return forEachBounded([...new Set(objIds)], (objId) =>
      this.#guard(`destroying object ${objId}`, async () => {
        this.#handles.forget(objId);
        this.#dirty.delete(objId);
        await fs.unlink(objectPath(this.#opts.dataDir, objId)).catch((e: NodeJS.ErrnoException) => {
          if (e.code !== 'ENOENT') throw e;
        });
        await this.#opts.quota.release(objId);
      }),
    );
  }

  list(after: number, countMax: number): Promise<{ objIds: number[]; eof: boolean }> {
    return this.#guard(`listing objects after ${after}`, () =>
      listObjectIds(this.#opts.dataDir, after, countMax),
    );
  }

  statfs(): Promise<StatfsValue> {
    return dirStatfs(this.#opts.dataDir);
  }

  /** Flushes every changed object to disk, then closes all descriptors. No request may be running. */
  async close(): Promise<void> {
    try {
      await this.sync([]);
    } finally {
      await this.#handles.closeAll();
      await this.#opts.quota.close();
    }
  }

  async #openExisting(objId: number): Promise<Lease | undefined> {
    this.#requireReserved(objId);
    const file = objectPath(this.#opts.dataDir, objId);
    try {
      return await this.#handles.acquire(objId, () => fs.open(file, 'r+'));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  async #openOrCreate(objId: number): Promise<Lease> {
    const existing = await this.#openExisting(objId);
    if (existing) return existing;
    return this.#handles.acquire(objId, async () => {
      const fh = await fs.open(
        objectPath(this.#opts.dataDir, objId),
        fsConstants.O_RDWR | fsConstants.O_CREAT,
        0o644,
      );
      // Marked only once the entry exists, so a sync that runs from now on fsyncs the directory after it.
      this.#newEntries.add(bucketOf(objId));
      return fh;
    });
  }

  async #syncObject(objId: number, fh: FileHandle): Promise<void> {
    // Cleared before the fdatasync: a write completing meanwhile marks the object again.
    this.#dirty.delete(objId);
    try {
      await fh.datasync();
    } catch (e) {
      this.#dirty.add(objId);
      throw e;
    }
    this.#opts.onDataSync?.();
    await this.#syncNewEntries([bucketOf(objId)]);
  }

  /** fdatasync does not cover the directory entry of a new file: fsync the directories that gained some. */
  async #syncNewEntries(buckets: readonly number[]): Promise<void> {
    const pending = [...new Set(buckets)].filter((b) => this.#newEntries.delete(b));
    await forEachBounded(pending, async (bucket) => {
      try {
        await fsyncDirectory(bucketDir(this.#opts.dataDir, bucket));
      } catch (e) {
        this.#newEntries.add(bucket);
        throw toKlError(e, `syncing object directory ${bucket} on ${this.#opts.targetName}`);
      }
    });
  }

  #requireReserved(objId: number): void {
    if (!this.#opts.isReserved(objId))
      throw new KlError('ENOENT', `object ${objId} not found on ${this.#opts.targetName}`);
  }

  #requireExtent(objId: number, offset: number, length: number): void {
    if (offset + length > OBJECT_BYTES_MAX)
      throw new KlError(
        'EFBIG',
        `${offset} + ${length} bytes is past the ${OBJECT_BYTES_MAX}-byte object size limit (object ${objId} on ${this.#opts.targetName})`,
      );
  }

  /** Runs `fn`, giving system errors a reason that names the operation and the target. */
  async #guard<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw toKlError(e, `${what} on ${this.#opts.targetName}`);
    }
  }
}

/** Allocated bytes of an open object (st_blocks × 512), what its project is charged. */
async function allocated(fh: FileHandle): Promise<number> {
  return (await fh.stat()).blocks * 512;
}

/**
 * Bytes a write may newly allocate: those past what the object has allocated, rounded up to whole
 * 4 KiB blocks, never more than the write's length rounded up to blocks (an overwrite allocates none).
 */
export function growthOf(allocatedBytes: number, offset: number, length: number): number {
  const block = 4096;
  const end = Math.ceil((offset + length) / block) * block;
  const span = Math.ceil(length / block) * block + block;
  return Math.min(span, Math.max(0, end - allocatedBytes));
}

async function readFully(fh: FileHandle, offset: number, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, offset + done);
    if (bytesRead === 0) break; // end of the object
    done += bytesRead;
  }
  return buf.subarray(0, done);
}

async function writeFully(fh: FileHandle, data: Buffer, offset: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await fh.write(data, done, data.length - done, offset + done);
    if (bytesWritten === 0) throw new KlError('EIO', `pwrite at ${offset + done} wrote nothing`);
    done += bytesWritten;
  }
}

/** Runs `fn` on every item, at most PARALLEL_FILE_OPS_MAX at once; stops starting new ones after a failure. */
async function forEachBounded<T>(items: readonly T[], fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      try {
        await fn(items[next++]!);
      } catch (e) {
        failed = true;
        throw e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL_FILE_OPS_MAX, items.length) }, worker));
}
