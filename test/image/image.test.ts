import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { KlClient } from '@kubelustre/client/fs-client.ts';
import type { LocalCluster } from '@kubelustre/client/local/cluster.ts';
import { O_APPEND, O_CREAT, O_TRUNC, O_WRONLY } from '@kubelustre/client/mode.ts';
import { parseSetstripeArgs } from '@kubelustre/protocol/layout/setstripe-args.ts';
import { silentLogger } from '@kubelustre/protocol/log.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes, randomInt, seededRandom, seedFromEnv } from '../harness/random.ts';
import { canMount, startTestMount } from '../mount/mount-harness.ts';
import { ensureImage, ImageCluster, type ImageTarget, sleep } from './image-cluster.ts';

// The image the chart deploys, kubelustre:dev from the repository's Dockerfile (ensure-image.sh builds
// it, debootstrapping the base on the first run): one container per target, each in its own network
// namespace on a private bridge, a client on the host. Needs root and Docker (a daemon is started when
// none answers); nothing is pulled.

const OSTS = 2;
/** First build: debootstrap of the base (~1 min) and `npm ci` in the image (~0.5 min), on 2 busy cores. */
const IMAGE_TIMEOUT_MS = 15 * 60_000;
const SEEDED_FILES = 8;
/** Which target each crash kills, in order: an OST first, the MDT, the other OST. */
const CRASHES = [
  ['ost', 1],
  ['mdt', 0],
  ['ost', 0],
] as const;
const WORKLOAD_MS_MAX = 120_000;
/** How long a crash waits for the workload to be inside a write. */
const IN_FLIGHT_WAIT_MS = 10_000;
const FILE_BYTES_MAX = 1 << 20;
/** How long the targets' connections to each other may take to appear (the MDT polls OSTs every 3 s). */
const PEERS_WAIT_MS = 30_000;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** What the filesystem must hold: every write whose fsync came back. */
type Model = Map<string, Buffer>;

/** Set while a write or fsync is outstanding, so each crash lands mid-write. */
interface Writer {
  inFlight: boolean;
}

async function writeFsynced(
  client: KlClient,
  writer: Writer,
  path: string,
  data: Buffer,
  append: boolean,
): Promise<void> {
  const h = await client.paths.open(path, O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC), 0o644);
  writer.inFlight = true;
  try {
    await h.write(data);
    await h.fsync();
  } finally {
    writer.inFlight = false;
  }
  await h.close();
}

/** A new file over both OSTs (64 KiB stripes), or an append to one already acknowledged. */
async function workloadStep(client: KlClient, writer: Writer, model: Model, rand: () => number, n: number) {
  const names = [...model.keys()];
  if (names.length < 3 || rand() < 0.7) {
    const path = `/f${n}`;
    await client.lustre.setstripe(path, parseSetstripeArgs(['-c', String(OSTS), '-S', '64K']).layout!);
    const data = randomBytes(rand, 1 + randomInt(rand, FILE_BYTES_MAX));
    await writeFsynced(client, writer, path, data, false);
    model.set(path, data);
  } else {
    const path = names[randomInt(rand, names.length)]!;
    const more = randomBytes(rand, 1 + randomInt(rand, FILE_BYTES_MAX / 4));
    await writeFsynced(client, writer, path, more, true);
    model.set(path, Buffer.concat([model.get(path)!, more]));
  }
}

/** Each crash: wait until a write is outstanding, `docker kill` the target, a short pause, `docker start`. */
async function crashEach(cluster: ImageCluster, writer: Writer, rand: () => number, log: string[]) {
  for (const [role, index] of CRASHES) {
    const t: ImageTarget = cluster.target(role, index);
    await sleep(200 + randomInt(rand, 800));
    const deadline = Date.now() + IN_FLIGHT_WAIT_MS;
    while (!writer.inFlight) {
      if (Date.now() > deadline) throw new Error(`no write outstanding for ${IN_FLIGHT_WAIT_MS} ms`);
      await sleep(1);
    }
    await cluster.kill(t);
    log.push(`docker kill ${t.id}`);
    await sleep(randomInt(rand, 1000));
    const started = Date.now();
    await cluster.restart(t);
    log.push(`${t.id} ready again ${Date.now() - started} ms after docker start`);
  }
}

/**
 * That the targets reach each other over the bridge by alias, as each one's own network namespace sees
 * it: the MGS has connections from the MDT's and every OST's bridge address, each OST one from the MDT's
 * (the MDT's own client of the OST, not a host client coming through a published port, which Docker's
 * proxy would bring from the bridge's gateway).
 */
async function expectBridged(cluster: ImageCluster): Promise<void> {
  const mdt = cluster.target('mdt', 0);
  const osts = cluster.targets.filter((t) => t.role === 'ost');
  const from: Array<[ImageTarget, ImageTarget[]]> = [
    [cluster.target('mgs', 0), [mdt, ...osts]],
    ...osts.map((o): [ImageTarget, ImageTarget[]] => [o, [mdt]]),
  ];
  for (const [t, peers] of from) {
    const addresses = await Promise.all(peers.map((p) => cluster.bridgeAddress(p)));
    await expect
      .poll(() => cluster.rpcPeers(t), {
        timeout: PEERS_WAIT_MS,
        interval: 250,
        message: `${t.id}'s connections on 988 from ${peers.map((p) => p.id)} (${addresses})`,
      })
      .toEqual(expect.arrayContaining(addresses));
  }
}

describe('the kubelustre image', () => {
  let cluster: ImageCluster;
  const connect = () =>
    new KlClient({
      mgs: cluster.mgsAddress,
      fsName: cluster.fsName,
      key: Buffer.from(readFileSync(cluster.keyFile, 'utf8').trim(), 'hex'),
      log: silentLogger,
      requestTimeoutMs: 90_000,
    }).connect();

  beforeAll(async () => {
    const image = await ensureImage();
    cluster = new ImageCluster(image, { fsName: 'klimg', osts: OSTS });
    await cluster.up();
    await cluster.waitAllocatable();
  }, IMAGE_TIMEOUT_MS);

  afterAll(async () => {
    await cluster?.[Symbol.asyncDispose]();
  }, 120_000);

  it('serves every target to a client on the host through ports published on 127.0.0.1', async () => {
    const client = await connect();
    try {
      const rows = await client.lustre.df();
      const targets = rows.filter((r) => r.role !== 'summary').map((r) => r.uuid);
      expect(targets).toEqual(['klimg-MDT0000_UUID', 'klimg-OST0000_UUID', 'klimg-OST0001_UUID']);
      expect(rows.filter((r) => r.role === 'ost').every((r) => r.kib.total > 0)).toBe(true);
    } finally {
      await client.close();
    }
  });

  it('connects the targets to each other over the bridge by their aliases', async () => {
    await expectBridged(cluster);
  });

  it('keeps every fsynced byte when an OST and the MDT are killed (SIGKILL) mid-write and restarted', async () => {
    const seed = seedFromEnv();
    console.log(`image kill seed ${seed} (replay with KL_SEED=${seed})`);
    const rand = seededRandom(seed);
    const model: Model = new Map();
    const writer: Writer = { inFlight: false };
    const crashLog: string[] = [];
    const client = await connect();
    let ops = 0;
    try {
      for (; ops < SEEDED_FILES; ops++) await workloadStep(client, writer, model, rand, ops);
      let crashing = true;
      const crashes = crashEach(cluster, writer, seededRandom(seed ^ 0x5eed), crashLog).finally(() => {
        crashing = false;
      });
      const started = Date.now();
      // Writes go on through every crash, and a few more after the last restart.
      for (let after = 0; (crashing || after++ < 3) && Date.now() - started < WORKLOAD_MS_MAX; ops++)
        await workloadStep(client, writer, model, rand, ops);
      await crashes;
    } finally {
      await client.close();
    }
    console.log(`${ops} fsynced writes; ${crashLog.join(', ')}`);
    expect(crashLog.filter((l) => l.startsWith('docker kill'))).toHaveLength(CRASHES.length);

    const check = await connect();
    try {
      const names = (await check.paths.readdir('/')).filter((n) => n !== '.' && n !== '..');
      expect(names.map((n) => `/${n}`).sort(), `names after the crashes (seed ${seed})`).toEqual(
        [...model.keys()].sort(),
      );
      for (const [path, data] of model) {
        const read = await check.paths.readFile(path);
        expect(read.length, `${path} size (seed ${seed})`).toBe(data.length);
        expect(sha(read), `${path} content (seed ${seed})`).toBe(sha(data));
      }
    } finally {
      await check.close();
    }
    // The restarted targets' aliases follow them (their bridge addresses may have changed).
    await expectBridged(cluster);
  }, 300_000);

  it.skipIf(!canMount())(
    'mounts with FUSE on the host: reads and writes through the published ports',
    async () => {
      const mountpoint = join(cluster.dir, 'mnt');
      mkdirSync(mountpoint);
      // The mount harness wants a local cluster only for its spec and key file.
      const target = { spec: cluster.spec, state: { keyFile: cluster.keyFile } } as unknown as LocalCluster;
      await using mount = await startTestMount(target, mountpoint);
      const data = randomBytes(seededRandom(7), 3 * 65536 + 123);
      const fd = openSync(join(mount.mountpoint, 'through-fuse'), 'w');
      try {
        writeSync(fd, data);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      expect(sha(readFileSync(join(mount.mountpoint, 'through-fuse')))).toBe(sha(data));
      const client = await connect();
      try {
        expect(sha(await client.paths.readFile('/through-fuse'))).toBe(sha(data));
      } finally {
        await client.close();
      }
    },
  );
});
