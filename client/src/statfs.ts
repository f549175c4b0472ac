import type { Statfs } from '@kubelustre/protocol/messages/common.ts';
import type { Static } from '@sinclair/typebox';

export type StatfsValue = Static<typeof Statfs>;

/** One target's statfs answer, or why it had none. */
export interface TargetSpace {
  role: 'mdt' | 'ost';
  index: number;
  space: StatfsValue | undefined;
  /** Set when the target did not answer (lfs df prints it as inactive). */
  error?: string;
}

/**
 * The filesystem's statfs as Lustre's client computes it (ll_statfs_internal): blocks are the OSTs' sum,
 * files the MDT's; since every file needs OST objects, free files are cut down to the OSTs' free
 * objects when those are fewer. Targets that did not answer are left out.
 */
export function aggregateStatfs(mdts: readonly TargetSpace[], osts: readonly TargetSpace[]): StatfsValue {
  const sum = (list: readonly TargetSpace[], f: (s: StatfsValue) => number) =>
    list.reduce((n, t) => n + (t.space ? f(t.space) : 0), 0);
  let files = sum(mdts, (s) => s.files);
  let filesFree = sum(mdts, (s) => s.filesFree);
  const answered = osts.filter((t) => t.space);
  const ostFilesFree = sum(answered, (s) => s.filesFree);
  if (answered.length > 0 && ostFilesFree < filesFree) {
    files = files - filesFree + ostFilesFree;
    filesFree = ostFilesFree;
  }
  return {
    totalBytes: sum(osts, (s) => s.totalBytes),
    freeBytes: sum(osts, (s) => s.freeBytes),
    availBytes: sum(osts, (s) => s.availBytes),
    files,
    filesFree,
  };
}

/** One line of `lfs df` (with -i, the inode columns): numbers only, the CLI formats them. */
export interface DfRow {
  /** `fsname-OST0001_UUID`, or `filesystem_summary:` for the total. */
  uuid: string;
  role: 'mdt' | 'ost' | 'summary';
  index: number | undefined;
  kib: { total: number; used: number; available: number };
  /** Used / (used + available), rounded up as df(1) does. */
  usePercent: number;
  inodes: { total: number; used: number; free: number };
  inodeUsePercent: number;
  /** `MOUNT[MDT:0]`, `MOUNT[OST:1]`, or the mount point itself for the summary. */
  mountedOn: string;
  /** The target did not answer: lfs prints "inactive device" for it and leaves it out of the sums. */
  inactive: boolean;
}

/**
 * `lfs df` rows: every MDT, then every OST, then the summary, whose blocks are the OSTs' sum and whose
 * inodes are the MDTs' (as lfs sums them).
 */
export function dfRows(
  fsName: string,
  mdts: readonly TargetSpace[],
  osts: readonly TargetSpace[],
  mountPoint: string,
): DfRow[] {
  const rows = [...mdts, ...osts].map((t) => {
    const kind = t.role === 'mdt' ? 'MDT' : 'OST';
    const uuid = `${fsName}-${kind}${t.index.toString(16).padStart(4, '0')}_UUID`;
    return row(uuid, t.role, t.index, t.space, `${mountPoint}[${kind}:${t.index}]`);
  });
  const sumOf = (list: readonly TargetSpace[]) => aggregateStatfs([], list);
  const blocks = sumOf(osts);
  const inodes = aggregateStatfs(mdts, []);
  const summary = row(
    'filesystem_summary:',
    'summary',
    undefined,
    { ...blocks, files: inodes.files, filesFree: inodes.filesFree },
    mountPoint,
  );
  return [...rows, summary];
}

function row(
  uuid: string,
  role: DfRow['role'],
  index: number | undefined,
  space: StatfsValue | undefined,
  mountedOn: string,
): DfRow {
  const s = space ?? { totalBytes: 0, freeBytes: 0, availBytes: 0, files: 0, filesFree: 0 };
  const used = Math.floor((s.totalBytes - s.freeBytes) / 1024);
  const available = Math.floor(s.availBytes / 1024);
  const inodesUsed = s.files - s.filesFree;
  return {
    uuid,
    role,
    index,
    kib: { total: Math.floor(s.totalBytes / 1024), used, available },
    usePercent: percentUp(used, available),
    inodes: { total: s.files, used: inodesUsed, free: s.filesFree },
    inodeUsePercent: percentUp(inodesUsed, s.filesFree),
    mountedOn,
    inactive: space === undefined,
  };
}

/** lfs's obd_statfs_ratio: used / (used + available) in percent, rounded up to match df(1). */
export function percentUp(used: number, available: number): number {
  if (used + available <= 0) return 0;
  return Math.ceil((used * 100) / (used + available));
}
