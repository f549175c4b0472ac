import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { FileHandle } from '@kubelustre/client/file-handle.ts';
import { KlClient } from '@kubelustre/client/fs-client.ts';
import { LocalCluster } from '@kubelustre/client/local/cluster.ts';
import { DEFAULT_CLUSTER } from '@kubelustre/client/local/cluster-spec.ts';
import { O_CREAT, O_RDONLY, O_RDWR, O_TRUNC } from '@kubelustre/client/mode.ts';
import { parseSetstripeArgs } from '@kubelustre/protocol/layout/setstripe-args.ts';
import { silentLogger } from '@kubelustre/protocol/log.ts';
import type { BenchFile, BenchFs } from './bench-fs.ts';
import { dropKernelCaches } from './local-fs.ts';

/** kubelustre through the client library: a fresh local cluster (MGS, MDT, 4 OSTs) under `parent`. */
export async function klFs(parent: string): Promise<BenchFs> {
  const dir = mkdtempSync(join(parent, 'kl-bench-cluster-'));
  const cluster = await LocalCluster.create({ ...DEFAULT_CLUSTER, dir, fsName: 'bench', basePort: 0 });
  await cluster.up();
  let client = await connect(cluster);
  const wrap = (h: FileHandle): BenchFile => ({
    write: async (data, position) => {
      await h.write(data, position);
    },
    read: async (length, position) => (await h.read(length, position)).length,
    sync: () => h.fsync(),
    close: () => h.close(),
  });
  return {
    name: 'kubelustre (client library)',
    create: async (path, o) => {
      if (o?.stripeCount)
        await client.lustre.setstripe(path, parseSetstripeArgs(['-c', String(o.stripeCount)]).layout!);
      return wrap(await client.paths.open(path, O_RDWR | O_CREAT | O_TRUNC, 0o644));
    },
    open: async (path) => wrap(await client.paths.open(path, O_RDONLY)),
    mkdir: async (path) => {
      await client.paths.mkdir(path, 0o755);
    },
    stat: async (path) => {
      await client.paths.stat(path);
    },
    unlink: (path) => client.paths.unlink(path),
    // A new client has empty caches; the kernel's page cache under the OSTs is dropped as for local.
    dropCaches: async () => {
      await client.close();
      dropKernelCaches();
      client = await connect(cluster);
    },
    async [Symbol.asyncDispose]() {
      await client.close();
      await cluster.down();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function connect(cluster: LocalCluster): Promise<KlClient> {
  return new KlClient({ mgs: cluster.mgsAddress, key: cluster.key, log: silentLogger }).connect();
}
