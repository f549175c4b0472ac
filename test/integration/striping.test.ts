import type { KlClient } from '@kubelustre/client/fs-client.ts';
import { O_CREAT, O_RDONLY, O_WRONLY } from '@kubelustre/client/mode.ts';
import { fileSizeFromObjects, objectSizeForFileSize } from '@kubelustre/protocol/layout/math.ts';
import { parseSetstripeArgs } from '@kubelustre/protocol/layout/setstripe-args.ts';
import { GIB, type LayoutComponent } from '@kubelustre/protocol/layout/types.ts';
import * as ost from '@kubelustre/protocol/messages/ost.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCluster, type TestCluster } from '../harness/cluster.ts';
import {
  cliOk,
  connectClient,
  ostObjectData,
  ostObjectSize,
  ostProbe,
  parseObdidxTables,
  raid0ObjectBytes,
  sha256,
  waitForAllOstsActive,
} from '../harness/integration.ts';
import { randomBytes, seededRandom, seedFromEnv } from '../harness/random.ts';

/** RAID0 striping over real OST processes: data, object placement and sizes, lfs getstripe. */

const OSTS = 4;
const STRIPE = 64 * 1024;
const COUNT = 4;
const WIDTH = STRIPE * COUNT;
const SIZES = [0, 1, STRIPE - 1, STRIPE, STRIPE + 1, WIDTH - 1, WIDTH, WIDTH + 1, 3 * WIDTH + STRIPE + 17];

const seed = seedFromEnv();
const rand = seededRandom(seed);
let tc: TestCluster;
let writer: KlClient;
let reader: KlClient;

beforeAll(async () => {
  console.log(`striping seed ${seed} (replay with KL_SEED=${seed})`);
  tc = await startTestCluster({ osts: OSTS, fsName: 'klstripe' });
  [writer, reader] = await Promise.all([connectClient(tc.cluster), connectClient(tc.cluster)]);
  await waitForAllOstsActive(writer, OSTS);
}, 60_000);
afterAll(async () => {
  await writer?.close();
  await reader?.close();
  await tc?.[Symbol.asyncDispose]();
}, 60_000);

const expectedObjectBytes = (data: Buffer, stripe: number) => raid0ObjectBytes(data, STRIPE, COUNT, stripe);

async function writeStriped(path: string, data: Buffer): Promise<void> {
  await writer.lustre.setstripe(path, parseSetstripeArgs(['-c', String(COUNT), '-S', '64K']).layout!);
  const h = await writer.paths.open(path, O_WRONLY);
  // Two writes, so the client's merging and splitting is exercised as well as one big RPC per object.
  const cut = Math.floor(data.length / 3);
  await h.write(data.subarray(0, cut), 0);
  await h.write(data.subarray(cut), cut);
  await h.close();
}

function onlyComponent(layout: { components: LayoutComponent[] } | undefined, what: string): LayoutComponent {
  expect(layout?.components.length, `${what}: one component`).toBe(1);
  return layout!.components[0]!;
}

describe('striped files on 4 OSTs with 64 KiB stripes', { timeout: 120_000 }, () => {
  it.each(SIZES)('writes and reads back %i bytes, objects on the OSTs the layout names', async (size) => {
    const what = `${size}-byte file (seed ${seed})`;
    const path = `/s${size}`;
    const data = randomBytes(rand, size);
    await writeStriped(path, data);

    const st = await reader.paths.stat(path);
    expect(st.size, `${what}: size`).toBe(size);
    const back = await reader.paths.readFile(path);
    expect(back.length, `${what}: bytes read`).toBe(size);
    expect(sha256(back), `${what}: sha256`).toBe(sha256(data));

    const c = onlyComponent((await reader.paths.getnode(path)).layout, what);
    const objects = c.objects ?? [];
    expect(objects.length, `${what}: stripes`).toBe(COUNT);
    expect(new Set(objects.map((o) => o.ostIdx)).size, `${what}: distinct OSTs`).toBe(COUNT);
    for (const [stripe, o] of objects.entries()) {
      const expected = objectSizeForFileSize(c, stripe, size);
      const onOst = await ostObjectSize(tc.cluster, o.ostIdx, o.objId);
      expect(onOst, `${what}: size of stripe ${stripe}, object ${o.objId} on OST ${o.ostIdx}`).toBe(expected);
      const bytes = await ostObjectData(tc.cluster, o.ostIdx, o.objId, expected);
      expect(sha256(bytes), `${what}: content of stripe ${stripe} on OST ${o.ostIdx}`).toBe(
        sha256(expectedObjectBytes(data, stripe)),
      );
    }
  });

  it('truncates a striped file inside a stripe: objects punched to their share, data kept', async () => {
    const path = '/trunc';
    const data = randomBytes(rand, 3 * WIDTH + STRIPE + 17);
    await writeStriped(path, data);
    const newSize = WIDTH + STRIPE + 5;
    await writer.paths.truncate(path, newSize);
    const what = `truncate ${data.length} → ${newSize} (seed ${seed})`;
    expect((await reader.paths.stat(path)).size, `${what}: size`).toBe(newSize);
    expect(sha256(await reader.paths.readFile(path)), `${what}: data`).toBe(
      sha256(data.subarray(0, newSize)),
    );
    const c = onlyComponent((await reader.paths.getnode(path)).layout, what);
    for (const [stripe, o] of c.objects!.entries()) {
      expect(
        await ostObjectSize(tc.cluster, o.ostIdx, o.objId),
        `${what}: stripe ${stripe} on OST ${o.ostIdx}`,
      ).toBe(objectSizeForFileSize(c, stripe, newSize));
    }
    // Extending again reads zeros where the cut data was.
    await writer.paths.truncate(path, data.length);
    const back = await reader.paths.readFile(path);
    const expected = Buffer.concat([data.subarray(0, newSize), Buffer.alloc(data.length - newSize)]);
    expect(sha256(back), `${what}, then extended to ${data.length}: zeros past ${newSize}`).toBe(
      sha256(expected),
    );
  });

  it('keeps a 1 GiB sparse file: one byte at 1 GiB - 1, zeros before it, the right size', async () => {
    const what = `sparse file, byte at ${GIB - 1} (seed ${seed})`;
    const path = '/sparse';
    const byte = Buffer.from([1 + Math.floor(rand() * 255)]);
    await writer.lustre.setstripe(path, parseSetstripeArgs(['-c', String(COUNT), '-S', '64K']).layout!);
    const h = await writer.paths.open(path, O_WRONLY | O_CREAT);
    await h.write(byte, GIB - 1);
    await h.close();

    expect((await reader.paths.stat(path)).size, `${what}: size`).toBe(GIB);
    await using r = await reader.paths.open(path, O_RDONLY);
    const tail = await r.read(WIDTH + 1, GIB - WIDTH - 1);
    expect(tail.length, `${what}: bytes read before and at the byte`).toBe(WIDTH + 1);
    expect(
      tail.subarray(0, WIDTH).every((b) => b === 0),
      `${what}: zeros before the byte`,
    ).toBe(true);
    expect(tail[WIDTH], `${what}: the byte`).toBe(byte[0]);
    expect(
      (await r.read(4096, 0)).every((b) => b === 0),
      `${what}: zeros at the start`,
    ).toBe(true);
    expect(
      (await r.read(4096, GIB / 2 - 100)).every((b) => b === 0),
      `${what}: zeros in the middle`,
    ).toBe(true);
    expect((await r.read(10, GIB)).length, `${what}: nothing past the end`).toBe(0);

    const c = onlyComponent((await reader.paths.getnode(path)).layout, what);
    const sizes: number[] = [];
    let allocatedBytes = 0;
    for (const o of c.objects!) {
      using probe = ostProbe(tc.cluster, o.ostIdx);
      const { reply } = await probe.call(ost.getattr, { objId: o.objId });
      sizes.push(reply.size);
      allocatedBytes += reply.blocks * 512;
    }
    expect(
      fileSizeFromObjects(c, sizes),
      `${what}: size the OST objects ${JSON.stringify(sizes)} imply`,
    ).toBe(GIB);
    expect(allocatedBytes, `${what}: the objects are sparse (bytes allocated on the OSTs)`).toBeLessThan(
      16 << 20,
    );
  });

  it('lfs getstripe (the CLI process) shows 4 distinct OSTs and the objects the OSTs hold', async () => {
    const path = '/getstripe';
    const data = randomBytes(rand, 5 * WIDTH + 123);
    await writeStriped(path, data);
    const r = await cliOk(['lfs', 'getstripe', path, '--dir', tc.dir]);
    const where = `${r.command} (seed ${seed}) printed:\n${r.stdout}`;
    expect(r.stdout, where).toMatch(/^lmm_stripe_count: +4$/m);
    expect(r.stdout, where).toMatch(/^lmm_stripe_size: +65536$/m);
    expect(r.stdout, where).toMatch(/^lmm_pattern: +raid0$/m);
    const rows = parseObdidxTables(r.stdout);
    expect(rows.length, where).toBe(4);
    expect(new Set(rows.map((x) => x.obdidx)).size, `distinct OSTs in ${where}`).toBe(4);
    expect(
      rows.every((x) => x.obdidx < OSTS),
      where,
    ).toBe(true);
    const offset = /^lmm_stripe_offset: +(\d+)$/m.exec(r.stdout);
    expect(Number(offset?.[1]), `lmm_stripe_offset is the first obdidx in ${where}`).toBe(rows[0]!.obdidx);
    // Each row names an object that is really on that OST, holding its stripe of the data.
    for (const [stripe, row] of rows.entries()) {
      const bytes = await ostObjectData(tc.cluster, row.obdidx, row.objid, data.length);
      expect(sha256(bytes), `stripe ${stripe}: object ${row.objid} on OST ${row.obdidx}; ${where}`).toBe(
        sha256(expectedObjectBytes(data, stripe)),
      );
    }
  });
});
