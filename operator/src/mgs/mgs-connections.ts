import { randomUUID } from 'node:crypto';
import type { Layout } from '@kubelustre/protocol/layout/types.ts';
import { config, pool, setDefaultLayout } from '@kubelustre/protocol/messages/mgs.ts';
import { RpcClient } from '@kubelustre/protocol/wire/rpc-client.ts';
import type { Logger } from 'pino';
import type { FsConfigValue } from '../policy/filesystem-status.ts';
import type { PoolOp } from '../policy/pool.ts';

/** A reconcile waits this long for the MGS, connecting included, before calling it unreachable. */
const MGS_CALL_TIMEOUT_MS = 5000;
const MGS_CONNECT_TIMEOUT_MS = 2000;

/** The MGS operations the operator uses, for one filesystem. */
export interface MgsSession {
  readonly address: string;
  config(): Promise<FsConfigValue>;
  pool(op: PoolOp): Promise<void>;
  setDefaultLayout(layout: Layout): Promise<void>;
}

/**
 * One authenticated RPC connection per filesystem's MGS, reused across reconciles and replaced when the
 * address or the shared key changes. Each filesystem's reconciler and its pools' and policies' share it.
 */
export class MgsConnections {
  readonly #log: Logger;
  readonly #clients = new Map<string, { client: RpcClient; key: Buffer }>();
  readonly #clientUuid = randomUUID();

  constructor(log: Logger) {
    this.#log = log;
  }

  /** The session for the filesystem `fsKey` (namespace/name), whose MGS listens at `address`. */
  session(fsKey: string, address: string, key: Buffer): MgsSession {
    const client = this.#client(fsKey, address, key);
    return {
      address,
      config: async () => (await client.call(config, { sinceVersion: -1, waitMs: 0 })).reply,
      pool: async (op) => {
        await client.call(pool, op);
      },
      setDefaultLayout: async (layout) => {
        await client.call(setDefaultLayout, { layout });
      },
    };
  }

  close(fsKey: string): void {
    this.#clients.get(fsKey)?.client.close();
    this.#clients.delete(fsKey);
  }

  closeAll(): void {
    for (const fsKey of [...this.#clients.keys()]) this.close(fsKey);
  }

  #client(fsKey: string, address: string, key: Buffer): RpcClient {
    const existing = this.#clients.get(fsKey);
    if (existing !== undefined && existing.client.address === address && existing.key.equals(key)) {
      return existing.client;
    }
    existing?.client.close();
    const client = new RpcClient({
      address,
      key,
      clientUuid: this.#clientUuid,
      log: this.#log.child({ fs: fsKey, mgs: address }),
      connectTimeoutMs: MGS_CONNECT_TIMEOUT_MS,
      requestTimeoutMs: MGS_CALL_TIMEOUT_MS,
    });
    this.#clients.set(fsKey, { client, key });
    return client;
  }
}
