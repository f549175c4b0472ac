import { KlError } from '@kubelustre/protocol/errors.ts';
import type { Store } from './store.ts';

/** How long a removed entry's readdir cookie still resumes a listing (a reader paused longer restarts). */
export const TOMBSTONE_KEEP_MS = 60 * 60 * 1000;

export interface Dentry {
  name: string;
  child: string;
  cookie: number;
}

export function lookupDentry(store: Store, parent: string, name: string): string | undefined {
  return store.get('SELECT child FROM dentries WHERE parent = ? AND name = ?', parent, name)?.child as
    | string
    | undefined;
}

/**
 * Adds an entry. Every entry gets a cookie never used before (readdir resumes after it); the last cookie
 * given is kept in `meta` within the same transaction.
 */
export function addDentry(store: Store, parent: string, name: string, child: string): void {
  const cookie = Number(store.getMeta('last_cookie') ?? '0') + 1;
  store.setMeta('last_cookie', String(cookie));
  store.run(
    'INSERT INTO dentries (parent, name, child, cookie) VALUES (?, ?, ?, ?)',
    parent,
    name,
    child,
    cookie,
  );
}

/** Removes an entry, leaving a tombstone so that a readdir paused on it can still resume after its name. */
export function removeDentry(store: Store, parent: string, name: string): void {
  const row = store.get('DELETE FROM dentries WHERE parent = ? AND name = ? RETURNING cookie', parent, name);
  if (!row) throw new KlError('ENOENT', `no entry "${name}" in ${parent}`);
  store.run(
    'INSERT INTO dentry_tombstones (cookie, parent, name, gone_ms) VALUES (?, ?, ?, ?)',
    row.cookie as number,
    parent,
    name,
    Date.now(),
  );
}

/** Where `fid` is linked: one of its names (the only one for a directory), or undefined for the root. */
export function parentOf(store: Store, fid: string): { parent: string; name: string } | undefined {
  const r = store.get('SELECT parent, name FROM dentries WHERE child = ? LIMIT 1', fid);
  return r === undefined ? undefined : { parent: r.parent as string, name: r.name as string };
}

export function hasEntries(store: Store, dir: string): boolean {
  return store.get('SELECT 1 AS one FROM dentries WHERE parent = ? LIMIT 1', dir) !== undefined;
}

/**
 * Up to `count` entries of `dir` in name order (bytewise UTF-8) after the entry `cookie` names (0: from
 * the start). The cookie is resolved to its entry's name, which stays meaningful while entries come and
 * go: entries present throughout the listing are returned exactly once.
 */
export function listDentries(store: Store, dir: string, cookie: number, count: number): Dentry[] {
  const rows =
    cookie === 0
      ? store.all(
          'SELECT name, child, cookie FROM dentries WHERE parent = ? ORDER BY name LIMIT ?',
          dir,
          count,
        )
      : store.all(
          'SELECT name, child, cookie FROM dentries WHERE parent = ? AND name > ? ORDER BY name LIMIT ?',
          dir,
          cookieName(store, dir, cookie),
          count,
        );
  return rows.map((r) => ({ name: r.name as string, child: r.child as string, cookie: r.cookie as number }));
}

function cookieName(store: Store, dir: string, cookie: number): string {
  const live = store.get('SELECT parent, name FROM dentries WHERE cookie = ?', cookie);
  const r = live ?? store.get('SELECT parent, name FROM dentry_tombstones WHERE cookie = ?', cookie);
  if (r === undefined || r.parent !== dir) {
    throw new KlError(
      'EINVAL',
      `readdir cookie ${cookie} is not a position in directory ${dir} (or has expired)`,
    );
  }
  return r.name as string;
}

/** Forgets tombstones older than TOMBSTONE_KEEP_MS. */
export function pruneTombstones(store: Store, nowMs: number): void {
  store.run('DELETE FROM dentry_tombstones WHERE gone_ms < ?', nowMs - TOMBSTONE_KEEP_MS);
}
