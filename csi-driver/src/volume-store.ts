import type { KlClient } from '@kubelustre/client/fs-client.ts';
import { isDir } from '@kubelustre/client/mode.ts';
import { isKlError } from '@kubelustre/protocol/errors.ts';
import type { Layout } from '@kubelustre/protocol/layout/types.ts';
import { RENAME_NOREPLACE } from '@kubelustre/protocol/messages/mdt.ts';
import type { OnDelete } from './parameters.ts';
import { allocateProjectId, setVolumeQuota } from './quota-api.ts';

/**
 * What the driver records on a volume directory it created, in the xattr below: the filesystem holds
 * the driver's only state about a volume, next to the volume itself, so a repeated CreateVolume and a
 * DeleteVolume need nothing else. A directory without it was not created by the driver.
 */
export interface VolumeRecord {
  name: string;
  capacityBytes: number;
  onDelete: OnDelete;
  /** The project the volume's tree is charged to; its limit is the capacity (volumes made before: none). */
  projectId?: number;
  /** The project's inode limit (0: none). */
  inodeLimit?: number;
}

export const RECORD_XATTR = 'user.kubelustre.csi';
/** A volume directory is made under this prefix and renamed into place once complete. */
const NEW_PREFIX = '.new-';
/** New volume directories are open to every user, as the pods' users are unknown (fsGroup can narrow). */
const VOLUME_DIR_MODE = 0o777;

/** The record on `path`; undefined if the directory has none. ENOENT if there is no directory. */
export async function readRecord(client: KlClient, path: string): Promise<VolumeRecord | undefined> {
  try {
    return JSON.parse((await client.paths.getxattr(path, RECORD_XATTR)).toString('utf8')) as VolumeRecord;
  } catch (e) {
    if (isKlError(e, 'ENODATA')) return undefined;
    throw e;
  }
}

/**
 * Creates volume directory `baseDir/NAME` complete or not at all (ceph-csi's reserve, create, commit):
 * it is made as `baseDir/.new-NAME`, given its default layout, its project and quota (the capacity, so
 * a zero capacity means no byte limit) and its record, then renamed into place without replacing
 * anything. A retry after a crash reuses the half-made directory (and its project id); a failure
 * removes it. Answers the record written.
 */
export async function createVolumeDir(
  client: KlClient,
  baseDir: string,
  wanted: Omit<VolumeRecord, 'projectId'>,
  layout: Layout | undefined,
): Promise<VolumeRecord> {
  await mkdirParents(client, baseDir);
  const staging = `${baseDir}/${NEW_PREFIX}${wanted.name}`;
  await ignoring('EEXIST', client.paths.mkdir(staging, VOLUME_DIR_MODE));
  try {
    if (layout) await client.lustre.setstripe(staging, layout);
    const record = { ...wanted, projectId: await allocateProjectId(client, staging, wanted.name) };
    const limits = { limitBytes: record.capacityBytes, limitInodes: record.inodeLimit ?? 0 };
    await setVolumeQuota(client, staging, record.projectId, limits);
    await writeRecord(client, staging, record);
    await client.paths.rename(staging, `${baseDir}/${wanted.name}`, RENAME_NOREPLACE);
    return record;
  } catch (e) {
    await client.paths.rmdir(staging).catch(() => undefined);
    throw e;
  }
}

export async function writeRecord(client: KlClient, path: string, record: VolumeRecord): Promise<void> {
  await client.paths.setxattr(path, RECORD_XATTR, Buffer.from(JSON.stringify(record)));
}

/** The names of the volume directories under `baseDir` (none if it does not exist yet). */
export async function listVolumeNames(client: KlClient, baseDir: string): Promise<string[]> {
  try {
    const entries = await client.paths.readdirEntries(baseDir);
    return entries.filter((e) => isDir(e.mode) && !e.name.startsWith('.')).map((e) => e.name);
  } catch (e) {
    if (isKlError(e, 'ENOENT')) return [];
    throw e;
  }
}

/**
 * Removes the directory tree at `root`, depth first with an explicit stack (no recursion limit on
 * deep trees). Entries already gone are skipped, so a retry after a failure finishes the job.
 */
export async function removeTree(client: KlClient, root: string): Promise<void> {
  const stack: Array<{ path: string; listed: boolean }> = [{ path: root, listed: false }];
  while (stack.length > 0) {
    const top = stack.at(-1)!;
    if (top.listed) {
      await ignoring('ENOENT', client.paths.rmdir(top.path));
      stack.pop();
      continue;
    }
    top.listed = true;
    const entries = await ignoring('ENOENT', client.paths.readdirEntries(top.path));
    for (const e of entries ?? []) {
      const path = `${top.path}/${e.name}`;
      if (isDir(e.mode)) stack.push({ path, listed: false });
      else await ignoring('ENOENT', client.paths.unlink(path));
    }
  }
}

async function mkdirParents(client: KlClient, dir: string): Promise<void> {
  let path = '';
  for (const part of dir.slice(1).split('/')) {
    path += `/${part}`;
    await ignoring('EEXIST', client.paths.mkdir(path, 0o755));
  }
}

async function ignoring<T>(code: 'EEXIST' | 'ENOENT', p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (e) {
    if (isKlError(e, code)) return undefined;
    throw e;
  }
}
