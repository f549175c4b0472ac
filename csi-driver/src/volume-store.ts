import type { KlClient } from '@kubelustre/client/fs-client.ts';
import { isDir } from '@kubelustre/client/mode.ts';
import { isKlError } from '@kubelustre/protocol/errors.ts';
import type { Layout } from '@kubelustre/protocol/layout/types.ts';
import { RENAME_NOREPLACE } from '@kubelustre/protocol/messages/mdt.ts';
import type { OnDelete } from './parameters.ts';

/**
 * What the driver records on a volume directory it created, in the xattr below: the filesystem holds
 * the driver's only state about a volume, next to the volume itself, so a repeated CreateVolume and a
 * DeleteVolume need nothing else. A directory without it was not created by the driver.
 */
export interface VolumeRecord {
  name: string;
  capacityBytes: number;
  onDelete: OnDelete;
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
 * it is made as `baseDir/.new-NAME`, given its default layout and its record, then renamed into place
 * without replacing anything. A retry after a crash reuses the half-made directory; a failure removes it.
 */
export async function createVolumeDir(
  client: KlClient,
  baseDir: string,
  record: VolumeRecord,
  layout: Layout | undefined,
): Promise<void> {
  await mkdirParents(client, baseDir);
  const staging = `${baseDir}/${NEW_PREFIX}${record.name}`;
  await ignoring('EEXIST', client.paths.mkdir(staging, VOLUME_DIR_MODE));
  try {
    if (layout) await client.lustre.setstripe(staging, layout);
    await client.paths.setxattr(staging, RECORD_XATTR, Buffer.from(JSON.stringify(record)));
    await client.paths.rename(staging, `${baseDir}/${record.name}`, RENAME_NOREPLACE);
  } catch (e) {
    await client.paths.rmdir(staging).catch(() => undefined);
    throw e;
  }
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
