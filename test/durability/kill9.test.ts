import { createHash, randomUUID } from 'node:crypto';
import { KlClient } from '@kubelustre/client/fs-client.ts';
import type { LocalCluster } from '@kubelustre/client/local/cluster.ts';
import { O_APPEND, O_CREAT, O_TRUNC, O_WRONLY } from '@kubelustre/client/mode.ts';
import { parseSetstripeArgs } from '@kubelustre/protocol/layout/setstripe-args.ts';
import { silentLogger } from '@kubelustre/protocol/log.ts';
import * as ost from '@kubelustre/protocol/messages/ost.ts';
import { RpcClient } from '@kubelustre/protocol/wire/rpc-client.ts';
import { describe, expect, it } from 'vitest';
import { startTestCluster } from '../harness/cluster.ts';
import { randomBytes, randomInt, seededRandom, seedFromEnv } from '../harness/random.ts';

const OSTS = 3;
const OPS_MAX = 3000;
const WORKLOAD_MS = 30_000;
const CRASHES_MAX = 12;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What the filesystem must hold: only changes whose acknowledgement (fsync, rename, unlink) came back. */
type Model = Map<string, Buffer>;

async function writeFsynced(client: KlClient, path: string, data: Buffer, append: boolean): Promise<void> {
  const h = await client.paths.open(path, O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC), 0o644);
  await h.write(data);
  await h.fsync();
  await h.close();
}

async function workloadStep(client: KlClient, model: Model, rand: () => number, n: number): Promise<void> {
  const names = [...model.keys()];
  const roll = rand();
  if (roll < 0.6 || names.length < 3) {
    const path = `/f${n}`;
    await client.lustre.setstripe(
      path,
      parseSetstripeArgs(['-c', String(1 + randomInt(rand, OSTS)), '-S', '64K']).layout!,
    );
    const data = randomBytes(rand, randomInt(rand, 1 << 20));
    await writeFsynced(client, path, data, false);
    model.set(path, data);
  } else if (roll < 0.75) {
    const path = names[randomInt(rand, names.length)]!;
    const more = randomBytes(rand, randomInt(rand, 300_000));
    await writeFsynced(client, path, more, true);
    model.set(path, Buffer.concat([model.get(path)!, more]));
  } else if (roll < 0.9) {
    const from = names[randomInt(rand, names.length)]!;
    const to = `/r${n}`;
    await client.paths.rename(from, to);
    model.set(to, model.get(from)!);
    model.delete(from);
  } else {
    const path = names[randomInt(rand, names.length)]!;
    await client.paths.unlink(path);
    model.delete(path);
  }
}

/** kill -9 of the MDT or an OST at random moments, each restarted after a short random pause. */
async function chaos(
  cluster: LocalCluster,
  rand: () => number,
  stop: () => boolean,
  log: string[],
): Promise<void> {
  const victims = [
    cluster.target('mdt', 0),
    ...Array.from({ length: OSTS }, (_, i) => cluster.target('ost', i)),
  ];
  for (let crashes = 0; crashes < CRASHES_MAX && !stop(); crashes++) {
    await sleep(300 + randomInt(rand, 1500));
    if (stop()) return;
    // The MDT goes first, so every run crashes it at least once; then any target.
    const t = crashes === 0 ? victims[0]! : victims[randomInt(rand, victims.length)]!;
    log.push(`kill -9 ${t.role}${t.index}`);
    await cluster.crash(t);
    await sleep(randomInt(rand, 800));
    await cluster.start(t);
  }
}

async function objectsOn(cluster: LocalCluster, index: number): Promise<number[]> {
  const c = new RpcClient({
    address: cluster.target('ost', index).listen,
    key: cluster.key,
    clientUuid: randomUUID(),
    log: silentLogger,
  });
  try {
    return (await c.call(ost.listObjects, { after: 0, countMax: 10_000 })).reply.objIds;
  } finally {
    c.close();
  }
}

describe('durability under kill -9', () => {
  it('keeps every fsynced write, keeps the namespace consistent, and leaks no objects', async () => {
    const seed = seedFromEnv();
    console.log(`kill -9 seed ${seed} (replay with KL_SEED=${seed})`);
    const rand = seededRandom(seed);
    const chaosRand = seededRandom(seed ^ 0x5eed);
    await using tc = await startTestCluster({ osts: OSTS });
    const { cluster } = tc;
    const connect = () =>
      new KlClient({
        mgs: cluster.mgsAddress,
        key: cluster.key,
        log: silentLogger,
        requestTimeoutMs: 60_000,
      }).connect();
    const model: Model = new Map();
    const crashLog: string[] = [];
    const started = Date.now();
    let done = false;
    let ops = 0;
    const client = await connect();
    const chaosDone = chaos(cluster, chaosRand, () => done, crashLog);
    try {
      for (; ops < OPS_MAX && Date.now() - started < WORKLOAD_MS; ops++)
        await workloadStep(client, model, rand, ops);
    } finally {
      done = true;
      await chaosDone;
      await client.close();
    }
    console.log(`${ops} acknowledged operations, crashes: ${crashLog.join(', ')}`);
    expect(crashLog.length).toBeGreaterThan(2);

    const check = await connect();
    try {
      const names = (await check.paths.readdir('/'))
        .filter((n) => n !== '.' && n !== '..')
        .map((n) => `/${n}`);
      expect(names.sort(), `namespace after crashes (seed ${seed})`).toEqual([...model.keys()].sort());
      for (const [path, data] of model) {
        const st = await check.paths.stat(path);
        expect(st.nlink, path).toBe(1);
        expect(sha(await check.paths.readFile(path)), `${path} content (seed ${seed})`).toBe(sha(data));
      }
      for (const path of model.keys()) await check.paths.unlink(path);
    } finally {
      await check.close();
    }
    const deadline = Date.now() + 30_000;
    let left: number[] = [];
    do {
      left = (await Promise.all(Array.from({ length: OSTS }, (_, i) => objectsOn(cluster, i)))).flat();
      if (left.length === 0) break;
      await sleep(200);
    } while (Date.now() < deadline);
    expect(left, `objects left on OSTs after unlinking everything (seed ${seed})`).toEqual([]);
  }, 240_000);
});
