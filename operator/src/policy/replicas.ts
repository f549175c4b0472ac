import { ROLE_TITLES, ROLES, type Role, specCount, workloadName } from '../builders/names.ts';
import type { LustreFileSystem, StatefulSet } from '../k8s/objects.ts';
import type { Problem } from './filesystem-status.ts';

const COUNT_FIELDS: Record<Role, string> = {
  mgs: 'spec.mgs.count',
  mdt: 'spec.mdts.count',
  ost: 'spec.osts.count',
};

export interface ReplicaPlan {
  replicas: Record<Role, number>;
  problems: Problem[];
}

/**
 * Replicas per role: the spec's count, except that a StatefulSet is never shrunk. The CRD already
 * refuses lowering a count; this covers a filesystem recreated over StatefulSets that outlived it (an
 * orphaning delete, a restore from backup). Each pod past the count holds a target's objects, and
 * Lustre has no way to migrate them off before the target goes.
 */
export function planReplicas(
  fs: LustreFileSystem,
  workloads: Partial<Record<Role, StatefulSet>>,
): ReplicaPlan {
  const replicas = { mgs: 1, mdt: 0, ost: 0 };
  const problems: Problem[] = [];
  for (const role of ROLES) {
    const wanted = specCount(fs, role);
    const running = workloads[role]?.spec.replicas ?? 0;
    replicas[role] = Math.max(wanted, running);
    if (running > wanted) {
      const title = ROLE_TITLES[role];
      problems.push({
        reason: 'ScaleDownRefused',
        message:
          `${COUNT_FIELDS[role]} is ${wanted} but StatefulSet ${workloadName(fs, role)} runs ${running} ${title}s: ` +
          `removing an ${title} would lose the data on it (Lustre cannot migrate it off), so all ${running} are kept`,
      });
    }
  }
  return { replicas, problems };
}
