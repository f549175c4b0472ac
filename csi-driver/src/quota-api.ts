import { createHash } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import type { KlClient } from '@kubelustre/client/fs-client.ts';
import { CsiError } from './csi-error.ts';

/** Volume project ids start here, leaving lower ids to administrators (as Lustre sites tend to). */
export const PROJECT_ID_MIN = 1000;
/** Ids are drawn from [PROJECT_ID_MIN, PROJECT_ID_MIN + PROJECT_ID_SPAN): well within 32 bits. */
const PROJECT_ID_SPAN = 2 ** 31 - PROJECT_ID_MIN;
/** Neighbouring ids tried when a volume's preferred id is taken, before giving up. */
const PROJECT_ID_PROBES_MAX = 64;

/** A project's usage and limits, as `lfs quota -p` reports them (0 = no limit). */
export interface ProjectUsage {
  usedBytes: number;
  limitBytes: number;
  usedInodes: number;
  limitInodes: number;
}

/** The id volume `name` prefers: derived from its name, so a retried CreateVolume asks for the same one. */
export function preferredProjectId(name: string): number {
  const hash = createHash('sha256').update(name).digest().readUInt32BE(0);
  return PROJECT_ID_MIN + (hash % PROJECT_ID_SPAN);
}

/**
 * A project id for the volume directory `dir` (named `name`): the one it carries already (a retry after
 * a crash), else its preferred id or the first free one after it. An id is free while no inode carries
 * it and no limit is set on it: another volume's tree, even an empty one, holds its own directory.
 */
export async function allocateProjectId(client: KlClient, dir: string, name: string): Promise<number> {
  const current = (await client.lustre.getProject(dir)).projid;
  if (current >= PROJECT_ID_MIN) return current;
  const first = preferredProjectId(name);
  for (let i = 0; i < PROJECT_ID_PROBES_MAX; i++) {
    const id = PROJECT_ID_MIN + ((first - PROJECT_ID_MIN + i) % PROJECT_ID_SPAN);
    const q = await client.lustre.getQuota(id);
    if (q.usedInodes === 0 && q.limits.blockHardBytes === 0 && q.limits.inodeHard === 0) return id;
  }
  throw new CsiError(
    status.RESOURCE_EXHAUSTED,
    `no free project id near ${first} for volume ${name} after ${PROJECT_ID_PROBES_MAX} tries`,
  );
}

/**
 * Makes a volume's capacity real (`lfs project -p ID -s DIR; lfs setquota -p ID -B … -I …`): the tree
 * below `dir` is charged to `projectId`, which is limited to `limitBytes` and `limitInodes` (0: none).
 */
export async function setVolumeQuota(
  client: KlClient,
  dir: string,
  projectId: number,
  limits: { limitBytes: number; limitInodes: number },
): Promise<void> {
  await client.lustre.setProject(dir, projectId, { inherit: true });
  await client.lustre.setQuota(projectId, {
    blockHardBytes: limits.limitBytes,
    inodeHard: limits.limitInodes,
  });
}

export async function projectUsage(client: KlClient, projectId: number): Promise<ProjectUsage> {
  const q = await client.lustre.getQuota(projectId);
  return {
    usedBytes: q.usedBytes,
    limitBytes: q.limits.blockHardBytes,
    usedInodes: q.usedInodes,
    limitInodes: q.limits.inodeHard,
  };
}
