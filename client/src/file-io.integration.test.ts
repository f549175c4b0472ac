import { createHash, randomBytes } from 'node:crypto';
import { isKlError } from '@kubelustre/protocol/errors.ts';
import { parseSetstripeArgs } from '@kubelustre/protocol/layout/setstripe-args.ts';
import type { Layout } from '@kubelustre/protocol/layout/types.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KlClient } from './fs-client.ts';
import { O_APPEND, O_CREAT, O_RDONLY, O_RDWR, O_WRONLY } from './mode.ts';
import { type ClientCluster, startClientCluster } from './testing/client-cluster.ts';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const template = (args: string): Layout => parseSetstripeArgs(args).layout!;

let c: ClientCluster;
let client: KlClient;
let fileNo = 0;

beforeAll(async () => {
  c = await startClientCluster(4);
  client = await c.client();
}, 30_000);
afterAll(async () => {
  await c?.[Symbol.asyncDispose]();
});

/** A new empty file with `layout`; answers its path. */
async function fileWith(args: string): Promise<string> {
  const path = `/f${++fileNo}`;
  await client.lustre.setstripe(path, template(args));
  return path;
}

describe('striped I/O', () => {
  const stripe = 64 * KiB;
  const sizes = [
    0,
    1,
    stripe - 1,
    stripe,
    stripe + 1,
    4 * stripe - 1,
    4 * stripe,
    4 * stripe + 1,
    3 * MiB + 17,
  ];

  it.each(sizes)('writes and reads back %i bytes over 4 stripes of 64 KiB', async (size) => {
    const path = await fileWith('-c 4 -S 64K');
    const data = randomBytes(size);
    await client.paths.writeFile(path, data);
    expect((await client.paths.stat(path)).size).toBe(size);
    expect(sha(await client.paths.readFile(path))).toBe(sha(data));
  });

  it('keeps random-offset writes of a 4-stripe file equal to a reference buffer', async () => {
    const path = await fileWith('-c 4 -S 128K');
    const reference = Buffer.alloc(12 * MiB);
    const h = await client.paths.open(path, O_RDWR);
    for (let i = 0; i < 64; i++) {
      const offset = Math.floor(Math.random() * (reference.length - 300 * KiB));
      const data = randomBytes(1 + Math.floor(Math.random() * 300 * KiB));
      data.copy(reference, offset);
      await h.write(data, offset);
    }
    await h.write(Buffer.from([7]), reference.length - 1);
    reference[reference.length - 1] = 7;
    expect(sha(await h.read(reference.length, 0))).toBe(sha(reference));
    await h.close();
    expect(sha(await client.paths.readFile(path))).toBe(sha(reference));
  });

  it('writes distinct ranges through one handle in parallel', async () => {
    const path = await fileWith('-c 4 -S 64K');
    const pieces = Array.from({ length: 32 }, () => randomBytes(100 * KiB + 3));
    const h = await client.paths.open(path, O_WRONLY);
    await Promise.all(pieces.map((p, i) => h.write(p, i * p.length)));
    await h.close();
    expect(sha(await client.paths.readFile(path))).toBe(sha(Buffer.concat(pieces)));
  });

  it('reads a 1 GiB sparse file as zeros and the one byte written at its end', async () => {
    const path = await fileWith('-c 2 -S 1M');
    const h = await client.paths.open(path, O_WRONLY);
    await h.write(Buffer.from([0xab]), GiB - 1);
    await h.close();
    expect((await client.paths.stat(path)).size).toBe(GiB);
    const r = await client.paths.open(path, O_RDONLY);
    expect((await r.read(MiB, 0)).equals(Buffer.alloc(MiB))).toBe(true);
    expect((await r.read(MiB, GiB / 2)).equals(Buffer.alloc(MiB))).toBe(true);
    const tail = await r.read(2 * MiB, GiB - MiB);
    expect(tail.length).toBe(MiB);
    expect(tail[MiB - 1]).toBe(0xab);
    expect(tail.subarray(0, MiB - 1).equals(Buffer.alloc(MiB - 1))).toBe(true);
    expect((await r.read(10, GiB)).length).toBe(0);
    await r.close();
  });

  it('puts overstriped stripes several to an OST and reads them back', async () => {
    const path = await fileWith('-C 8 -S 64K');
    const data = randomBytes(2 * MiB + 5);
    await client.paths.writeFile(path, data);
    const objects = (await client.lustre.getLayout(path)).layout!.components[0]!.objects!;
    expect(objects).toHaveLength(8);
    expect(new Set(objects.map((o) => o.ostIdx)).size).toBe(4);
    expect(sha(await client.paths.readFile(path))).toBe(sha(data));
  });

  it('reads a large file sequentially (through readahead) byte for byte', async () => {
    const path = await fileWith('-c 4 -S 1M');
    const data = randomBytes(40 * MiB);
    await client.paths.writeFile(path, data);
    const h = await client.paths.open(path, O_RDONLY);
    const parts: Buffer[] = [];
    for (;;) {
      const part = await h.read(256 * KiB);
      if (part.length === 0) break;
      parts.push(part);
    }
    await h.close();
    expect(sha(Buffer.concat(parts))).toBe(sha(data));
  });
});

describe('composite layouts', () => {
  it('instantiates only the PFL components writes touch, and reads holes as zeros', async () => {
    const path = await fileWith('-E 1M -c 1 -E 16M -c 2 -E -1 -c 4');
    const h = await client.paths.open(path, O_RDWR);
    await h.write(Buffer.from('head'), 0);
    let layout = (await client.lustre.getLayout(path)).layout!;
    expect(layout.components.map((x) => x.objects?.length)).toEqual([1, undefined, undefined]);
    await h.write(Buffer.from('tail'), 20 * MiB);
    await h.close();
    layout = (await client.lustre.getLayout(path)).layout!;
    expect(layout.components.map((x) => x.objects?.length)).toEqual([1, undefined, 4]);
    const r = await client.paths.open(path, O_RDONLY);
    expect((await r.read(4, 0)).toString()).toBe('head');
    expect((await r.read(MiB, 4 * MiB)).equals(Buffer.alloc(MiB))).toBe(true);
    expect((await r.read(10, 20 * MiB)).toString()).toBe('tail');
    await r.close();
  });

  it('keeps small files on the MDT with Data-on-MDT, and spills past the DoM component', async () => {
    const path = await fileWith('-E 64K -L mdt -E -1 -c 2 -S 64K');
    await client.paths.writeFile(path, Buffer.from('small file'));
    let layout = (await client.lustre.getLayout(path)).layout!;
    expect(layout.components[0]!.pattern).toBe('mdt');
    expect(layout.components[1]!.objects).toBeUndefined();
    expect((await client.paths.readFile(path)).toString()).toBe('small file');
    const big = randomBytes(300 * KiB);
    await client.paths.writeFile(path, big);
    layout = (await client.lustre.getLayout(path)).layout!;
    expect(layout.components[1]!.objects).toHaveLength(2);
    expect(sha(await client.paths.readFile(path))).toBe(sha(big));
  });
});

describe('truncate and append', () => {
  it('shrinks by punching objects, so extending again shows zeros, not old data', async () => {
    const path = await fileWith('-c 4 -S 64K');
    const data = randomBytes(MiB);
    await client.paths.writeFile(path, data);
    await client.paths.truncate(path, 100_000);
    expect((await client.paths.stat(path)).size).toBe(100_000);
    await client.paths.truncate(path, 300_000);
    const back = await client.paths.readFile(path);
    expect(back.length).toBe(300_000);
    expect(back.subarray(0, 100_000).equals(data.subarray(0, 100_000))).toBe(true);
    expect(back.subarray(100_000).equals(Buffer.alloc(200_000))).toBe(true);
  });

  it('truncates through a handle with unflushed writes', async () => {
    const path = await fileWith('-c 2 -S 64K');
    const h = await client.paths.open(path, O_RDWR);
    await h.write(Buffer.alloc(200 * KiB, 1), 0);
    await h.truncate(10);
    expect(h.size).toBe(10);
    await h.write(Buffer.from('x'), 20);
    expect(
      (await h.read(100, 0)).equals(Buffer.concat([Buffer.alloc(10, 1), Buffer.alloc(10), Buffer.from('x')])),
    ).toBe(true);
    await h.close();
    expect((await client.paths.stat(path)).size).toBe(21);
  });

  it('appends at the end with O_APPEND whatever position is given', async () => {
    const path = await fileWith('-c 1');
    await client.paths.writeFile(path, Buffer.from('start-'));
    const h = await client.paths.open(path, O_WRONLY | O_APPEND);
    await h.write(Buffer.from('one-'), 0);
    await h.write(Buffer.from('two'));
    await h.close();
    expect((await client.paths.readFile(path)).toString()).toBe('start-one-two');
  });
});

describe('several clients', () => {
  it('sees writes of another client after it closed (close-to-open)', async () => {
    const other = await c.client();
    const path = await fileWith('-c 2 -S 64K');
    const reader = await client.paths.open(path, O_RDONLY);
    await other.paths.writeFile(path, Buffer.from('from the other client'));
    expect(reader.size).toBe(0);
    await reader.close();
    expect((await client.paths.readFile(path)).toString()).toBe('from the other client');
  });

  it('merges concurrent writers of distinct ranges; the size is the highest byte written', async () => {
    const other = await c.client();
    const path = await fileWith('-c 4 -S 64K');
    const a = randomBytes(MiB);
    const b = randomBytes(MiB + 3);
    const [ha, hb] = await Promise.all([client.paths.open(path, O_WRONLY), other.paths.open(path, O_WRONLY)]);
    await Promise.all([ha.write(a, 0), hb.write(b, MiB)]);
    await hb.close();
    await ha.close();
    expect((await client.paths.stat(path)).size).toBe(2 * MiB + 3);
    expect(sha(await client.paths.readFile(path))).toBe(sha(Buffer.concat([a, b])));
  });
});

describe('durability and errors', () => {
  it('fsyncs data and size so a fresh client sees them', async () => {
    const path = await fileWith('-c 2 -S 64K');
    const h = await client.paths.open(path, O_CREAT | O_WRONLY);
    await h.write(randomBytes(300 * KiB), 0);
    await h.fsync();
    const other = await c.client();
    expect((await other.paths.stat(path)).size).toBe(300 * KiB);
    await h.close();
  });

  it('reports a write-back failure at close instead of losing it', async () => {
    const impatient = await c.client({ requestTimeoutMs: 1500 });
    const path = await fileWith('-c 1 -i 3');
    const h = await impatient.paths.open(path, O_WRONLY);
    await h.write(Buffer.from('doomed'), 0);
    await c.cluster.stopOst(3);
    try {
      const err = await h.close().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isKlError(err)).toBe(true);
    } finally {
      await c.cluster.restartOst(3);
    }
  }, 20_000);
});
