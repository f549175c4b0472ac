import type { KlClient } from '@kubelustre/client/fs-client.ts';
import { O_CREAT, O_RDWR } from '@kubelustre/client/mode.ts';
import { objectSizeForFileSize } from '@kubelustre/protocol/layout/math.ts';
import { parseSetstripeArgs } from '@kubelustre/protocol/layout/setstripe-args.ts';
import { MIB } from '@kubelustre/protocol/layout/types.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCluster, type TestCluster } from '../harness/cluster.ts';
import { connectClient, ostObjectSize, sha256, sleep, waitForAllOstsActive } from '../harness/integration.ts';
import { randomBytes, seededRandom, seedFromEnv } from '../harness/random.ts';

/**
 * An OST stopped gracefully and started again in the middle of a session: the client's writes that were
 * pending while it was away complete once it is back (the RpcClient reconnects and resends), and reads
 * are right afterwards, from the same client and from a new one.
 */

const OSTS = 2;
/** How long the OST stays down with writes waiting for it. */
const OUTAGE_MS = 1500;
const seed = seedFromEnv();
const rand = seededRandom(seed);
let tc: TestCluster;
let client: KlClient;

beforeAll(async () => {
  console.log(`restart seed ${seed} (replay with KL_SEED=${seed})`);
  tc = await startTestCluster({ osts: OSTS, fsName: 'klrst' });
  client = await connectClient(tc.cluster, { requestTimeoutMs: 60_000 });
  await waitForAllOstsActive(client, OSTS);
}, 60_000);
afterAll(async () => {
  await client?.close();
  await tc?.[Symbol.asyncDispose]();
}, 60_000);

/** Settles with the time `p` settled, without ever rejecting. */
function settledAt(p: Promise<unknown>): Promise<{ atMs: number; error?: unknown }> {
  return p.then(
    () => ({ atMs: Date.now() }),
    (error: unknown) => ({ atMs: Date.now(), error }),
  );
}

describe('OST restart mid-session', { timeout: 120_000 }, () => {
  it('completes writes pending while an OST was stopped, and reads back right', async () => {
    const path = '/restart';
    await client.lustre.setstripe(path, parseSetstripeArgs(['-c', String(OSTS), '-S', '1M']).layout!);
    const layout = (await client.lustre.getLayout(path)).layout;
    expect(layout?.components[0]?.objects?.map((o) => o.ostIdx).sort(), 'striped over both OSTs').toEqual([
      0, 1,
    ]);
    const data = randomBytes(rand, 24 * MIB + 12_345);
    const victim = tc.cluster.target('ost', 1);
    const h = await client.paths.open(path, O_RDWR | O_CREAT);
    const log: string[] = [];
    try {
      // 1. Dirty data in the client, the OST stopped, then fsync: it must wait for the OST, not fail.
      await h.write(data.subarray(0, 8 * MIB), 0);
      await tc.cluster.stop(victim);
      log.push('stopped ost1');
      const fsync1 = settledAt(h.fsync());
      await sleep(OUTAGE_MS);
      const early = await Promise.race([fsync1, sleep(0).then(() => undefined)]);
      expect(
        early,
        `fsync settled while OST 1 was down (seed ${seed}): ${JSON.stringify(early)}`,
      ).toBeUndefined();
      await tc.cluster.start(victim);
      const restartedAt = Date.now();
      log.push('started ost1');
      const r1 = await fsync1;
      expect(r1.error, `fsync across the restart (seed ${seed}, ${log.join(', ')})`).toBeUndefined();
      expect(r1.atMs, 'fsync completed after the OST came back').toBeGreaterThanOrEqual(restartedAt);

      // 2. The OST stopped while a large write-back is in flight, started again shortly after.
      const writing = settledAt(
        (async () => {
          await h.write(data.subarray(8 * MIB), 8 * MIB);
          await h.fsync();
        })(),
      );
      await sleep(20);
      await tc.cluster.stop(victim);
      log.push('stopped ost1 again');
      await sleep(OUTAGE_MS / 2);
      await tc.cluster.start(victim);
      log.push('started ost1 again');
      const r2 = await writing;
      expect(
        r2.error,
        `write + fsync across the second restart (seed ${seed}, ${log.join(', ')})`,
      ).toBeUndefined();

      const same = await h.read(data.length + 10, 0);
      expect(sha256(same), `read back through the same handle (seed ${seed})`).toBe(sha256(data));
    } finally {
      await h.close();
    }

    const fresh = await connectClient(tc.cluster);
    try {
      expect((await fresh.paths.stat(path)).size, `size seen by a new client (seed ${seed})`).toBe(
        data.length,
      );
      expect(sha256(await fresh.paths.readFile(path)), `data read by a new client (seed ${seed})`).toBe(
        sha256(data),
      );
      const c = (await fresh.paths.getnode(path)).layout!.components[0]!;
      for (const [stripe, o] of c.objects!.entries()) {
        expect(
          await ostObjectSize(tc.cluster, o.ostIdx, o.objId),
          `stripe ${stripe} object ${o.objId} on OST ${o.ostIdx} (seed ${seed})`,
        ).toBe(objectSizeForFileSize(c, stripe, data.length));
      }
    } finally {
      await fresh.close();
    }
  });
});
