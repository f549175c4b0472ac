import { KlError } from '@kubelustre/protocol/errors.ts';
import { isReg, requireInode } from './inodes.ts';
import type { Store } from './store.ts';

/*
 * Read-only PCC attachments (Lustre 2.13's RO-PCC), kept in the store so an MDT restart keeps them:
 * - pcc_versions: a regular file's data version (absent: 0), bumped by every write announcement;
 * - pcc_attachments: (fid, client, version) for each client caching a whole copy of the file;
 * - pcc_writers: (fid, client) for each client holding the file open for write.
 * A write announcement drops every attachment of the file, so an attached client that asks (pccState)
 * learns its copy is stale. Attaching is refused while a writer exists: its copy could be torn.
 * Every function runs inside the caller's transaction.
 */

export interface PccStateValue {
  dataVersion: number;
  attached: boolean;
  writers: number;
}

export function dataVersion(store: Store, fid: string): number {
  return (store.get('SELECT version FROM pcc_versions WHERE fid = ?', fid)?.version as number) ?? 0;
}

/** mdt.pcc_attach: records `client`'s copy at the current version; EBUSY while any client writes. */
export function pccAttach(store: Store, fid: string, client: string): number {
  const inode = requireInode(store, fid);
  if (!isReg(inode)) throw new KlError('EINVAL', `${fid} is not a regular file: only files are cached`);
  const writers = writerCount(store, fid);
  if (writers > 0) throw new KlError('EBUSY', `${fid} is open for write by ${writers} client(s)`);
  const version = dataVersion(store, fid);
  store.run(
    'INSERT OR REPLACE INTO pcc_attachments (fid, client, version) VALUES (?, ?, ?)',
    fid,
    client,
    version,
  );
  return version;
}

/** mdt.pcc_detach: idempotent. */
export function pccDetach(store: Store, fid: string, client: string): void {
  store.run('DELETE FROM pcc_attachments WHERE fid = ? AND client = ?', fid, client);
}

/** mdt.pcc_write_open: bumps the version, revokes every attachment, records the writer. */
export function pccWriteOpen(store: Store, fid: string, client: string): number {
  requireInode(store, fid);
  const version = bumpVersion(store, fid);
  store.run('DELETE FROM pcc_attachments WHERE fid = ?', fid);
  store.run('INSERT OR IGNORE INTO pcc_writers (fid, client) VALUES (?, ?)', fid, client);
  return version;
}

/**
 * mdt.pcc_write_close: the writer is gone. The version is bumped again: an attachment can only have
 * been made before the write open (and was dropped by it), so this is belt and braces for a writer
 * dropped by eviction and come back.
 */
export function pccWriteClose(store: Store, fid: string, client: string): number {
  store.run('DELETE FROM pcc_writers WHERE fid = ? AND client = ?', fid, client);
  return store.get('SELECT 1 AS x FROM inodes WHERE fid = ?', fid) ? bumpVersion(store, fid) : 0;
}

export function pccState(store: Store, fid: string, client: string): PccStateValue {
  requireInode(store, fid);
  const row = store.get('SELECT version FROM pcc_attachments WHERE fid = ? AND client = ?', fid, client);
  const version = dataVersion(store, fid);
  return { dataVersion: version, attached: row?.version === version, writers: writerCount(store, fid) };
}

/** Eviction of `client`: its attachments and write opens go with its other opens. */
export function dropClientPcc(store: Store, client: string): void {
  store.run('DELETE FROM pcc_attachments WHERE client = ?', client);
  const fids = store.all('SELECT fid FROM pcc_writers WHERE client = ?', client).map((r) => r.fid as string);
  store.run('DELETE FROM pcc_writers WHERE client = ?', client);
  for (const fid of fids)
    if (store.get('SELECT 1 AS x FROM inodes WHERE fid = ?', fid)) bumpVersion(store, fid);
}

/** The inode is freed: its PCC rows go with it. */
export function dropFilePcc(store: Store, fid: string): void {
  store.run('DELETE FROM pcc_versions WHERE fid = ?', fid);
  store.run('DELETE FROM pcc_attachments WHERE fid = ?', fid);
  store.run('DELETE FROM pcc_writers WHERE fid = ?', fid);
}

function writerCount(store: Store, fid: string): number {
  return store.get('SELECT count(*) AS n FROM pcc_writers WHERE fid = ?', fid)?.n as number;
}

function bumpVersion(store: Store, fid: string): number {
  const version = dataVersion(store, fid) + 1;
  store.run('INSERT OR REPLACE INTO pcc_versions (fid, version) VALUES (?, ?)', fid, version);
  return version;
}
