import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { KlClient } from '@kubelustre/client/fs-client.ts';
import { LocalCluster } from '@kubelustre/client/local/cluster.ts';
import { DEFAULT_CLUSTER } from '@kubelustre/client/local/cluster-spec.ts';
import { parseSetstripeArgs } from '@kubelustre/protocol/layout/setstripe-args.ts';
import { silentLogger } from '@kubelustre/protocol/log.ts';
import { startTestMount, type TestMount } from '../mount/mount-harness.ts';
import type { BenchFs } from './bench-fs.ts';
import { dirFs, dropKernelCaches } from './local-fs.ts';

export interface MountFsOptions {
  /** Writes a CPU profile of each mount process into this directory (`node --cpu-prof`). */
  cpuProfDir?: string;
}

/**
 * kubelustre through its FUSE mount: a fresh local cluster (MGS, MDT, 4 OSTs) under `parent`, mounted
 * by a real mount process, and the local-directory adapter (node:fs) pointed at the mountpoint. Cold
 * caches: the mount is stopped (its client's caches go with it), the kernel's caches dropped (the
 * mount's pages and the OSTs'), and a new mount process started.
 */
export async function mountFs(parent: string, o: MountFsOptions = {}): Promise<BenchFs> {
  const dir = mkdtempSync(join(parent, 'kl-bench-mount-'));
  const cluster = await LocalCluster.create({ ...DEFAULT_CLUSTER, dir, fsName: 'benchm', basePort: 0 });
  await cluster.up();
  const mountpoint = join(dir, 'mnt');
  const nodeArgs = o.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${o.cpuProfDir}`] : [];
  let mount: TestMount = await startTestMount(cluster, mountpoint, { nodeArgs });
  // Striping is set as lfs setstripe does on a missing file: created with the layout, then opened.
  const lfs = await new KlClient({ mgs: cluster.mgsAddress, key: cluster.key, log: silentLogger }).connect();
  const fs = dirFs(mountpoint, 'kubelustre (FUSE mount)', async () => {
    await mount.stop();
    dropKernelCaches();
    mount = await startTestMount(cluster, mountpoint, { nodeArgs });
  });
  return {
    ...fs,
    create: async (path, opts) => {
      if (opts?.stripeCount) {
        await lfs.lustre.setstripe(path, parseSetstripeArgs(['-c', String(opts.stripeCount)]).layout!);
      }
      return fs.create(path);
    },
    async [Symbol.asyncDispose]() {
      await mount.stop();
      await lfs.close();
      await cluster.down();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
