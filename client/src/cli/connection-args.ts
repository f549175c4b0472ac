import { randomUUID } from 'node:crypto';
import { KlError } from '@kubelustre/protocol/errors.ts';
import { readKeyFile } from '@kubelustre/protocol/wire/auth.ts';
import { RpcClient } from '@kubelustre/protocol/wire/rpc-client.ts';
import { LocalCluster } from '../local/cluster.ts';
import { DEFAULT_DIR } from './local-commands.ts';
import { cliLogger } from './logger.ts';

/** Options every filesystem command takes: where the MGS is and the key; default: the local cluster. */
export const connectionOptions = {
  mgs: { type: 'string' },
  'key-file': { type: 'string' },
  dir: { type: 'string', default: DEFAULT_DIR },
} as const;

export interface Connection {
  mgs: string;
  key: Buffer;
}

export function resolveConnection(v: { mgs?: string; 'key-file'?: string; dir?: string }): Connection {
  if (v.mgs) {
    if (!v['key-file'])
      throw new KlError('EINVAL', "--mgs needs --key-file with the filesystem's shared key");
    return { mgs: v.mgs, key: readKeyFile(v['key-file']) };
  }
  const dir = v.dir ?? DEFAULT_DIR;
  const cluster = LocalCluster.load(dir);
  if (!cluster)
    throw new KlError(
      'ENOENT',
      `no --mgs given and no local cluster in ${dir} (start one: kubelustre local up)`,
    );
  return { mgs: cluster.mgsAddress, key: cluster.key };
}

export function mgsClient(c: Connection): RpcClient {
  return new RpcClient({
    address: c.mgs,
    key: c.key,
    clientUuid: randomUUID(),
    log: cliLogger,
    requestTimeoutMs: 15_000,
  });
}
