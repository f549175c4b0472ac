import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalCluster } from '@kubelustre/client/local/cluster.ts';
import { DEFAULT_CLUSTER } from '@kubelustre/client/local/cluster-spec.ts';

export interface TestCluster extends AsyncDisposable {
  cluster: LocalCluster;
  dir: string;
}

/**
 * A real cluster for a test: MGS, MDT and OSTs as separate processes on loopback with free ports and a
 * temporary data directory. `await using` stops them (only the pids it started) and removes the data.
 */
export async function startTestCluster(o: { osts?: number; fsName?: string } = {}): Promise<TestCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'kl-test-'));
  const cluster = await LocalCluster.create({
    ...DEFAULT_CLUSTER,
    dir,
    osts: o.osts ?? 4,
    fsName: o.fsName ?? 'kltest',
    basePort: 0,
  });
  try {
    await cluster.up();
  } catch (e) {
    await cluster.down();
    throw e;
  }
  return {
    cluster,
    dir,
    async [Symbol.asyncDispose]() {
      await cluster.down();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
