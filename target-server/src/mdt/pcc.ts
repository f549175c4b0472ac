import { KlError } from '@kubelustre/protocol/errors.ts';
import { isReg, requireInode } from './inodes.ts';
import type { Store } from './store.ts';

/*
 * Read-only PCC attachments (Lustre 2.13's RO-PCC), kept in the store so an MDT restart keeps them:
 * - pcc_versions: a regular file's data version (absent: 0), bumped by every write announcement;
 * - pcc_attachments: (fid, client, version) for each client caching a whole copy of the file;
 * - pcc_writers: (fid, client) for each client that announced a write (mdt.pcc_write_open) and has not
 *   ended it;
 * - open_writes (open-files.ts): (fid, client) for each client holding the file open for write
 *   (mdt.open2, mdt.create_open2 with `write`), until its mdt.close.
 * Both are writers. A write announcement drops every attachment of the file, so an attached client
 * that asks (pccState) learns its copy is stale. Attaching is refused while a writer exists: its copy
 * could be torn. So a client whose open for write found the file untracked (no attachment: no copy
 * exists, and none can be made until its close) writes without announcing (docs/pcc.md, Coherence).
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
  requireNotCachedElsewhere(store, fid, client);
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
  requireNotCachedElsewhere(store, fid, client);
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

/**
 * mdt.close of `client`'s last handle on `fid`: it writes the file no more (its data was flushed before
 * the close). Ends its write as mdt.pcc_write_close does, which clients then need not send.
 */
export function endWriteAtClose(store: Store, fid: string, client: string): void {
  if (store.run('DELETE FROM pcc_writers WHERE fid = ? AND client = ?', fid, client) === 0) return;
  if (store.get('SELECT 1 AS x FROM inodes WHERE fid = ?', fid)) bumpVersion(store, fid);
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
  // Read-write copies: what the client fsynced is on the OSTs already (docs/pcc.md); the rest is lost,
  // as a crashed client's unflushed pages are. The file is the OSTs' again.
  fids.push(...store.all('SELECT fid FROM pcc_rw WHERE client = ?', client).map((r) => r.fid as string));
  store.run('DELETE FROM pcc_rw WHERE client = ?', client);
  for (const fid of fids)
    if (store.get('SELECT 1 AS x FROM inodes WHERE fid = ?', fid)) bumpVersion(store, fid);
}

/** The inode is freed: its PCC rows go with it. */
export function dropFilePcc(store: Store, fid: string): void {
  store.run('DELETE FROM pcc_versions WHERE fid = ?', fid);
  store.run('DELETE FROM pcc_attachments WHERE fid = ?', fid);
  store.run('DELETE FROM pcc_writers WHERE fid = ?', fid);
  store.run('DELETE FROM open_writes WHERE fid = ?', fid);
  store.run('DELETE FROM pcc_rw WHERE fid = ?', fid);
}

/** Clients writing `fid`: announced writers and opens for write (one client counts once). */
function writerCount(store: Store, fid: string, exceptClient?: string): number {
  return store.get(
    `SELECT count(*) AS n FROM (SELECT client FROM pcc_writers WHERE fid = ?1
       UNION SELECT client FROM open_writes WHERE fid = ?1) WHERE client IS NOT ?2`,
    fid,
    exceptClient ?? null,
  )?.n as number;
}

/**
 * Whether some client holds, or is making, a PCC copy of `fid` (a read-only attachment, recorded
 * before its copy starts, or a read-write one): what a writer must revoke by announcing its write.
 */
export function isPccTracked(store: Store, fid: string): boolean {
  return (
    store.get('SELECT 1 AS x FROM pcc_attachments WHERE fid = ? LIMIT 1', fid) !== undefined ||
    store.get('SELECT 1 AS x FROM pcc_rw WHERE fid = ?', fid) !== undefined
  );
}

function bumpVersion(store: Store, fid: string): number {
  const version = dataVersion(store, fid) + 1;
  store.run('INSERT OR REPLACE INTO pcc_versions (fid, version) VALUES (?, ?)', fid, version);
  return version;
}

/*
 * Read-write PCC (Lustre 2.13's RW-PCC): pcc_rw (fid, client, cache_id) for the one client that keeps
 * the file's current data in its cache directory `cache_id`. While it exists every other client's open,
 * write announcement and attach of the file fails EAGAIN and records a restore request (in memory: an
 * MDT restart forgets them, and the waiting clients' retries make them again); the caching client learns
 * of requests with mdt.pcc_rw_poll, writes the data back and detaches. The row is durable, so a mount
 * restarted over the same cache directory takes it over (pccRwRecover) and writes back what it cached.
 */

export interface RwOwner {
  client: string;
  cacheId: string;
}

/** Restore requests of one MDT, by FID: the client that must write the file back. */
const restoreRequests = new WeakMap<Store, Map<string, string>>();

function restoresOf(store: Store): Map<string, string> {
  let m = restoreRequests.get(store);
  if (!m) {
    m = new Map();
    restoreRequests.set(store, m);
  }
  return m;
}

export function rwOwner(store: Store, fid: string): RwOwner | undefined {
  const row = store.get('SELECT client, cache_id FROM pcc_rw WHERE fid = ?', fid);
  return row && { client: row.client as string, cacheId: row.cache_id as string };
}

/**
 * EAGAIN, and a restore request for the caching client, when a client other than `client` caches `fid`
 * read-write: its data is not on the OSTs. The request is kept outside the caller's transaction.
 */
export function requireNotCachedElsewhere(store: Store, fid: string, client: string): void {
  const owner = rwOwner(store, fid);
  if (!owner || owner.client === client) return;
  restoresOf(store).set(fid, owner.client);
  throw new KlError('EAGAIN', `${fid} is cached read-write by another client; its data is being restored`);
}

/** mdt.pcc_attach_rw: EBUSY while another client has the file open, writes it or caches it read-write. */
export function pccAttachRw(store: Store, fid: string, client: string, cacheId: string): number {
  const inode = requireInode(store, fid);
  if (!isReg(inode)) throw new KlError('EINVAL', `${fid} is not a regular file: only files are cached`);
  const owner = rwOwner(store, fid);
  if (owner && owner.client !== client)
    throw new KlError('EBUSY', `${fid} is cached read-write by another client`);
  const opens = store.get('SELECT count(*) AS n FROM opens WHERE fid = ? AND client != ?', fid, client)
    ?.n as number;
  if (opens > 0) throw new KlError('EBUSY', `${fid} is open on ${opens} other client(s)`);
  const writers = writerCount(store, fid, client);
  if (writers > 0) throw new KlError('EBUSY', `${fid} is open for write by ${writers} client(s)`);
  const version = bumpVersion(store, fid);
  store.run('DELETE FROM pcc_attachments WHERE fid = ?', fid);
  store.run(
    'INSERT OR REPLACE INTO pcc_rw (fid, client, cache_id, at_ms) VALUES (?, ?, ?, ?)',
    fid,
    client,
    cacheId,
    Date.now(),
  );
  return version;
}

/** mdt.pcc_rw_detach: the data is back on the OSTs. ESTALE when `client` holds no such attachment. */
export function pccRwDetach(store: Store, fid: string, client: string): number {
  if (store.run('DELETE FROM pcc_rw WHERE fid = ? AND client = ?', fid, client) === 0) {
    throw new KlError('ESTALE', `${fid} is not cached read-write by this client`);
  }
  restoresOf(store).delete(fid);
  return store.get('SELECT 1 AS x FROM inodes WHERE fid = ?', fid) ? bumpVersion(store, fid) : 0;
}

/** mdt.pcc_rw_check: the data version while `client` holds the attachment; ESTALE otherwise. */
export function pccRwCheck(store: Store, fid: string, client: string): number {
  if (rwOwner(store, fid)?.client !== client) {
    throw new KlError('ESTALE', `${fid} is not cached read-write by this client`);
  }
  return dataVersion(store, fid);
}

/** The FIDs `client` caches read-write that others asked for; requests for rows gone are dropped. */
export function pendingRestores(store: Store, client: string): string[] {
  const requests = restoresOf(store);
  const due: string[] = [];
  for (const [fid, owner] of requests) {
    if (owner !== client) continue;
    if (rwOwner(store, fid)?.client === client) due.push(fid);
    else requests.delete(fid);
  }
  return due;
}

/** mdt.pcc_rw_recover: the rows of cache `cacheId` become `client`'s; answers their FIDs. */
export function pccRwRecover(store: Store, cacheId: string, client: string): string[] {
  store.run('UPDATE pcc_rw SET client = ? WHERE cache_id = ?', client, cacheId);
  const fids = store.all('SELECT fid FROM pcc_rw WHERE cache_id = ?', cacheId).map((r) => r.fid as string);
  const requests = restoresOf(store);
  for (const fid of fids) if (requests.has(fid)) requests.set(fid, client);
  return fids;
}

export function rwHeldCount(store: Store, client: string): number {
  return store.get('SELECT count(*) AS n FROM pcc_rw WHERE client = ?', client)?.n as number;
}

/** Clients holding read-write attachments: they renew a lease as clients holding opens do. */
export function rwHolders(store: Store): string[] {
  return store.all('SELECT DISTINCT client FROM pcc_rw').map((r) => r.client as string);
}
