import { KlError } from '@kubelustre/protocol/errors.ts';

/** A project's usage and limits, as `lfs quota -p` reports them (0 = no limit). */
export interface ProjectUsage {
  usedBytes: number;
  limitBytes: number;
  usedInodes: number;
  limitInodes: number;
}

/**
 * What the driver needs from Lustre project quotas to make a volume's capacity real: tag the volume's
 * directory tree with a project id and limit it (`lfs project -p ID -s DIR; lfs setquota -p ID`), and
 * read the project's usage for NodeGetVolumeStats. The MDT and OSTs do not account projects yet, so the
 * only implementation says so: while `enforcesCapacity` is false the driver records a volume's
 * capacity without enforcing it, advertises no EXPAND_VOLUME, and reports the filesystem's statfs as
 * volume stats. A quota-backed implementation replaces it without changing the services' shape.
 */
export interface QuotaApi {
  readonly enforcesCapacity: boolean;
  setProjectQuota(dir: string, projectId: number, limitBytes: number, limitInodes: number): Promise<void>;
  getProjectUsage(dir: string, projectId: number): Promise<ProjectUsage>;
}

/** Quotas as they are today: none. Its calls answer ENOSYS (UNIMPLEMENTED at the CSI edge). */
export class UnimplementedQuotaApi implements QuotaApi {
  readonly enforcesCapacity = false;

  setProjectQuota(dir: string): Promise<void> {
    return Promise.reject(new KlError('ENOSYS', `project quotas are not implemented yet (limit on ${dir})`));
  }

  getProjectUsage(dir: string): Promise<ProjectUsage> {
    return Promise.reject(new KlError('ENOSYS', `project quotas are not implemented yet (usage of ${dir})`));
  }
}
