import { randomBytes, randomUUID } from 'node:crypto';
import { parseSetstripeArgs } from '@kubelustre/protocol/layout/setstripe-args.ts';
import { silentLogger } from '@kubelustre/protocol/log.ts';
import { register } from '@kubelustre/protocol/messages/mgs.ts';
import * as ostOps from '@kubelustre/protocol/messages/ost.ts';
import type { MdtOptions } from '@kubelustre/target-server/mdt/mdt-target.ts';
import { TestCluster, type TestMdt } from '@kubelustre/target-server/mdt/test-mdt.ts';
import { TEST_KEY } from '@kubelustre/target-server/mgs/test-mgs.ts';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT_FID } from './attr.ts';
import { KlClient } from './fs-client.ts';
import { O_CREAT, O_RDWR } from './mode.ts';

const MiB = 1024 * 1024;
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A cluster of 2 OSTs whose MDT can be restarted: it re-registers under the same uuid at a new address. */
async function cluster(opts: MdtOptions = {}) {
  const tc = await TestCluster.start(2);
  cleanups.push(() => tc.stop());
  const uuid = randomUUID();
  const serveMdt = async (): Promise<TestMdt> => {
    const mdt = await tc.startMdt(opts);
    await TestCluster.waitReady(mdt.mdt);
    await tc.client(tc.mgsAddress).call(register, { role: 'mdt', index: 0, uuid, address: mdt.address });
    return mdt;
  };
  let mdt = await serveMdt();
  const client = async () => {
    const c = new KlClient({
      mgs: tc.mgsAddress,
      key: TEST_KEY,
      log: silentLogger,
      requestTimeoutMs: 10_000,
      configPollWaitMs: 500,
    });
    cleanups.push(() => c.close());
    return c.connect();
  };
  return {
    tc,
    client,
    mdt: () => mdt,
    /** Stops serving the MDT (its store is left as a killed process leaves it) and starts a new one. */
    async restartMdt() {
      await mdt.rpc.close(0);
      mdt = await serveMdt();
    },
  };
}

/** Every object id on every OST, as "ost:id". */
async function objectsOnOsts(tc: TestCluster): Promise<string[]> {
  const all: string[] = [];
  for (const o of tc.osts) {
    const { objIds } = (await tc.client(o.address).call(ostOps.listObjects, { after: 0, countMax: 10_000 }))
      .reply;
    all.push(...objIds.map((id) => `${o.index}:${id}`));
  }
  return all;
}

async function objectsOf(client: KlClient, fid: string): Promise<string[]> {
  const { layout } = await client.inodes.getnode(fid);
  return layout!.components.flatMap((c) => (c.objects ?? []).map((o) => `${o.ostIdx}:${o.objId}`));
}

/** Waits (bounded) until none of `objects` is on an OST any more. */
async function expectDestroyed(tc: TestCluster, mdt: TestMdt, objects: string[]): Promise<void> {
  await mdt.mdt.drained(10_000);
  const left = await objectsOnOsts(tc);
  expect(objects.filter((o) => left.includes(o))).toEqual([]);
}

describe('unlink of an open file', () => {
  it('keeps the data readable and writable through the handle until the last close', async () => {
    const { tc, client, mdt } = await cluster();
    const a = await client();
    await a.lustre.setstripe('/f', parseSetstripeArgs('-c 2 -S 64K').layout!);
    const data = randomBytes(MiB);
    const h = await a.paths.open('/f', O_RDWR);
    await h.write(data, 0);
    await h.fsync();
    const objects = await objectsOf(a, h.fid);
    expect(objects).toHaveLength(2);
    await a.paths.unlink('/f');
    await expect(a.paths.stat('/f')).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await h.stat()).nlink).toBe(0);
    expect((await h.read(MiB, 0)).equals(data)).toBe(true);
    const more = randomBytes(100_000);
    await h.write(more, MiB);
    await h.fsync();
    expect((await h.read(more.length, MiB)).equals(more)).toBe(true);
    await mdt().mdt.drained(10_000);
    expect(await objectsOnOsts(tc)).toEqual(expect.arrayContaining(objects));
    await h.close();
    await a.inodes.settleCloses();
    await expectDestroyed(tc, mdt(), objects);
  });

  it('counts handles per client: the orphan lives until the last handle of every client is closed', async () => {
    const { tc, client, mdt } = await cluster();
    const [a, b] = [await client(), await client()];
    await a.paths.writeFile('/shared', randomBytes(200_000));
    const a1 = await a.paths.open('/shared', O_RDWR);
    const a2 = await a.paths.open('/shared', O_RDWR);
    const b1 = await b.paths.open('/shared', O_RDWR);
    const objects = await objectsOf(a, a1.fid);
    await b.paths.writeFile('/other', Buffer.from('replacement'));
    await b.paths.rename('/other', '/shared'); // rename over the open file: its last name goes
    await a1.close();
    await b1.close();
    await Promise.all([a.inodes.settleCloses(), b.inodes.settleCloses()]);
    await mdt().mdt.drained(10_000);
    expect(await objectsOnOsts(tc)).toEqual(expect.arrayContaining(objects));
    expect((await a2.read(10, 0)).length).toBe(10);
    await a2.close();
    await a.inodes.settleCloses();
    await expectDestroyed(tc, mdt(), objects);
    expect((await a.paths.readFile('/shared')).toString()).toBe('replacement');
  });

  it('keeps a file made by createOpen (one round trip) for its handle after unlink', async () => {
    const { tc, client, mdt } = await cluster();
    const a = await client();
    const { node, handle } = await a.inodes.createOpen(ROOT_FID, 'made', 0o600, O_RDWR);
    expect(node.attr.nlink).toBe(1);
    await handle.write(Buffer.from('still here'), 0);
    await handle.flush();
    const objects = await objectsOf(a, node.attr.fid);
    await a.inodes.unlink(ROOT_FID, 'made');
    expect((await handle.read(10, 0)).toString()).toBe('still here');
    await handle.close();
    await a.inodes.settleCloses();
    await expectDestroyed(tc, mdt(), objects);
  });

  it('keeps the orphan across an MDT restart between unlink and close', async () => {
    const { tc, client, mdt, restartMdt } = await cluster();
    const a = await client();
    await a.paths.writeFile('/r', randomBytes(300_000));
    const h = await a.paths.open('/r', O_RDWR);
    const objects = await objectsOf(a, h.fid);
    await a.paths.unlink('/r');
    await restartMdt();
    expect((await h.stat()).nlink).toBe(0);
    await mdt().mdt.drained(10_000);
    expect(await objectsOnOsts(tc)).toEqual(expect.arrayContaining(objects));
    await h.close();
    await a.inodes.settleCloses();
    await expectDestroyed(tc, mdt(), objects);
  });

  it('renews its lease while files are open, and closes them at client close', async () => {
    const { tc, client, mdt } = await cluster({ openLeaseMs: 400 });
    const a = await client();
    await a.paths.writeFile('/leased', randomBytes(100_000));
    const h = await a.paths.open('/leased', O_CREAT | O_RDWR);
    const objects = await objectsOf(a, h.fid);
    await a.paths.unlink('/leased');
    await new Promise((r) => setTimeout(r, 1500)); // several leases: only renewals keep the open
    expect((await h.read(10, 0)).length).toBe(10);
    expect(await objectsOnOsts(tc)).toEqual(expect.arrayContaining(objects));
    await a.close(); // the handle was never closed: the client closes it on the MDT
    await expectDestroyed(tc, mdt(), objects);
  });
});
