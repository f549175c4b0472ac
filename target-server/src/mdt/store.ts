import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import { KlError } from '@kubelustre/protocol/errors.ts';

export const SCHEMA_VERSION = 1;

/**
 * The MDT's whole state in one SQLite database. Names follow Lustre's on-disk objects where one exists:
 * inodes (with the layout as lustre.lov), dentries, xattrs, DoM data in 64 KiB chunks, the destroy log
 * (Lustre's unlink llog for OST objects), the reply cache (last_rcvd), the readdir cookie tombstones,
 * which clients have which files open (and which of those opens are for write), the orphans (Lustre's PENDING directory: unlinked files still
 * open), the clients evicted for silence that have not heard so yet, the directories whose new children
 * inherit their project id, and the project quota limits. Tables are only ever added with
 * CREATE IF NOT EXISTS, so an older store opens unchanged and the schema version stays.
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS inodes (
  fid TEXT PRIMARY KEY, ino INTEGER NOT NULL, mode INTEGER NOT NULL, nlink INTEGER NOT NULL,
  uid INTEGER NOT NULL, gid INTEGER NOT NULL, rdev INTEGER NOT NULL, size INTEGER NOT NULL,
  blocks INTEGER NOT NULL, atime_sec INTEGER NOT NULL, atime_nsec INTEGER NOT NULL,
  mtime_sec INTEGER NOT NULL, mtime_nsec INTEGER NOT NULL, ctime_sec INTEGER NOT NULL,
  ctime_nsec INTEGER NOT NULL, projid INTEGER NOT NULL, layout TEXT, symlink TEXT, dir_layout TEXT
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dentries (
  parent TEXT NOT NULL, name TEXT NOT NULL, child TEXT NOT NULL, cookie INTEGER NOT NULL,
  PRIMARY KEY (parent, name)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS dentries_child ON dentries (child);
CREATE UNIQUE INDEX IF NOT EXISTS dentries_cookie ON dentries (cookie);
CREATE TABLE IF NOT EXISTS dentry_tombstones (
  cookie INTEGER PRIMARY KEY, parent TEXT NOT NULL, name TEXT NOT NULL, gone_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS dentry_tombstones_gone ON dentry_tombstones (gone_ms);
CREATE TABLE IF NOT EXISTS xattrs (
  fid TEXT NOT NULL, name TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (fid, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dom_chunks (
  fid TEXT NOT NULL, chunk INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (fid, chunk)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS destroy_log (
  ost INTEGER NOT NULL, obj INTEGER NOT NULL, PRIMARY KEY (ost, obj)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS replies (
  client TEXT NOT NULL, xid INTEGER NOT NULL, status INTEGER NOT NULL, meta BLOB NOT NULL,
  data BLOB NOT NULL, at_ms INTEGER NOT NULL, PRIMARY KEY (client, xid)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS replies_at ON replies (at_ms);
CREATE TABLE IF NOT EXISTS opens (
  fid TEXT NOT NULL, client TEXT NOT NULL, PRIMARY KEY (fid, client)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS opens_client ON opens (client);
CREATE TABLE IF NOT EXISTS open_writes (
  fid TEXT NOT NULL, client TEXT NOT NULL, PRIMARY KEY (fid, client)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS open_writes_client ON open_writes (client);
CREATE TABLE IF NOT EXISTS orphans (fid TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pcc_versions (fid TEXT PRIMARY KEY, version INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pcc_attachments (
  fid TEXT NOT NULL, client TEXT NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (fid, client)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS pcc_attachments_client ON pcc_attachments (client);
CREATE TABLE IF NOT EXISTS pcc_writers (
  fid TEXT NOT NULL, client TEXT NOT NULL, PRIMARY KEY (fid, client)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS pcc_writers_client ON pcc_writers (client);
CREATE TABLE IF NOT EXISTS pcc_rw (
  fid TEXT PRIMARY KEY, client TEXT NOT NULL, cache_id TEXT NOT NULL, at_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS pcc_rw_client ON pcc_rw (client);
CREATE INDEX IF NOT EXISTS pcc_rw_cache ON pcc_rw (cache_id);
CREATE TABLE IF NOT EXISTS evicted_clients (client TEXT PRIMARY KEY, at_ms INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS inodes_projid ON inodes (projid);
CREATE TABLE IF NOT EXISTS project_inherit (fid TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS quota_limits (
  projid INTEGER PRIMARY KEY, block_hard_bytes INTEGER NOT NULL, inode_hard INTEGER NOT NULL
);
`;

export type Row = Record<string, unknown>;

/**
 * Durability, our analogue of Lustre's journal commit interval: the database runs in WAL mode with
 * synchronous=NORMAL, so a commit is in the WAL (the OS page cache) when an RPC is answered and survives
 * the process being killed at any instant; it reaches stable storage at the next sync, which happens
 * every `syncIntervalMs` (about a second, like ldiskfs's commit interval) and on demand (`sync()`, which
 * mdt.sync and synchronous DoM writes call). A power loss can lose at most that last interval, and the
 * database is still consistent (SQLite's WAL is atomic per transaction).
 */
export class Store {
  readonly db: DatabaseSync;
  readonly #statements = new Map<string, StatementSync>();
  #inTxn = false;
  #dirty = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(dir: string, syncIntervalMs = 1000) {
    mkdirSync(dir, { recursive: true });
    this.db = new DatabaseSync(join(dir, 'mdt.sqlite'));
    this.db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = OFF;');
    this.db.exec(SCHEMA);
    this.#checkSchemaVersion();
    if (syncIntervalMs > 0) {
      this.#timer = setInterval(() => this.#dirty && this.sync(), syncIntervalMs);
      this.#timer.unref();
    }
  }

  #checkSchemaVersion(): void {
    const found = this.getMeta('schema_version');
    if (found === undefined) this.txn(() => this.setMeta('schema_version', String(SCHEMA_VERSION)));
    else if (Number(found) !== SCHEMA_VERSION) {
      throw new KlError(
        'EINVAL',
        `MDT store has schema version ${found}; this server reads ${SCHEMA_VERSION}`,
      );
    }
  }

  #prepare(sql: string): StatementSync {
    let s = this.#statements.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.#statements.set(sql, s);
    }
    return s;
  }

  get(sql: string, ...params: SQLInputValue[]): Row | undefined {
    return this.#prepare(sql).get(...params) as Row | undefined;
  }

  all(sql: string, ...params: SQLInputValue[]): Row[] {
    return this.#prepare(sql).all(...params) as Row[];
  }

  run(sql: string, ...params: SQLInputValue[]): number {
    return Number(this.#prepare(sql).run(...params).changes);
  }

  /**
   * Runs `fn` in one write transaction: all of its changes commit together or none do. `fn` must be
   * synchronous, so no other request's statements can interleave with it.
   */
  txn<T>(fn: () => T): T {
    if (this.#inTxn) throw new Error('nested MDT transaction');
    this.#inTxn = true;
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const result = fn();
      this.db.exec('COMMIT');
      this.#dirty = true;
      return result;
    } catch (e) {
      this.db.exec('ROLLBACK');
      throw e;
    } finally {
      this.#inTxn = false;
    }
  }

  getMeta(key: string): string | undefined {
    return this.get('SELECT value FROM meta WHERE key = ?', key)?.value as string | undefined;
  }

  setMeta(key: string, value: string): void {
    this.run(
      'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      key,
      value,
    );
  }

  /**
   * Makes every committed transaction durable: one commit with synchronous=FULL fsyncs the WAL, and with
   * it every frame before it.
   */
  sync(): void {
    this.db.exec('PRAGMA synchronous = FULL');
    try {
      this.txn(() => this.setMeta('synced_ms', String(Date.now())));
    } finally {
      this.db.exec('PRAGMA synchronous = NORMAL');
    }
    this.#dirty = false;
  }

  /** `PRAGMA integrity_check`'s verdict: 'ok' or the first problems found. */
  integrityCheck(): string {
    return this.all('PRAGMA integrity_check')
      .map((r) => String(r.integrity_check))
      .join('; ');
  }

  close(): void {
    clearInterval(this.#timer);
    if (!this.db.isOpen) return;
    this.sync();
    this.db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    this.db.close();
  }
}

/** A BLOB column as a Buffer sharing its memory. */
export function blobOf(v: unknown): Buffer {
  const u8 = v as Uint8Array;
  return Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
}
