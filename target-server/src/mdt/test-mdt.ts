import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '@kubelustre/protocol/log.ts';
import { register } from '@kubelustre/protocol/messages/mgs.ts';
import { RpcClient } from '@kubelustre/protocol/wire/rpc-client.ts';
import { RpcServer } from '@kubelustre/protocol/wire/rpc-server.ts';
import { Registry } from 'prom-client';
import { startTestMgs, TEST_KEY } from '../mgs/test-mgs.ts';
import { startOst } from '../ost/ost-target.ts';
import type { RunningTarget } from '../server/role.ts';
import { type MdtOptions, type MdtTarget, startMdt } from './mdt-target.ts';

export interface TestOst {
  index: number;
  port: number;
  address: string;
  target: RunningTarget;
  rpc: RpcServer;
}

export interface TestMdt {
  mdt: MdtTarget;
  rpc: RpcServer;
  registry: Registry;
  address: string;
  /** A client of this MDT, with its own uuid. */
  client: RpcClient;
}

/**
 * For tests: a real MGS, `ostCount` real OSTs registered with it, and an MDT, each on its own RPC server
 * on 127.0.0.1, in temp directories removed by `stop`. `startMdt` starts another MDT instance on the same
 * directory without closing the previous one: the previous instance is abandoned as a killed process
 * would be (`stop` closes it at the end).
 */
export class TestCluster {
  readonly root: string;
  readonly mgsAddress: string;
  readonly osts: TestOst[] = [];
  readonly #stops: Array<() => Promise<unknown> | unknown> = [];
  readonly #ostStops = new Map<number, () => Promise<void>>();

  private constructor(root: string, mgsAddress: string) {
    this.root = root;
    this.mgsAddress = mgsAddress;
  }

  static async start(ostCount: number): Promise<TestCluster> {
    const root = await mkdtemp(join(tmpdir(), 'kl-mdt-'));
    await mkdir(join(root, 'mgs'));
    const mgs = await startTestMgs(join(root, 'mgs'));
    const cluster = new TestCluster(root, mgs.address);
    cluster.#stops.push(
      () => rm(root, { recursive: true, force: true }),
      () => mgs.stop(),
    );
    for (let i = 0; i < ostCount; i++) await cluster.addOst(i);
    return cluster;
  }

  client(address: string, clientUuid: string = crypto.randomUUID()): RpcClient {
    const c = new RpcClient({
      address,
      key: TEST_KEY,
      clientUuid,
      log: silentLogger,
      requestTimeoutMs: 10_000,
      backoffMinMs: 10,
    });
    this.#stops.push(() => c.close());
    return c;
  }

  async addOst(index: number): Promise<TestOst> {
    const ost = await this.#serveOst(index, 0);
    const uuid = crypto.randomUUID();
    await this.client(this.mgsAddress).call(register, { role: 'ost', index, uuid, address: ost.address });
    this.osts.push(ost);
    return ost;
  }

  async #serveOst(index: number, port: number): Promise<TestOst> {
    const rpc = new RpcServer({ name: `fs1-OST${index}`, key: TEST_KEY, log: silentLogger });
    const bound = await rpc.listen('127.0.0.1', port);
    const address = `127.0.0.1:${bound.port}`;
    const ctx = { fsName: 'fs1', index, dataDir: join(this.root, `ost${index}`), advertise: address };
    await mkdir(ctx.dataDir, { recursive: true });
    const target = await startOst({
      ...ctx,
      key: TEST_KEY,
      log: silentLogger,
      registry: new Registry(),
      rpc,
    });
    let stopped = false;
    const stop = async () => {
      if (stopped) return;
      stopped = true;
      await rpc.close(0);
      await target.close();
    };
    this.#stops.push(stop);
    this.#ostStops.set(index, stop);
    return { index, port: bound.port, address, target, rpc };
  }

  /** Stops OST `index` (its clients see connection refused) until `restartOst`. */
  async stopOst(index: number): Promise<void> {
    await this.#ostStops.get(index)?.();
  }

  /** Serves OST `index` again from its directory, on its old port. */
  async restartOst(index: number): Promise<TestOst> {
    const i = this.osts.findIndex((o) => o.index === index);
    const ost = await this.#serveOst(index, this.osts[i]!.port);
    this.osts[i] = ost;
    return ost;
  }

  async startMdt(opts: MdtOptions = {}): Promise<TestMdt> {
    const rpc = new RpcServer({ name: 'fs1-MDT0000', key: TEST_KEY, log: silentLogger });
    const { port } = await rpc.listen('127.0.0.1', 0);
    const address = `127.0.0.1:${port}`;
    const registry = new Registry();
    const mdt = await startMdt(
      {
        ...{
          fsName: 'fs1',
          index: 0,
          dataDir: join(this.root, 'mdt'),
          advertise: address,
          mgs: this.mgsAddress,
        },
        ...{ key: TEST_KEY, log: silentLogger, registry, rpc },
      },
      { syncIntervalMs: 200, osp: { statfsIntervalMs: 200, precreateBatch: 32, refillBelow: 8 }, ...opts },
    );
    this.#stops.push(async () => {
      await rpc.close(0);
      await mdt.close();
    });
    return { mdt, rpc, registry, address, client: this.client(address) };
  }

  /** Waits (bounded) until the MDT has precreated ids on every OST. */
  static async waitReady(mdt: MdtTarget, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!mdt.poolsFilled()) {
      if (Date.now() > deadline) throw new Error(`MDT not ready within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async stop(): Promise<void> {
    for (const s of this.#stops.splice(0).reverse()) await s();
  }
}
