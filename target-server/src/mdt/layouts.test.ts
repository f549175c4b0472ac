import { type Layout, type LayoutComponent, MIB } from '@kubelustre/protocol/layout/index.ts';
import * as mdt from '@kubelustre/protocol/messages/mdt.ts';
import { setDefaultLayout } from '@kubelustre/protocol/messages/mgs.ts';
import type { RpcClient } from '@kubelustre/protocol/wire/rpc-client.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT_FID } from './fid.ts';
import { S_IFDIR, S_IFREG } from './inodes.ts';
import { TestCluster } from './test-mdt.ts';

let cluster: TestCluster;
let c: RpcClient;
let testDirs = 0;

beforeAll(async () => {
  cluster = await TestCluster.start(3);
  const started = await cluster.startMdt();
  await TestCluster.waitReady(started.mdt);
  c = started.client;
});
afterAll(() => cluster.stop());

const raid0 = (
  start: number,
  end: number,
  stripeCount: number,
  extra: Partial<LayoutComponent> = {},
): LayoutComponent => ({
  ...{ id: 0, start, end, pattern: 'raid0', stripeSize: MIB, stripeCount, stripeOffset: -1 },
  ...extra,
});
const composite = (...components: LayoutComponent[]): Layout => ({
  composite: true,
  generation: 0,
  components,
});
const pfl = composite(raid0(0, MIB, 1), raid0(MIB, 8 * MIB, 2), raid0(8 * MIB, -1, -1));
const dom = composite({ ...raid0(0, MIB, 0), pattern: 'mdt', stripeSize: MIB }, raid0(MIB, -1, 1));

async function code(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => 'ok',
    (e: { code: string }) => e.code,
  );
}

async function mk(parent: string, name: string, mode = S_IFREG | 0o644, layout?: Layout) {
  const req = { parent, name, mode, uid: 0, gid: 0, exclusive: true };
  return (await c.call(mdt.create, layout === undefined ? req : { ...req, layout })).reply;
}
const scratch = async () => (await mk(ROOT_FID, `l${testDirs++}`, S_IFDIR | 0o755)).attr.fid;
const intent = (fid: string, start: number, end: number) => c.call(mdt.layoutIntent, { fid, start, end });

describe('layouts of new files', () => {
  it('takes the request, else the directory default, else the filesystem default, resolving unset fields', async () => {
    const d = await scratch();
    const plain = await mk(d, 'plain');
    expect(plain.layout).toMatchObject({
      composite: false,
      components: [{ id: 1, stripeCount: 1, stripeSize: MIB }],
    });
    // As in Lustre, the component covering offset 0 gets its objects at create.
    expect(plain.layout!.components[0]!.objects).toHaveLength(1);
    const set = await c.call(mdt.setLayout, { fid: d, layout: pfl });
    expect(set.reply.layout?.generation).toBe(1);
    const inherited = await mk(d, 'inherited');
    expect(inherited.layout!.components.map((x) => [x.id, x.start, x.end, x.stripeCount])).toEqual([
      [1, 0, MIB, 1],
      [2, MIB, 8 * MIB, 2],
      [3, 8 * MIB, -1, -1],
    ]);
    const sub = (await mk(d, 'sub', S_IFDIR | 0o755)).attr.fid;
    expect((await mk(sub, 'deep')).layout!.components).toHaveLength(3);
    const own = await mk(d, 'own', S_IFREG | 0o644, composite(raid0(0, -1, 0, { stripeSize: 0 })));
    expect(own.layout!.components[0]).toMatchObject({ stripeCount: 1, stripeSize: MIB });
    await c.call(mdt.setLayout, { fid: d });
    expect((await mk(d, 'after')).layout!.components).toHaveLength(1);
  });

  it('follows the filesystem default from the MGS', async () => {
    const mgs = cluster.client(cluster.mgsAddress);
    await mgs.call(setDefaultLayout, {
      layout: { composite: false, generation: 0, components: [raid0(0, -1, 2)] },
    });
    const d = await scratch();
    const deadline = Date.now() + 5000;
    let n = 0;
    while ((await mk(d, `f${n++}`)).layout!.components[0]!.stripeCount !== 2) {
      if (Date.now() > deadline) throw new Error('MDT did not follow the new default layout');
      await new Promise((r) => setTimeout(r, 50));
    }
    await mgs.call(setDefaultLayout, {
      layout: { composite: false, generation: 0, components: [raid0(0, -1, 1)] },
    });
  });

  it('refuses invalid layouts with EINVAL and the engine reason', async () => {
    const d = await scratch();
    const err = await c
      .call(mdt.create, {
        ...{ parent: d, name: 'bad', mode: S_IFREG | 0o644, uid: 0, gid: 0, exclusive: true },
        layout: composite(raid0(0, -1, 1, { stripeSize: 100 })),
      })
      .catch((e) => e);
    expect(err).toMatchObject({ code: 'EINVAL' });
    expect(err.message).toContain('stripe size 100');
    expect(await code(c.call(mdt.setLayout, { fid: d, layout: composite(raid0(0, MIB, 1)) }))).toBe('EINVAL');
  });
});

describe('layout intents', () => {
  it('instantiates the first PFL component at create and the others as writes reach them', async () => {
    const d = await scratch();
    const f = await mk(d, 'f', S_IFREG | 0o644, pfl);
    const first = f.layout!;
    expect(first.components.map((x) => x.objects?.length)).toEqual([1, undefined, undefined]);
    const again = (await intent(f.attr.fid, 10, 20)).reply.layout;
    expect(again).toEqual(first);
    const second = (await intent(f.attr.fid, 2 * MIB, 3 * MIB)).reply.layout;
    expect(second.components.map((x) => x.objects?.length)).toEqual([1, 2, undefined]);
    expect(second.generation).toBeGreaterThan(first.generation);
    const osts = second.components[1]!.objects!.map((o) => o.ostIdx);
    expect(new Set(osts).size).toBe(2);
    const all = (await intent(f.attr.fid, 0, 100 * MIB)).reply.layout;
    expect(all.components[2]!.objects).toHaveLength(3);
    expect((await c.call(mdt.getattr, { fid: f.attr.fid })).reply.layout).toEqual(all);
    expect(await code(intent(d, 0, 1))).toBe('EINVAL');
  });

  it('grows a self-extending component as writes reach its extension space', async () => {
    const d = await scratch();
    const sel = composite(raid0(0, 0, 1), { ...raid0(0, -1, 1), extension: true, extensionSize: 64 * MIB });
    const f = await mk(d, 'sel', S_IFREG | 0o644, sel);
    const grown = (await intent(f.attr.fid, 0, 4096)).reply.layout;
    expect(grown.components[0]).toMatchObject({ start: 0, end: 64 * MIB });
    expect(grown.components[0]!.objects).toHaveLength(1);
    expect(grown.components[1]).toMatchObject({ start: 64 * MIB, extension: true });
  });

  it('replaces a layout only while the file is empty (EEXIST once it has data)', async () => {
    const d = await scratch();
    const f = await mk(d, 'f');
    const replaced = await c.call(mdt.setLayout, { fid: f.attr.fid, layout: pfl });
    expect(replaced.reply.layout!.components).toHaveLength(3);
    expect(replaced.reply.layout!.generation).toBeGreaterThan(f.layout!.generation);
    expect(replaced.reply.layout!.components[0]!.objects).toHaveLength(1);
    await c.call(mdt.sizeUpdate, { fid: f.attr.fid, size: 1, mtime: { sec: 1, nsec: 0 } });
    expect(await code(c.call(mdt.setLayout, { fid: f.attr.fid, layout: pfl }))).toBe('EEXIST');
    const fifo = await mk(d, 'fifo', 0o010644);
    expect(await code(c.call(mdt.setLayout, { fid: fifo.attr.fid, layout: pfl }))).toBe('EINVAL');
  });
});

describe('Data-on-MDT', () => {
  it('reads, writes and truncates within the DoM extent', async () => {
    const d = await scratch();
    const f = (await mk(d, 'dom', S_IFREG | 0o644, dom)).attr.fid;
    await intent(f, 0, 100);
    await c.call(mdt.domWrite, { fid: f, offset: 0, sync: false }, Buffer.from('hello'));
    await c.call(mdt.domWrite, { fid: f, offset: 200_000, sync: true }, Buffer.alloc(70_000, 7));
    const attr = (await c.call(mdt.getattr, { fid: f })).reply.attr;
    expect(attr.size).toBe(270_000);
    expect(attr.blocks).toBeGreaterThanOrEqual(8 * 2);
    const read = (offset: number, length: number) => c.call(mdt.domRead, { fid: f, offset, length });
    expect((await read(0, 5)).data.toString()).toBe('hello');
    expect((await read(5, 10)).data).toEqual(Buffer.alloc(10));
    const span = (await read(199_990, 80_000)).data;
    expect(span.length).toBe(270_000 - 199_990);
    expect(span.subarray(10, 20)).toEqual(Buffer.alloc(10, 7));
    expect(await code(read(MIB - 1, 2))).toBe('EINVAL');
    expect(await code(c.call(mdt.domWrite, { fid: f, offset: MIB, sync: false }, Buffer.from('x')))).toBe(
      'EINVAL',
    );
    await c.call(mdt.setattr, { fid: f, size: 3 });
    await c.call(mdt.setattr, { fid: f, size: 300_000 });
    expect((await read(0, 5)).data).toEqual(Buffer.from([104, 101, 108, 0, 0]));
    expect((await read(200_000, 10)).data).toEqual(Buffer.alloc(10));
    const plain = (await mk(d, 'plain')).attr.fid;
    expect(await code(c.call(mdt.domRead, { fid: plain, offset: 0, length: 1 }))).toBe('EINVAL');
  });
});
