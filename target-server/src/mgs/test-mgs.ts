import { silentLogger } from '@kubelustre/protocol/log.ts';
import { ping } from '@kubelustre/protocol/messages/common.ts';
import { type ReplyCache, RpcServer } from '@kubelustre/protocol/wire/rpc-server.ts';
import { Registry } from 'prom-client';
import { type RunningMgs, startMgs } from './mgs-target.ts';

export const TEST_KEY = Buffer.alloc(32, 3);

export interface TestMgs {
  mgs: RunningMgs;
  address: string;
  port: number;
  stop(): Promise<void>;
}

/**
 * For tests: an MGS wired as main.ts wires it (its own RPC server on 127.0.0.1, resends answered from
 * its reply cache), without the process around it. The caller stops it.
 */
export async function startTestMgs(
  dataDir: string,
  opts: { fsName?: string; reportIntervalMs?: number; port?: number } = {},
): Promise<TestMgs> {
  let mgs: RunningMgs | undefined;
  const replyCache: ReplyCache = { lookup: (c, x) => mgs?.replyCache.lookup(c, x) };
  const rpc = new RpcServer({ name: 'MGS', key: TEST_KEY, log: silentLogger, replyCache });
  rpc.register(ping, () => ({ reply: { target: 'MGS' } }));
  const { port } = await rpc.listen('127.0.0.1', opts.port ?? 0);
  const address = `127.0.0.1:${port}`;
  const ctx = {
    fsName: opts.fsName ?? 'fs1',
    index: 0,
    dataDir,
    advertise: address,
    key: TEST_KEY,
    log: silentLogger,
    registry: new Registry(),
    rpc,
  };
  try {
    mgs = await startMgs(
      ctx,
      opts.reportIntervalMs === undefined ? {} : { reportIntervalMs: opts.reportIntervalMs },
    );
  } catch (e) {
    await rpc.close(0);
    throw e;
  }
  const running = mgs;
  return {
    mgs: running,
    address,
    port,
    async stop() {
      await rpc.close(100);
      await running.close();
    },
  };
}
