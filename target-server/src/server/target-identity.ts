import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { KlError } from '@kubelustre/protocol/errors.ts';
import { type Static, Type } from '@sinclair/typebox';
import { readJsonFile, writeFileAtomic } from './atomic-file.ts';
import type { TargetRoleName } from './target-name.ts';

/**
 * `DATA/target.json`: what a data directory was formatted as (Lustre keeps the same in a target's
 * CONFIGS/mountdata). It stops a volume from being started as another target, or joined to another
 * filesystem, which would mix two targets' objects.
 */
export const TargetIdentity = Type.Object({
  /** Stable identity of this storage; the MGS refuses a second uuid on a taken index. */
  uuid: Type.String({ pattern: '^[0-9a-f-]{36}$' }),
  role: Type.Union([Type.Literal('mgs'), Type.Literal('mdt'), Type.Literal('ost')]),
  index: Type.Integer({ minimum: 0, maximum: 0xffff }),
  /** Known at format time for the MGS; recorded at first registration for an MDT or OST. */
  fsName: Type.Optional(Type.String({ pattern: '^[a-zA-Z0-9_-]{1,8}$' })),
});
export type TargetIdentity = Static<typeof TargetIdentity>;

export const IDENTITY_FILE = 'target.json';

/**
 * Returns the identity of `dataDir`, creating it (and the directory) on first start. Refuses a directory
 * formatted as another role or index, or (when `fsName` is given) for another filesystem.
 */
export async function openTargetIdentity(
  dataDir: string,
  want: { role: TargetRoleName; index: number; fsName?: string },
): Promise<TargetIdentity> {
  await mkdir(dataDir, { recursive: true });
  const path = join(dataDir, IDENTITY_FILE);
  const found = await readJsonFile(path, TargetIdentity);
  if (!found) {
    const created: TargetIdentity = { uuid: randomUUID(), role: want.role, index: want.index };
    if (want.fsName !== undefined) created.fsName = want.fsName;
    await writeFileAtomic(path, `${JSON.stringify(created, null, 2)}\n`);
    return created;
  }
  if (found.role !== want.role || found.index !== want.index) {
    throw new KlError(
      'EEXIST',
      `${dataDir} belongs to ${found.role} index ${found.index}, not ${want.role} index ${want.index}; ` +
        'give this target its own data directory',
    );
  }
  if (want.fsName !== undefined) return bindFsName(dataDir, found, want.fsName);
  return found;
}

/**
 * Records the filesystem a target belongs to (learned from the MGS at its first registration), or checks
 * it against the one already recorded.
 */
export async function bindFsName(
  dataDir: string,
  identity: TargetIdentity,
  fsName: string,
): Promise<TargetIdentity> {
  if (identity.fsName === fsName) return identity;
  if (identity.fsName !== undefined) {
    throw new KlError(
      'EEXIST',
      `${dataDir} belongs to filesystem "${identity.fsName}", not "${fsName}"; ` +
        'point this target at its own MGS or give it a new data directory',
    );
  }
  const bound = { ...identity, fsName };
  await writeFileAtomic(join(dataDir, IDENTITY_FILE), `${JSON.stringify(bound, null, 2)}\n`);
  return bound;
}
