import * as mdtOps from '@kubelustre/protocol/messages/mdt.ts';
import * as ostOps from '@kubelustre/protocol/messages/ost.ts';
import type { RpcClient } from '@kubelustre/protocol/wire/rpc-client.ts';
import type { TargetSpace } from './statfs.ts';
import type { TargetConnections } from './targets.ts';

/** How long statfs waits for a target before counting it out (lfs df must not hang on a dead OST). */
export const STATFS_TIMEOUT_MS = 10_000;

/** Asks every MDT and OST for its space, in parallel; targets that do not answer carry the error. */
export async function queryTargetSpaces(
  targets: TargetConnections,
  timeoutMs = STATFS_TIMEOUT_MS,
): Promise<{ mdts: TargetSpace[]; osts: TargetSpace[] }> {
  const ask = async (
    role: 'mdt' | 'ost',
    index: number,
    rpc: () => Promise<RpcClient>,
  ): Promise<TargetSpace> => {
    try {
      const op = role === 'mdt' ? mdtOps.statfs : ostOps.statfs;
      const target = await rpc();
      return { role, index, space: (await target.call(op, {}, undefined, timeoutMs)).reply };
    } catch (e) {
      return { role, index, space: undefined, error: (e as Error).message };
    }
  };
  const [mdts, osts] = await Promise.all([
    Promise.all(targets.mdtIndexes().map((i) => ask('mdt', i, async () => targets.mdt(i)))),
    Promise.all(targets.ostIndexes().map((i) => ask('ost', i, () => targets.ost(i)))),
  ]);
  return { mdts, osts };
}
