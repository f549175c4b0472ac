import type { KlClient } from '@kubelustre/client/fs-client.ts';
import { O_CREAT, O_WRONLY } from '@kubelustre/client/mode.ts';
import { parseSetstripeArgs } from '@kubelustre/protocol/layout/setstripe-args.ts';
import { EOF_EXTENT, type Layout, MIB } from '@kubelustre/protocol/layout/types.ts';
import * as ost from '@kubelustre/protocol/messages/ost.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestCluster } from '../harness/cluster.ts';
import {
  connectClient,
  ostObjectSize,
  ostProbe,
  sha256,
  sleep,
  waitFor,
  waitForAllOstsActive,
} from '../harness/integration.ts';
import { randomBytes, seededRandom, seedFromEnv } from '../harness/random.ts';
import { startClusterWithSmallOst } from '../harness/small-ost.ts';

/**
 * Self-extending layouts against a genuinely full OST: OST 0 keeps its objects on a 40 MiB tmpfs. A file
 * `-E 64M -c 1 -i 0 -z 16M -E -1 -c 1` grows its first component on OST 0 16 MiB at a time while OST 0
 * has room; once it has less than 16 MiB free, the MDT must spill over (Lustre's SEL policy): drop the
 * extension space and let the next component, on an OST with space, take the write.
 */

const OSTS = 3;
const SMALL_OST = 0;
const TMPFS_MIB = 40;
const EXTENSION = 16 * MIB;
/** The MDT polls each OST's statfs this often (OstProxy's statfsIntervalMs), plus a margin. */
const MDT_STATFS_POLL_MS = 3000;
const MDT_STATFS_MARGIN_MS = 1000;
const SEL_LAYOUT = '-E 64M -c 1 -i 0 -z 16M -E -1 -c 1';

const seed = seedFromEnv();
const rand = seededRandom(seed);
let tc: TestCluster;
let client: KlClient;

beforeAll(async () => {
  console.log(`SEL seed ${seed} (replay with KL_SEED=${seed})`);
  tc = await startClusterWithSmallOst({
    osts: OSTS,
    fsName: 'klsel',
    smallOst: SMALL_OST,
    tmpfsMiB: TMPFS_MIB,
  });
  client = await connectClient(tc.cluster);
  await waitForAllOstsActive(client, OSTS);
}, 60_000);
afterAll(async () => {
  await client?.close();
  await tc?.[Symbol.asyncDispose]();
}, 60_000);

async function availOn(index: number): Promise<number> {
  using probe = ostProbe(tc.cluster, index);
  return (await probe.call(ost.statfs, {})).reply.availBytes;
}

const show = (l: Layout | undefined) =>
  JSON.stringify(l?.components.map((c) => [c.start, c.end, c.extension ? 'ext' : c.pattern, c.objects]));

describe('self-extending layout on a full OST', { timeout: 120_000 }, () => {
  it('extends on the small OST while it has room, then spills over to an OST with space', async () => {
    const path = '/sel';
    const what = (step: string, l?: Layout) => `SEL ${SEL_LAYOUT}, ${step} (seed ${seed}): ${show(l)}`;
    expect(await availOn(SMALL_OST), `OST ${SMALL_OST} is the ${TMPFS_MIB} MiB tmpfs`).toBeLessThanOrEqual(
      TMPFS_MIB * MIB,
    );
    await client.lustre.setstripe(path, parseSetstripeArgs(SEL_LAYOUT).layout!);
    let l = (await client.lustre.getLayout(path)).layout;
    expect(
      l?.components[0]?.objects?.map((o) => o.ostIdx),
      what('created', l),
    ).toEqual([SMALL_OST]);
    expect(l?.components[0]?.end, what('created: first component grown by one extension', l)).toBe(EXTENSION);

    const data = randomBytes(rand, 3 * EXTENSION);
    const h = await client.paths.open(path, O_WRONLY | O_CREAT);
    try {
      for (let i = 0; i < 2; i++) {
        await h.write(data.subarray(i * EXTENSION, (i + 1) * EXTENSION), i * EXTENSION);
        await h.fsync();
      }
      l = (await client.lustre.getLayout(path)).layout;
      expect(l?.components[0]?.end, what('32 MiB written: extended on the small OST', l)).toBe(2 * EXTENSION);
      expect(
        l?.components[0]?.objects?.map((o) => o.ostIdx),
        what('32 MiB written', l),
      ).toEqual([SMALL_OST]);
      expect(l?.components[1]?.extension, what('32 MiB written: extension space left', l)).toBe(true);

      // OST 0 now has less than one extension free; the MDT learns it from its next statfs poll.
      await waitFor(
        `OST ${SMALL_OST} to report less than ${EXTENSION} bytes free`,
        async () => {
          return (await availOn(SMALL_OST)) < EXTENSION;
        },
        10_000,
      );
      const avail = await availOn(SMALL_OST);
      expect(avail, `OST ${SMALL_OST} free after 32 MiB`).toBeLessThan(EXTENSION);
      await sleep(MDT_STATFS_POLL_MS + MDT_STATFS_MARGIN_MS);

      // 16 MiB more than OST 0 can hold: must land elsewhere.
      await h.write(data.subarray(2 * EXTENSION), 2 * EXTENSION);
      await h.fsync();
    } finally {
      await h.close();
    }

    l = (await client.lustre.getLayout(path)).layout;
    const after = what('48 MiB written', l);
    expect(
      l?.components.some((c) => c.extension),
      `${after}: no extension space left`,
    ).toBe(false);
    expect(l?.components.length, after).toBe(2);
    const [first, spill] = l!.components as [Layout['components'][0], Layout['components'][0]];
    expect([first.start, first.end], `${after}: the small OST's component stopped growing`).toEqual([
      0,
      2 * EXTENSION,
    ]);
    expect([spill.start, spill.end], `${after}: the next component took over the extension space`).toEqual([
      2 * EXTENSION,
      EOF_EXTENT,
    ]);
    expect(spill.objects?.length, after).toBe(1);
    expect(spill.objects![0]!.ostIdx, `${after}: spill-over OST`).not.toBe(SMALL_OST);

    // On the OSTs: 32 MiB on the small one (nothing more), the rest (at absolute offsets) on the other.
    const small = first.objects![0]!;
    const big = spill.objects![0]!;
    expect(
      await ostObjectSize(tc.cluster, small.ostIdx, small.objId),
      `${after}: object on OST ${small.ostIdx}`,
    ).toBe(2 * EXTENSION);
    expect(
      await ostObjectSize(tc.cluster, big.ostIdx, big.objId),
      `${after}: object on OST ${big.ostIdx}`,
    ).toBe(3 * EXTENSION);
    const back = await client.paths.readFile(path);
    expect(back.length, `${after}: size`).toBe(data.length);
    expect(sha256(back), `${after}: data`).toBe(sha256(data));
  });
});
