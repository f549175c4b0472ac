import { KlError } from '@kubelustre/protocol/errors.ts';
import { EOF_EXTENT } from '@kubelustre/protocol/layout/index.ts';
import { fileBlocks, type Inode, isReg, now, putInode } from './inodes.ts';
import { blobOf, type Store } from './store.ts';

/**
 * Data-on-MDT bytes live in rows of up to 64 KiB keyed (fid, chunk), so a small write rewrites one row
 * and a truncate drops whole rows. A chunk row holds bytes up to the last one written into it; anything
 * after that, and any chunk with no row, reads as zeros (a hole).
 */
export const DOM_CHUNK_BYTES = 64 * 1024;

/** The end of a file's DoM component: its first component when that has pattern 'mdt'. */
export function domEnd(inode: Inode): number | undefined {
  const first = inode.layout?.components[0];
  return first?.pattern === 'mdt' && first.end !== EOF_EXTENT ? first.end : undefined;
}

function checkRange(inode: Inode, offset: number, length: number): void {
  if (!isReg(inode)) throw new KlError('EINVAL', `${inode.fid} is not a regular file: it has no DoM data`);
  const end = domEnd(inode);
  if (end === undefined) throw new KlError('EINVAL', `${inode.fid} has no Data-on-MDT component`);
  if (offset + length > end) {
    throw new KlError(
      'EINVAL',
      `range [${offset}, ${offset + length}) of ${inode.fid} goes past its DoM extent ${end}`,
    );
  }
}

/** Reads [offset, offset + length) clipped to the file size; holes read as zeros. */
export function readDom(store: Store, inode: Inode, offset: number, length: number): Buffer {
  checkRange(inode, offset, length);
  const end = Math.min(offset + length, inode.size);
  if (end <= offset) return Buffer.alloc(0);
  const out = Buffer.alloc(end - offset);
  const rows = store.all(
    'SELECT chunk, data FROM dom_chunks WHERE fid = ? AND chunk >= ? AND chunk <= ?',
    inode.fid,
    Math.floor(offset / DOM_CHUNK_BYTES),
    Math.floor((end - 1) / DOM_CHUNK_BYTES),
  );
  for (const r of rows) {
    const base = (r.chunk as number) * DOM_CHUNK_BYTES;
    const data = blobOf(r.data);
    const from = Math.max(offset, base);
    const to = Math.min(end, base + data.length);
    if (to > from) data.copy(out, from - offset, from - base, to - base);
  }
  return out;
}

/** Writes `data` at `offset`, raising the size and setting mtime/ctime; returns the updated inode. */
export function writeDom(store: Store, inode: Inode, offset: number, data: Buffer): Inode {
  checkRange(inode, offset, data.length);
  for (let at = offset; at < offset + data.length; ) {
    const chunk = Math.floor(at / DOM_CHUNK_BYTES);
    const base = chunk * DOM_CHUNK_BYTES;
    const to = Math.min(offset + data.length, base + DOM_CHUNK_BYTES);
    const old = store.get('SELECT data FROM dom_chunks WHERE fid = ? AND chunk = ?', inode.fid, chunk);
    const oldData = old === undefined ? Buffer.alloc(0) : blobOf(old.data);
    const merged = Buffer.alloc(Math.max(oldData.length, to - base));
    oldData.copy(merged);
    data.copy(merged, at - base, at - offset, to - offset);
    store.run(
      'INSERT OR REPLACE INTO dom_chunks (fid, chunk, data) VALUES (?, ?, ?)',
      inode.fid,
      chunk,
      merged,
    );
    at = to;
  }
  const t = now();
  const updated = { ...inode, size: Math.max(inode.size, offset + data.length), mtime: t, ctime: t };
  updated.blocks = fileBlocks(updated, domBytes(store, inode.fid));
  putInode(store, updated);
  return updated;
}

/** Drops DoM bytes at and after `size` (truncate). */
export function truncateDom(store: Store, fid: string, size: number): void {
  const keep = Math.ceil(size / DOM_CHUNK_BYTES);
  store.run('DELETE FROM dom_chunks WHERE fid = ? AND chunk >= ?', fid, keep);
  const tail = size % DOM_CHUNK_BYTES;
  if (tail === 0) return;
  const last = store.get('SELECT data FROM dom_chunks WHERE fid = ? AND chunk = ?', fid, keep - 1);
  if (last === undefined) return;
  const data = blobOf(last.data);
  if (data.length > tail) {
    store.run(
      'UPDATE dom_chunks SET data = ? WHERE fid = ? AND chunk = ?',
      data.subarray(0, tail),
      fid,
      keep - 1,
    );
  }
}

/** Bytes of DoM data stored for `fid` (for st_blocks). */
export function domBytes(store: Store, fid: string): number {
  return (
    (store.get('SELECT coalesce(sum(length(data)), 0) AS n FROM dom_chunks WHERE fid = ?', fid)
      ?.n as number) ?? 0
  );
}

export function deleteDom(store: Store, fid: string): void {
  store.run('DELETE FROM dom_chunks WHERE fid = ?', fid);
}
