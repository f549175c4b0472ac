import { randomUUID } from 'node:crypto';
import type { KlClient } from '@kubelustre/client/fs-client.ts';
import { O_WRONLY } from '@kubelustre/client/mode.ts';
import { parseSetstripeArgs } from '@kubelustre/protocol/layout/setstripe-args.ts';
import { EOF_EXTENT, type Layout, MIB } from '@kubelustre/protocol/layout/types.ts';
import { silentLogger } from '@kubelustre/protocol/log.ts';
import * as mdt from '@kubelustre/protocol/messages/mdt.ts';
import * as ost from '@kubelustre/protocol/messages/ost.ts';
import { RpcClient } from '@kubelustre/protocol/wire/rpc-client.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCluster, type TestCluster } from '../harness/cluster.ts';
import {
  cliOk,
  codeOf,
  connectClient,
  layoutObjects,
  ostObjectData,
  ostObjectSize,
  ostProbe,
  raid0ObjectBytes,
  runCli,
  sha256,
  waitFor,
  waitForAllOstsActive,
} from '../harness/integration.ts';
import { randomBytes, seededRandom, seedFromEnv } from '../harness/random.ts';

/** PFL, DoM, overstriping, pools, inheritance and layout validation, against real target processes. */

const OSTS = 4;
const FS = 'kllay';
/** How long a connected client may take to hear of a new pool from the MGS. */
const CONFIG_WAIT_MS = 15_000;

const seed = seedFromEnv();
const rand = seededRandom(seed);
let tc: TestCluster;
let client: KlClient;
let reader: KlClient;
/** Connected before any pool exists: must learn pools by following the MGS configuration. */
let early: KlClient;

beforeAll(async () => {
  console.log(`layouts seed ${seed} (replay with KL_SEED=${seed})`);
  tc = await startTestCluster({ osts: OSTS, fsName: FS });
  [client, reader, early] = await Promise.all([
    connectClient(tc.cluster),
    connectClient(tc.cluster),
    connectClient(tc.cluster),
  ]);
  await waitForAllOstsActive(client, OSTS);
}, 60_000);
afterAll(async () => {
  await Promise.all([client, reader, early].map((c) => c?.close()));
  await tc?.[Symbol.asyncDispose]();
}, 60_000);

const lfs = (...args: string[]) => cliOk(['lfs', ...args, '--dir', tc.dir]);
const lctl = (...args: string[]) => cliOk(['lctl', ...args, '--dir', tc.dir]);
const template = (args: string) => parseSetstripeArgs(args).layout!;

async function writeAt(path: string, offset: number, data: Buffer): Promise<void> {
  const h = await client.paths.open(path, O_WRONLY);
  await h.write(data, offset);
  await h.close();
}

async function layoutOf(path: string): Promise<Layout> {
  const info = await reader.lustre.getLayout(path);
  expect(info.layout, `${path} has a layout`).toBeDefined();
  return info.layout!;
}

const initialized = (l: Layout) => l.components.map((c) => c.objects !== undefined);
const osts = (l: Layout) => layoutObjects(l).map((o) => o.ostIdx);
const show = (l: Layout) => JSON.stringify(l.components.map((c) => [c.start, c.end, c.pattern, c.objects]));

/** Every object on every OST: for checking that a file created none. */
async function allObjects(): Promise<string[]> {
  const lists = await Promise.all(
    Array.from({ length: OSTS }, async (_, i) => {
      using probe = ostProbe(tc.cluster, i);
      const { reply } = await probe.call(ost.listObjects, { after: 0, countMax: 10_000 });
      return reply.objIds.map((id) => `${i}:${id}`);
    }),
  );
  return lists.flat().sort();
}

describe('composite layouts', { timeout: 60_000 }, () => {
  it('PFL: instantiates only the components writes reach', async () => {
    const path = '/pfl';
    const what = (step: string, l: Layout) => `PFL ${path} after ${step} (seed ${seed}): ${show(l)}`;
    await client.lustre.setstripe(path, template('-E 1M -c 1 -E 16M -c 2 -E -1 -c 4'));
    let l = await layoutOf(path);
    expect(
      l.components.map((c) => [c.start, c.end]),
      what('create', l),
    ).toEqual([
      [0, MIB],
      [MIB, 16 * MIB],
      [16 * MIB, EOF_EXTENT],
    ]);
    const a = randomBytes(rand, 4096);
    const b = randomBytes(rand, 100_000);
    const c = randomBytes(rand, 70_000);

    await writeAt(path, 0, a);
    l = await layoutOf(path);
    expect(initialized(l), what('a write at 0', l)).toEqual([true, false, false]);
    expect(l.components[0]!.objects!.length, what('a write at 0', l)).toBe(1);

    await writeAt(path, 2 * MIB, b);
    l = await layoutOf(path);
    expect(initialized(l), what('a write at 2M', l)).toEqual([true, true, false]);
    const second = l.components[1]!.objects!;
    expect(new Set(second.map((o) => o.ostIdx)).size, what('a write at 2M: 2 distinct OSTs', l)).toBe(2);
    // 2M in [1M, 16M) with 2 stripes of 1M: stripe 0 at object offset 1M (absolute offsets, as Lustre).
    expect(
      await ostObjectSize(tc.cluster, second[0]!.ostIdx, second[0]!.objId),
      what('2M: object size', l),
    ).toBe(MIB + b.length);

    const genBefore = l.generation;
    await writeAt(path, 20 * MIB, c);
    l = await layoutOf(path);
    expect(initialized(l), what('a write at 20M', l)).toEqual([true, true, true]);
    expect(l.components[2]!.objects!.length, what('a write at 20M', l)).toBe(4);
    expect(l.generation, what('a write at 20M: generation bumped', l)).toBeGreaterThan(genBefore);
    const third = l.components[2]!.objects!;
    // 20M in [16M, EOF) with 4 stripes of 1M: stripe 0 at object offset 5M.
    expect(
      await ostObjectSize(tc.cluster, third[0]!.ostIdx, third[0]!.objId),
      what('20M: object size', l),
    ).toBe(5 * MIB + c.length);

    const back = await reader.paths.readFile(path);
    const expected = Buffer.alloc(20 * MIB + c.length);
    a.copy(expected, 0);
    b.copy(expected, 2 * MIB);
    c.copy(expected, 20 * MIB);
    expect(back.length, `PFL size (seed ${seed})`).toBe(expected.length);
    expect(sha256(back), `PFL data with holes (seed ${seed})`).toBe(sha256(expected));
  });

  it('DoM: a 3,901-byte file stays on the MDT, no OST object written, and reads back', async () => {
    const path = '/dom';
    const before = await allObjects();
    const data = randomBytes(rand, 3901);
    await client.lustre.setstripe(path, template('-E 64K -L mdt -E -1 -c 2'));
    await writeAt(path, 0, data);
    const l = await layoutOf(path);
    const what = `DoM ${path} (seed ${seed}): ${show(l)}`;
    expect(
      l.components.map((c) => c.pattern),
      what,
    ).toEqual(['mdt', 'raid0']);
    expect(l.components[1]!.objects, `${what}: 2nd component not instantiated`).toBeUndefined();
    expect(layoutObjects(l), what).toEqual([]);
    expect(await allObjects(), `${what}: objects on the OSTs before and after`).toEqual(before);
    expect((await reader.paths.stat(path)).size, what).toBe(3901);
    expect(sha256(await reader.paths.readFile(path)), `${what}: data`).toBe(sha256(data));
    const gs = await lfs('getstripe', path);
    expect(gs.stdout, `${gs.command}:\n${gs.stdout}`).toMatch(/lmm_pattern: +mdt/);

    // Past 64 KiB the OST component is instantiated, and the data spans both.
    const big = randomBytes(rand, 200_000);
    await client.lustre.setstripe('/dom-big', template('-E 64K -L mdt -E -1 -c 2'));
    await writeAt('/dom-big', 0, big);
    const lb = await layoutOf('/dom-big');
    expect(lb.components[1]!.objects?.length, `DoM /dom-big (seed ${seed}): ${show(lb)}`).toBe(2);
    expect(sha256(await reader.paths.readFile('/dom-big')), `DoM /dom-big data (seed ${seed})`).toBe(
      sha256(big),
    );
  });

  it('overstriping: -C 8 on 4 OSTs puts 2 stripes on each, data striped over all 8', async () => {
    const path = '/over';
    await client.lustre.setstripe(path, template('-C 8 -S 64K'));
    const data = randomBytes(rand, 8 * 64 * 1024 * 2 + 333);
    await writeAt(path, 0, data);
    const l = await layoutOf(path);
    const what = `overstriped ${path} (seed ${seed}): ${show(l)}`;
    const objects = l.components[0]!.objects!;
    expect(objects.length, what).toBe(8);
    const perOst = new Map<number, number>();
    for (const o of objects) perOst.set(o.ostIdx, (perOst.get(o.ostIdx) ?? 0) + 1);
    expect([...perOst.entries()].sort(), `${what}: stripes per OST`).toEqual([
      [0, 2],
      [1, 2],
      [2, 2],
      [3, 2],
    ]);
    expect(new Set(objects.map((o) => `${o.ostIdx}:${o.objId}`)).size, `${what}: distinct objects`).toBe(8);
    expect(sha256(await reader.paths.readFile(path)), `${what}: data`).toBe(sha256(data));
    for (const [stripe, o] of objects.entries()) {
      const expected = raid0ObjectBytes(data, 64 * 1024, 8, stripe);
      const onOst = await ostObjectData(tc.cluster, o.ostIdx, o.objId, expected.length + 1);
      expect(sha256(onOst), `${what}: stripe ${stripe}, object ${o.objId} on OST ${o.ostIdx}`).toBe(
        sha256(expected),
      );
    }
  });
});

describe('pools', { timeout: 60_000 }, () => {
  it('places files of pool fast on its OSTs, for the CLI and for a client connected before the pool', async () => {
    expect(early.lustre.poolList(), 'no pools yet').toEqual([]);
    await lctl('pool_new', `${FS}.fast`);
    await lctl('pool_add', `${FS}.fast`, 'OST[0-1]');
    const listed = await lctl('pool_list', `${FS}.fast`);
    expect(listed.stdout).toContain(`${FS}-OST0000_UUID`);
    expect(listed.stdout).toContain(`${FS}-OST0001_UUID`);

    for (const name of ['p1', 'p2', 'p3']) {
      await lfs('setstripe', '-p', 'fast', '-c', '2', `/${name}`);
      await writeAt(`/${name}`, 0, randomBytes(rand, 300_000));
      const l = await layoutOf(`/${name}`);
      expect(osts(l).sort(), `/${name} in pool fast (seed ${seed}): ${show(l)}`).toEqual([0, 1]);
      expect(l.components[0]!.pool, `/${name}: pool recorded in the layout`).toBe('fast');
    }

    await waitFor(
      'the client connected before the pool existed to learn pool fast = OST 0, 1',
      () => JSON.stringify(early.lustre.poolList()) === JSON.stringify([{ name: 'fast', osts: [0, 1] }]),
      CONFIG_WAIT_MS,
    );
    for (const name of ['e1', 'e2', 'e3']) {
      await early.lustre.setstripe(`/${name}`, template('-p fast -c 2'));
      const data = randomBytes(rand, 200_000);
      await early.paths.writeFile(`/${name}`, data);
      const l = await layoutOf(`/${name}`);
      expect(osts(l).sort(), `/${name} by the early client (seed ${seed}): ${show(l)}`).toEqual([0, 1]);
      expect(sha256(await reader.paths.readFile(`/${name}`)), `/${name} data (seed ${seed})`).toBe(
        sha256(data),
      );
    }
  });
});

describe('default layouts', { timeout: 60_000 }, () => {
  it('inherits a directory default into files and subdirectories; -d removes it; the fs default elsewhere', async () => {
    const stripesOf = async (path: string) => {
      await client.paths.writeFile(path, randomBytes(rand, 512 * 1024));
      const l = await layoutOf(path);
      return { count: l.components.map((c) => c.objects?.length), osts: osts(l), layout: show(l) };
    };
    await client.paths.mkdir('/d');
    await lfs('setstripe', '-c', '3', '/d');
    const gs = await lfs('getstripe', '-d', '/d');
    expect(gs.stdout, `${gs.command}:\n${gs.stdout}`).toMatch(/stripe_count: +3/);
    await client.paths.mkdir('/d/sub');

    const f = await stripesOf('/d/f');
    expect(f.count, `/d/f: ${f.layout}`).toEqual([3]);
    expect(new Set(f.osts).size, `/d/f on distinct OSTs: ${f.layout}`).toBe(3);
    expect((await stripesOf('/d/sub/f')).count, '/d/sub/f').toEqual([3]);
    expect((await stripesOf('/plain')).count, '/plain: the filesystem default').toEqual([1]);

    await lfs('setstripe', '-d', '/d');
    expect((await client.lustre.getLayout('/d')).layout, '/d default after -d').toBeUndefined();
    expect((await stripesOf('/d/g')).count, '/d/g after -d').toEqual([1]);
    // A subdirectory got a copy of the default when it was made (lfs-setstripe(1)); it keeps it.
    expect((await stripesOf('/d/sub/g')).count, '/d/sub/g after -d on /d').toEqual([3]);
    expect((await stripesOf('/d/f')).count, '/d/f keeps its layout').toEqual([3]);

    // The filesystem default (the root's) applies wherever no directory default does.
    await lfs('setstripe', '-c', '2', '/');
    try {
      expect((await stripesOf('/plain2')).count, '/plain2 with root default -c 2').toEqual([2]);
      expect((await stripesOf('/d/h')).count, '/d/h with root default -c 2').toEqual([2]);
      expect((await stripesOf('/d/sub/h')).count, '/d/sub/h keeps its own default').toEqual([3]);
    } finally {
      await lfs('setstripe', '-d', '/');
    }
    expect((await stripesOf('/plain3')).count, '/plain3 after removing the root default').toEqual([1]);
  });
});

describe('invalid layouts', { timeout: 60_000 }, () => {
  it.each([
    [['-S', '100000'], /not a multiple/],
    [['-E', '1M', '-c', '1', '-E', '2M', '-L', 'mdt', '-E', '-1'], /mdt.*first/],
    [['-p', 'nosuch', '-c', '1'], /pool 'nosuch' does not exist/],
    [['-i', '7'], /stripe offset 7/],
  ])('lfs setstripe %j fails with the reason and creates nothing', async (args, reason) => {
    const path = `/bad-${randomUUID()}`;
    const r = await runCli(['lfs', 'setstripe', ...args, path, '--dir', tc.dir]);
    const where = `${r.command} → exit ${r.code}, stderr: ${r.stderr}`;
    expect(r.code, where).toBe(1);
    expect(r.stderr, where).toMatch(reason);
    expect(await codeOf(client.paths.stat(path)), `${path} must not exist: ${where}`).toBe('ENOENT');
  });

  it('the MDT itself refuses a DoM component that is not first and a bad stripe size', async () => {
    const raw = new RpcClient({
      address: tc.cluster.target('mdt', 0).listen,
      key: tc.cluster.key,
      clientUuid: randomUUID(),
      log: silentLogger,
      requestTimeoutMs: 30_000,
    });
    try {
      const root = (await client.paths.stat('/')).fid;
      const raid0 = { id: 0, pattern: 'raid0' as const, stripeSize: MIB, stripeCount: 1, stripeOffset: -1 };
      const domSecond: Layout = {
        composite: true,
        generation: 0,
        components: [
          { ...raid0, start: 0, end: MIB },
          {
            id: 0,
            start: MIB,
            end: 2 * MIB,
            pattern: 'mdt',
            stripeSize: MIB,
            stripeCount: 0,
            stripeOffset: -1,
          },
          { ...raid0, start: 2 * MIB, end: EOF_EXTENT },
        ],
      };
      const badSize: Layout = {
        composite: false,
        generation: 0,
        components: [{ ...raid0, start: 0, end: EOF_EXTENT, stripeSize: 100_000 }],
      };
      for (const [name, layout] of [
        ['dom-second', domSecond],
        ['bad-size', badSize],
      ] as const) {
        const req = { parent: root, name, mode: 0o100644, uid: 0, gid: 0, exclusive: true, layout };
        expect(await codeOf(raw.call(mdt.create, req)), `mdt.create with layout ${name}`).toBe('EINVAL');
        expect(await codeOf(client.paths.stat(`/${name}`)), `/${name} not created`).toBe('ENOENT');
      }
    } finally {
      raw.close();
    }
  });
});
