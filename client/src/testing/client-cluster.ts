import { randomUUID } from 'node:crypto';
import { silentLogger } from '@kubelustre/protocol/log.ts';
import { register } from '@kubelustre/protocol/messages/mgs.ts';
import { TestCluster, type TestMdt } from '@kubelustre/target-server/mdt/test-mdt.ts';
import { TEST_KEY } from '@kubelustre/target-server/mgs/test-mgs.ts';
import { KlClient, type KlClientOptions } from '../fs-client.ts';

/** For tests: a real in-process cluster (MGS, MDT, OSTs on loopback, temp dirs) and clients of it. */
export interface ClientCluster extends AsyncDisposable {
  cluster: TestCluster;
  mdt: TestMdt;
  /** A connected client; closed when the cluster is disposed. */
  client(opts?: Partial<KlClientOptions>): Promise<KlClient>;
}

/** Starts the cluster and waits (bounded) until the MDT can allocate objects on every OST. */
export async function startClientCluster(ostCount: number): Promise<ClientCluster> {
  const cluster = await TestCluster.start(ostCount);
  const clients: KlClient[] = [];
  try {
    const mdt = await cluster.startMdt();
    await TestCluster.waitReady(mdt.mdt);
    // The harness starts the MDT without main.ts, which is what registers a target with the MGS.
    const registration = { role: 'mdt' as const, index: 0, uuid: randomUUID(), address: mdt.address };
    await cluster.client(cluster.mgsAddress).call(register, registration);
    return {
      cluster,
      mdt,
      async client(opts = {}) {
        const c = new KlClient({
          mgs: cluster.mgsAddress,
          key: TEST_KEY,
          log: silentLogger,
          requestTimeoutMs: 10_000,
          configPollWaitMs: 1000,
          ...opts,
        });
        clients.push(c);
        return c.connect();
      },
      async [Symbol.asyncDispose]() {
        for (const c of clients) await c.close();
        await cluster.stop();
      },
    };
  } catch (e) {
    await cluster.stop();
    throw e;
  }
}
