import { KlError } from '@kubelustre/protocol/errors.ts';
import type { Store } from './store.ts';

/** A project's hard limits (0: none), as `lfs setquota -p ID -B … -I …` sets them. */
export interface QuotaLimitsValue {
  blockHardBytes: number;
  inodeHard: number;
}

const NO_LIMITS: QuotaLimitsValue = { blockHardBytes: 0, inodeHard: 0 };

/** Sets a project's limits; both 0 removes its row (no limits). */
export function setLimits(store: Store, projid: number, limits: QuotaLimitsValue): void {
  if (limits.blockHardBytes === 0 && limits.inodeHard === 0) {
    store.run('DELETE FROM quota_limits WHERE projid = ?', projid);
    return;
  }
  store.run(
    `INSERT INTO quota_limits (projid, block_hard_bytes, inode_hard) VALUES (?, ?, ?)
     ON CONFLICT (projid) DO UPDATE SET block_hard_bytes = excluded.block_hard_bytes, inode_hard = excluded.inode_hard`,
    projid,
    limits.blockHardBytes,
    limits.inodeHard,
  );
}

export function getLimits(store: Store, projid: number): QuotaLimitsValue {
  const r = store.get('SELECT block_hard_bytes, inode_hard FROM quota_limits WHERE projid = ?', projid);
  if (r === undefined) return NO_LIMITS;
  return { blockHardBytes: r.block_hard_bytes as number, inodeHard: r.inode_hard as number };
}

/** Every project with a block limit: what the quota rounds grant to the OSTs. */
export function blockLimits(store: Store): Map<number, number> {
  const rows = store.all('SELECT projid, block_hard_bytes FROM quota_limits WHERE block_hard_bytes > 0');
  return new Map(rows.map((r) => [r.projid as number, r.block_hard_bytes as number]));
}

/**
 * Inodes of a project, orphans included: counted from the inodes table (indexed by projid), so the
 * count is always that of the transaction that asks, with no counter to keep in step.
 */
export function projectInodes(store: Store, projid: number): number {
  return store.get('SELECT count(*) AS n FROM inodes WHERE projid = ?', projid)?.n as number;
}

/** EDQUOT when a project already holds its inode limit; called by a create, in its transaction. */
export function checkInodeQuota(store: Store, projid: number): void {
  if (projid === 0) return;
  const { inodeHard } = getLimits(store, projid);
  if (inodeHard === 0) return;
  if (projectInodes(store, projid) >= inodeHard) {
    throw new KlError('EDQUOT', `EDQUOT: project ${projid} holds its limit of ${inodeHard} inodes`);
  }
}
