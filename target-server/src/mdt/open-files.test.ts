import * as mdt from '@kubelustre/protocol/messages/mdt.ts';
import * as ost from '@kubelustre/protocol/messages/ost.ts';
import type { RpcClient } from '@kubelustre/protocol/wire/rpc-client.ts';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT_FID } from './fid.ts';
import { S_IFDIR, S_IFREG } from './inodes.ts';
import type { MdtOptions } from './mdt-target.ts';
import { TestCluster, type TestMdt } from './test-mdt.ts';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

let names = 0;

async function start(opts: MdtOptions = {}): Promise<{ c: TestCluster; a: TestMdt }> {
  const c = await TestCluster.start(1);
  cleanups.push(() => c.stop());
  const a = await c.startMdt(opts);
  await TestCluster.waitReady(a.mdt);
  return { c, a };
}

/** A new file under the root with one object holding `bytes` bytes; answers its fid, name and object. */
async function fileWithObject(c: TestCluster, client: RpcClient, bytes = 4096) {
  const name = `f${names++}`;
  const req = { parent: ROOT_FID, name, mode: S_IFREG | 0o644, uid: 0, gid: 0, exclusive: true };
  const fid = (await client.call(mdt.create, req)).reply.attr.fid;
  const { layout } = (await client.call(mdt.layoutIntent, { fid, start: 0, end: bytes })).reply;
  const objId = layout.components[0]!.objects![0]!.objId;
  await c
    .client(c.osts[0]!.address)
    .call(ost.write, { objId, offset: 0, sync: false, projid: 0 }, Buffer.alloc(bytes, 7));
  return { fid, name, objId };
}

async function objectsOnOst(c: TestCluster): Promise<number[]> {
  return (await c.client(c.osts[0]!.address).call(ost.listObjects, { after: 0, countMax: 1000 })).reply
    .objIds;
}

async function code(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => 'ok',
    (e: { code: string }) => e.code,
  );
}

describe('open files and orphans', () => {
  it('keeps an unlinked open file as an orphan until its last close, then destroys its objects', async () => {
    const { c, a } = await start();
    const other = c.client(a.address);
    const f = await fileWithObject(c, a.client);
    const opened = (await a.client.call(mdt.open, { fid: f.fid })).reply;
    expect(opened.node.attr.fid).toBe(f.fid);
    expect(opened.leaseMs).toBe(10 * 60 * 1000);
    await other.call(mdt.open, { fid: f.fid });
    await a.client.call(mdt.unlink, { parent: ROOT_FID, name: f.name, dir: false });
    expect(await code(a.client.call(mdt.lookup, { parent: ROOT_FID, name: f.name }))).toBe('ENOENT');
    const orphan = (await a.client.call(mdt.getattr, { fid: f.fid })).reply;
    expect(orphan.attr.nlink).toBe(0);
    expect(orphan.layout!.components[0]!.objects![0]!.objId).toBe(f.objId);
    expect(await registryValue(a, 'kubelustre_mdt_orphans')).toBe(1);
    // A write through the open handle still instantiates and updates the orphan.
    await a.client.call(mdt.sizeUpdate, { fid: f.fid, size: 8192, mtime: { sec: 1, nsec: 0 } });
    await a.client.call(mdt.close, { fid: f.fid });
    await a.mdt.drained(5000);
    expect(await objectsOnOst(c)).toContain(f.objId);
    await other.call(mdt.close, { fid: f.fid });
    await a.mdt.drained(5000);
    expect(await objectsOnOst(c)).not.toContain(f.objId);
    expect(await code(a.client.call(mdt.getattr, { fid: f.fid }))).toBe('ENOENT');
    expect(await registryValue(a, 'kubelustre_mdt_orphans')).toBe(0);
  });

  it('frees a closed file at unlink as before, and treats rename over an open file as its unlink', async () => {
    const { c, a } = await start();
    const closed = await fileWithObject(c, a.client);
    await a.client.call(mdt.open, { fid: closed.fid });
    await a.client.call(mdt.close, { fid: closed.fid });
    await a.client.call(mdt.close, { fid: closed.fid }); // closing again is harmless
    await a.client.call(mdt.unlink, { parent: ROOT_FID, name: closed.name, dir: false });
    await a.mdt.drained(5000);
    expect(await objectsOnOst(c)).not.toContain(closed.objId);

    const victim = await fileWithObject(c, a.client);
    const src = await fileWithObject(c, a.client);
    await a.client.call(mdt.open, { fid: victim.fid });
    const rename = { srcParent: ROOT_FID, srcName: src.name, dstParent: ROOT_FID, dstName: victim.name };
    await a.client.call(mdt.rename, { ...rename, flags: 0 });
    expect((await a.client.call(mdt.getattr, { fid: victim.fid })).reply.attr.nlink).toBe(0);
    const link = { fid: victim.fid, parent: ROOT_FID, name: 'again' };
    expect(await code(a.client.call(mdt.link, link))).toBe('ENOENT');
    await a.client.call(mdt.close, { fid: victim.fid });
    await a.mdt.drained(5000);
    expect(await objectsOnOst(c)).not.toContain(victim.objId);
    expect(await objectsOnOst(c)).toContain(src.objId);
  });

  it('creates and opens in one transaction with mdt.create_open', async () => {
    const { a } = await start();
    const req = { parent: ROOT_FID, name: 'co', mode: S_IFREG | 0o600, uid: 0, gid: 0, exclusive: true };
    const { node, leaseMs } = (await a.client.call(mdt.createOpen, req)).reply;
    expect(leaseMs).toBeGreaterThan(0);
    await a.client.call(mdt.unlink, { parent: ROOT_FID, name: 'co', dir: false });
    expect((await a.client.call(mdt.getattr, { fid: node.attr.fid })).reply.attr.nlink).toBe(0);
    await a.client.call(mdt.close, { fid: node.attr.fid });
    expect(await code(a.client.call(mdt.getattr, { fid: node.attr.fid }))).toBe('ENOENT');
    const dir = { ...req, name: 'nodir', mode: S_IFDIR | 0o755 };
    expect(await code(a.client.call(mdt.createOpen, dir))).toBe('EISDIR');
    // The failed open took its create back with it.
    expect(await code(a.client.call(mdt.lookup, { parent: ROOT_FID, name: 'nodir' }))).toBe('ENOENT');
  });

  it('opens only regular files', async () => {
    const { a } = await start();
    const dirReq = { parent: ROOT_FID, name: 'd', mode: S_IFDIR | 0o755, uid: 0, gid: 0, exclusive: true };
    const dir = (await a.client.call(mdt.create, dirReq)).reply.attr.fid;
    expect(await code(a.client.call(mdt.open, { fid: dir }))).toBe('EISDIR');
    expect(await code(a.client.call(mdt.open, { fid: '0x200000400:0x999:0x0' }))).toBe('ENOENT');
  });

  it('keeps opens and orphans across an MDT restart', async () => {
    const { c, a } = await start();
    const client = c.client(a.address);
    const f = await fileWithObject(c, client);
    await client.call(mdt.open, { fid: f.fid });
    await client.call(mdt.unlink, { parent: ROOT_FID, name: f.name, dir: false });
    const b = await c.startMdt();
    // The same client session (its uuid and xids) carries on with the restarted MDT.
    client.setAddress(b.address);
    const after = client;
    expect((await after.call(mdt.getattr, { fid: f.fid })).reply.attr.nlink).toBe(0);
    await b.mdt.drained(5000);
    expect(await objectsOnOst(c)).toContain(f.objId);
    await after.call(mdt.close, { fid: f.fid });
    await b.mdt.drained(5000);
    expect(await objectsOnOst(c)).not.toContain(f.objId);
  });

  it('evicts a client silent past its lease: its orphans are freed and it hears so once', async () => {
    const { c, a } = await start({ openLeaseMs: 300 });
    const silent = c.client(a.address);
    const alive = c.client(a.address);
    const mine = await fileWithObject(c, silent);
    const theirs = await fileWithObject(c, alive);
    expect((await silent.call(mdt.open, { fid: mine.fid })).reply.leaseMs).toBe(300);
    await alive.call(mdt.open, { fid: theirs.fid });
    for (const f of [mine, theirs])
      await silent.call(mdt.unlink, { parent: ROOT_FID, name: f.name, dir: false });
    const deadline = Date.now() + 5000;
    while ((await code(alive.call(mdt.getattr, { fid: mine.fid }))) !== 'ENOENT') {
      expect(Date.now()).toBeLessThan(deadline);
      const renewal = (await alive.call(mdt.renew, {})).reply;
      expect(renewal.evicted).toBe(false);
      await new Promise((r) => setTimeout(r, 50));
    }
    await a.mdt.drained(5000);
    const objects = await objectsOnOst(c);
    expect(objects).not.toContain(mine.objId);
    expect(objects).toContain(theirs.objId);
    expect((await silent.call(mdt.renew, {})).reply.evicted).toBe(true);
    expect((await silent.call(mdt.renew, {})).reply.evicted).toBe(false);
  });
});

async function registryValue(a: TestMdt, metric: string): Promise<number> {
  const m = (await a.registry.getSingleMetric(metric)?.get())?.values[0]?.value;
  return m ?? Number.NaN;
}
