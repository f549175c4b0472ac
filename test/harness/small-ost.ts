import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalCluster } from '@kubelustre/client/local/cluster.ts';
import { DEFAULT_CLUSTER } from '@kubelustre/client/local/cluster-spec.ts';
import type { TestCluster } from './cluster.ts';

/**
 * A real cluster (as startTestCluster) where OST `smallOst` keeps its data on a tmpfs of `tmpfsMiB`
 * MiB, so it fills up for real (ENOSPC from the kernel, statfs showing it). Needs root (mount).
 * Disposing stops the processes, unmounts the tmpfs and removes the data, even after a failed start.
 */
export async function startClusterWithSmallOst(o: {
  osts: number;
  fsName: string;
  smallOst: number;
  tmpfsMiB: number;
}): Promise<TestCluster & { smallDir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'kl-small-ost-'));
  const smallDir = join(dir, `ost${o.smallOst}-tmpfs`);
  mkdirSync(smallDir);
  let mounted = false;
  let cluster: LocalCluster | undefined;
  const cleanUp = async () => {
    try {
      await cluster?.down();
    } finally {
      if (mounted) execFileSync('umount', [smallDir]);
      rmSync(dir, { recursive: true, force: true });
    }
  };
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${o.tmpfsMiB}m`, 'tmpfs', smallDir]);
    mounted = true;
    cluster = await LocalCluster.create({
      ...DEFAULT_CLUSTER,
      dir,
      osts: o.osts,
      fsName: o.fsName,
      basePort: 0,
    });
    // LocalCluster state is plain data: point the OST at the tmpfs before anything starts it.
    cluster.target('ost', o.smallOst).dataDir = join(smallDir, 'data');
    cluster.save();
    await cluster.up();
  } catch (e) {
    await cleanUp();
    throw e;
  }
  return { cluster, dir, smallDir, [Symbol.asyncDispose]: cleanUp };
}
