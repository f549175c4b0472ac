import { KlError } from '@kubelustre/protocol/errors.ts';
import { FUSE_ROOT_ID } from './kernel-abi.ts';

/**
 * Node ids are never reused within a connection (a FID met again after its node id was forgotten gets
 * a new one), so the generation that tells reused node ids apart is always this. FIDs themselves are
 * never reused by the MDT either.
 */
export const GENERATION = 0;

export interface InodeEntry {
  readonly nodeid: number;
  readonly fid: string;
  /** Entry replies the kernel got for this node id and has not forgotten. */
  nlookup: number;
  /** st_ino, for the "." and ".." entries of readdir. */
  ino: number;
  /** mtime and size when this mount last opened the file: unchanged, its cached pages are kept. */
  openStamp: string | undefined;
  /** mtime and size in the attributes last sent to the kernel: equal to fresh ones, its cache is right. */
  sentStamp: string | undefined;
}

/**
 * FUSE node ids ↔ FIDs, with the kernel's lookup counts: every reply carrying an entry (lookup, create,
 * mkdir, mknod, symlink, link, each readdirplus entry) counts one lookup, FORGET takes them back, and a
 * node id whose count reaches zero is forgotten here too. The root (node id 1) is never forgotten.
 */
export class InodeTable {
  readonly #byNodeid = new Map<number, InodeEntry>();
  readonly #byFid = new Map<string, InodeEntry>();
  #nextNodeid = FUSE_ROOT_ID + 1;

  constructor(rootFid: string) {
    this.#add({
      nodeid: FUSE_ROOT_ID,
      fid: rootFid,
      nlookup: 1,
      ino: 0,
      openStamp: undefined,
      sentStamp: undefined,
    });
  }

  /** Node ids currently known (the root included). */
  get size(): number {
    return this.#byNodeid.size;
  }

  /** The entry of a node id the kernel holds; ESTALE for one it has forgotten (a kernel bug). */
  get(nodeid: number): InodeEntry {
    const e = this.#byNodeid.get(nodeid);
    if (!e) throw new KlError('ESTALE', `node id ${nodeid} is not known (already forgotten?)`);
    return e;
  }

  fid(nodeid: number): string {
    return this.get(nodeid).fid;
  }

  /** Counts one lookup of `fid` (an entry reply about to be sent); answers its node id. */
  lookup(fid: string, ino: number): InodeEntry {
    const e =
      this.#byFid.get(fid) ??
      this.#add({
        nodeid: this.#nextNodeid++,
        fid,
        nlookup: 0,
        ino,
        openStamp: undefined,
        sentStamp: undefined,
      });
    e.nlookup++;
    e.ino = ino;
    return e;
  }

  /** FORGET: the kernel dropped `nlookup` of its lookups; at zero the node id is gone. */
  forget(nodeid: number, nlookup: number): void {
    const e = this.#byNodeid.get(nodeid);
    if (!e || nodeid === FUSE_ROOT_ID) return;
    e.nlookup -= nlookup;
    if (e.nlookup > 0) return;
    this.#byNodeid.delete(nodeid);
    this.#byFid.delete(e.fid);
  }

  #add(e: InodeEntry): InodeEntry {
    this.#byNodeid.set(e.nodeid, e);
    this.#byFid.set(e.fid, e);
    return e;
  }
}
