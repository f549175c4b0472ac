import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSetstripeArgs } from '@kubelustre/protocol/layout/setstripe-args.ts';
import * as ostOps from '@kubelustre/protocol/messages/ost.ts';
import { FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE } from '@kubelustre/protocol/messages/ost.ts';
import { fallocateFd } from '@kubelustre/target-server/ost/fallocate.ts';
import { seekDataOrHole } from '@kubelustre/target-server/ost/lseek.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FileHandle } from './file-handle.ts';
import type { KlClient } from './fs-client.ts';
import { O_CREAT, O_RDONLY, O_RDWR } from './mode.ts';
import { type ClientCluster, startClientCluster } from './testing/client-cluster.ts';

const KiB = 1024;
const MiB = 1024 * KiB;
const PUNCH = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;

let c: ClientCluster;
let client: KlClient;
let localDir: string;
let files = 0;

beforeAll(async () => {
  c = await startClientCluster(3);
  client = await c.client();
  localDir = await mkdtemp(join(tmpdir(), 'kl-seek-local-'));
}, 30_000);
afterAll(async () => {
  await c?.[Symbol.asyncDispose]();
  await rm(localDir, { recursive: true, force: true });
});

/** One kubelustre file with `layout` and one local file, to which every step is done alike. */
async function twinFiles(layout: string) {
  const path = `/twin${++files}`;
  await client.lustre.setstripe(path, parseSetstripeArgs(layout).layout!);
  const kl = await client.paths.open(path, O_RDWR);
  const local = await open(join(localDir, `twin${files}`), 'w+');
  return {
    kl,
    async write(offset: number, data: Buffer) {
      await kl.write(data, offset);
      await local.write(data, 0, data.length, offset);
    },
    async truncate(size: number) {
      await kl.truncate(size);
      await local.truncate(size);
    },
    async fallocate(mode: number, offset: number, length: number) {
      await kl.fallocate(mode, offset, length);
      fallocateFd(local.fd, mode, offset, length, 'local fallocate');
    },
    /** What Linux answers for the local file: an offset, or ENXIO. */
    localSeek(offset: number, whence: 'data' | 'hole'): number | string {
      try {
        return seekDataOrHole(local.fd, offset, whence, 'local lseek');
      } catch (e) {
        return (e as { code: string }).code;
      }
    },
    async close() {
      await kl.close();
      await local.close();
    },
  };
}

async function klSeek(h: FileHandle, offset: number, whence: 'data' | 'hole'): Promise<number | string> {
  return h.seek(offset, whence).catch((e: { code: string }) => e.code);
}

/**
 * The comparison rule: every write, truncate and punch is 64 KiB aligned, a multiple of ext4's 4 KiB
 * block (which the OSTs' and the local file's filesystem use alike), so both report holes at the same
 * places; probes are every 64 KiB boundary from `from`, plus an unaligned offset inside each. (DoM bytes
 * are all data to us, holes punched in them too: probes start past a DoM component that has holes.)
 */
async function expectSameAnswers(
  twin: Awaited<ReturnType<typeof twinFiles>>,
  size: number,
  from = 0,
): Promise<void> {
  for (let at = from; at <= size + 64 * KiB; at += 64 * KiB) {
    for (const offset of [at, at + 777]) {
      for (const whence of ['data', 'hole'] as const) {
        const expected = twin.localSeek(offset, whence);
        expect(await klSeek(twin.kl, offset, whence), `SEEK_${whence} from ${offset}`).toBe(expected);
      }
    }
  }
}

describe('SEEK_DATA / SEEK_HOLE', () => {
  it('answers as Linux does for the same sparse pattern over a PFL layout with an unused component', async () => {
    const twin = await twinFiles('-E 1M -c 1 -S 64K -E 4M -c 2 -S 64K -E -1 -c 3 -S 128K');
    for (const [offset, length] of [
      [0, 64 * KiB],
      [192 * KiB, 128 * KiB],
      [4 * MiB, 64 * KiB],
      [5 * MiB - 64 * KiB, 384 * KiB],
      [7 * MiB, 64 * KiB],
    ] as const) {
      await twin.write(offset, randomBytes(length));
    }
    await twin.kl.flush();
    await twin.truncate(8 * MiB); // a hole at the end
    await expectSameAnswers(twin, 8 * MiB);
    // A write not yet flushed is data already.
    await twin.write(6 * MiB, randomBytes(64 * KiB));
    expect(twin.localSeek(5.5 * MiB, 'data')).toBe(6 * MiB);
    expect(await klSeek(twin.kl, 5.5 * MiB, 'data')).toBe(6 * MiB);
    expect(await klSeek(twin.kl, 6 * MiB, 'hole')).toBe(6 * MiB + 64 * KiB);
    await twin.kl.flush();
    await expectSameAnswers(twin, 8 * MiB);
    await twin.close();
  });

  it('counts Data-on-MDT bytes as data and moves the handle position', async () => {
    const twin = await twinFiles('-E 64K -L mdt -E -1 -c 2 -S 64K');
    await twin.write(0, randomBytes(64 * KiB));
    await twin.write(512 * KiB, randomBytes(64 * KiB));
    await twin.kl.flush();
    await expectSameAnswers(twin, 576 * KiB);
    expect(await twin.kl.seek(100 * KiB, 'data')).toBe(512 * KiB);
    expect(twin.kl.position).toBe(512 * KiB);
    await twin.close();
  });
});

describe('fallocate', () => {
  it('reserves space, extending the size unless KEEP_SIZE', async () => {
    const path = `/falloc${++files}`;
    await client.lustre.setstripe(path, parseSetstripeArgs('-c 2 -S 1M').layout!);
    const h = await client.paths.open(path, O_RDWR);
    await h.fallocate(FALLOC_FL_KEEP_SIZE, 0, 2 * MiB);
    expect((await h.stat()).size).toBe(0);
    const { layout } = await client.inodes.getnode(h.fid);
    const blocks = await Promise.all(
      layout!.components[0]!.objects!.map(async (o) => {
        const ost = c.cluster.osts.find((x) => x.index === o.ostIdx)!;
        return (await c.cluster.client(ost.address).call(ostOps.getattr, { objId: o.objId })).reply;
      }),
    );
    for (const b of blocks) expect(b).toMatchObject({ size: 0, blocks: expect.any(Number) });
    expect(blocks.every((b) => b.blocks >= MiB / 512)).toBe(true);
    await h.fallocate(0, MiB, 2 * MiB);
    expect(h.size).toBe(3 * MiB);
    expect((await h.read(3 * MiB, 0)).equals(Buffer.alloc(3 * MiB))).toBe(true);
    await h.close();
    expect((await client.paths.stat(path)).size).toBe(3 * MiB);
  });

  it('punches holes that read as zeros and seek as holes, as on a local file, over DoM and OST objects', async () => {
    const twin = await twinFiles('-E 64K -L mdt -E -1 -c 3 -S 64K');
    const data = randomBytes(4 * MiB);
    await twin.write(0, data);
    await twin.fallocate(PUNCH, 4 * KiB, 8 * KiB); // inside the DoM component: zeroed
    await twin.fallocate(PUNCH, 256 * KiB, MiB + 64 * KiB); // across all three stripes
    await twin.fallocate(PUNCH, 4 * MiB - 64 * KiB, 256 * KiB); // past the end: the size stays
    const expected = Buffer.from(data);
    expected.fill(0, 4 * KiB, 12 * KiB);
    expected.fill(0, 256 * KiB, 256 * KiB + MiB + 64 * KiB);
    expected.fill(0, 4 * MiB - 64 * KiB);
    expect(twin.kl.size).toBe(4 * MiB);
    expect((await twin.kl.read(4 * MiB, 0)).equals(expected)).toBe(true);
    expect(await twin.kl.seek(0, 'hole')).toBe(256 * KiB); // the zeroed DoM bytes still count as data
    await expectSameAnswers(twin, 4 * MiB, 64 * KiB);
    await twin.close();
  });

  it('refuses what Linux refuses', async () => {
    const path = `/refused${++files}`;
    await client.paths.writeFile(path, randomBytes(1000));
    const rw = await client.paths.open(path, O_RDWR | O_CREAT);
    const code = (p: Promise<unknown>) =>
      p.then(
        () => 'ok',
        (e: { code: string }) => e.code,
      );
    expect(await code(rw.fallocate(FALLOC_FL_PUNCH_HOLE, 0, 10))).toBe('ENOTSUP');
    expect(await code(rw.fallocate(0x10, 0, 10))).toBe('ENOTSUP'); // FALLOC_FL_ZERO_RANGE
    expect(await code(rw.fallocate(0, 0, 0))).toBe('EINVAL');
    expect(await code(rw.fallocate(0, -1, 10))).toBe('EINVAL');
    await rw.close();
    const ro = await client.paths.open(path, O_RDONLY);
    expect(await code(ro.fallocate(0, 0, 10))).toBe('EBADF');
    await ro.close();
  });
});
