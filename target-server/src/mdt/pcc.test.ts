import * as mdt from '@kubelustre/protocol/messages/mdt.ts';
import type { RpcClient } from '@kubelustre/protocol/wire/rpc-client.ts';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT_FID } from './fid.ts';
import { S_IFDIR, S_IFREG } from './inodes.ts';
import type { MdtOptions } from './mdt-target.ts';
import { TestCluster } from './test-mdt.ts';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function start(opts: MdtOptions = {}) {
  const c = await TestCluster.start(1);
  cleanups.push(() => c.stop());
  const a = await c.startMdt(opts);
  await TestCluster.waitReady(a.mdt);
  return { c, a, reader: c.client(a.address), writer: c.client(a.address) };
}

let names = 0;
async function newFile(client: RpcClient, mode = S_IFREG | 0o644): Promise<string> {
  const req = { parent: ROOT_FID, name: `p${names++}`, mode, uid: 0, gid: 0, exclusive: true };
  return (await client.call(mdt.create, req)).reply.attr.fid;
}

const code = (p: Promise<unknown>) =>
  p.then(
    () => 'ok',
    (e: { code: string }) => e.code,
  );

describe('read-only PCC attachments', () => {
  it('counts an open for write as a writer and answers whether the file is tracked', async () => {
    const { reader, writer, c, a } = await start();
    const fid = await newFile(writer);
    // Untracked: nobody caches it. The open for write is a writer until the close, so no attach.
    expect((await writer.call(mdt.open2, { fid, write: true })).reply.pccTracked).toBe(false);
    expect((await reader.call(mdt.pccState, { fid })).reply.writers).toBe(1);
    expect(await code(reader.call(mdt.pccAttach, { fid }))).toBe('EBUSY');
    // An announcement and its explicit end (truncate by path) leave the open's writer record alone.
    await writer.call(mdt.pccWriteOpen, { fid });
    await writer.call(mdt.pccWriteClose, { fid });
    expect(await code(reader.call(mdt.pccAttach, { fid }))).toBe('EBUSY');
    await writer.call(mdt.close, { fid });
    expect((await reader.call(mdt.pccState, { fid })).reply.writers).toBe(0);
    const version = (await reader.call(mdt.pccAttach, { fid })).reply.dataVersion;
    // Tracked now (an attachment): a writer's open says so, and it must announce (which revokes).
    expect((await writer.call(mdt.open2, { fid, write: true })).reply.pccTracked).toBe(true);
    expect((await reader.call(mdt.pccState, { fid })).reply).toMatchObject({ attached: true, writers: 1 });
    await writer.call(mdt.pccWriteOpen, { fid });
    expect((await reader.call(mdt.pccState, { fid })).reply.attached).toBe(false);
    await writer.call(mdt.close, { fid });
    expect((await reader.call(mdt.pccState, { fid })).reply.dataVersion).toBeGreaterThan(version);
    // A read-only open is no writer; create_open2 records the access mode as open2 does.
    const third = c.client(a.address);
    expect((await third.call(mdt.open2, { fid, write: false })).reply.pccTracked).toBe(false);
    expect((await reader.call(mdt.pccState, { fid })).reply.writers).toBe(0);
    const req = { parent: ROOT_FID, name: `co${names++}`, mode: S_IFREG | 0o644, uid: 0, gid: 0 };
    const created = await writer.call(mdt.createOpen2, { ...req, exclusive: true, write: true });
    expect(created.reply.pccTracked).toBe(false);
    const newFid = created.reply.node.attr.fid;
    expect(await code(reader.call(mdt.pccAttach, { fid: newFid }))).toBe('EBUSY');
    // Read-write attach by the opener itself is allowed (auto-attach at create); others' is not.
    expect(await code(reader.call(mdt.pccAttachRw, { fid: newFid, cacheId: 'r' }))).toBe('EBUSY');
    await writer.call(mdt.pccAttachRw, { fid: newFid, cacheId: 'w' });
    const again = await writer.call(mdt.createOpen2, { ...req, exclusive: false, write: true });
    expect(again.reply.pccTracked).toBe(true);
  });

  it('revokes every attachment when a client announces a write, and bumps the data version', async () => {
    const { reader, writer, c, a } = await start();
    const other = c.client(a.address);
    const fid = await newFile(writer);
    expect((await reader.call(mdt.pccAttach, { fid })).reply.dataVersion).toBe(0);
    await other.call(mdt.pccAttach, { fid });
    expect((await reader.call(mdt.pccState, { fid })).reply).toEqual({
      dataVersion: 0,
      attached: true,
      writers: 0,
    });

    expect((await writer.call(mdt.pccWriteOpen, { fid })).reply.dataVersion).toBe(1);
    for (const client of [reader, other]) {
      expect((await client.call(mdt.pccState, { fid })).reply).toEqual({
        dataVersion: 1,
        attached: false,
        writers: 1,
      });
    }
    // No attaching while the writer is there; after its close, at the new version.
    expect(await code(reader.call(mdt.pccAttach, { fid }))).toBe('EBUSY');
    expect((await writer.call(mdt.pccWriteClose, { fid })).reply.dataVersion).toBe(2);
    expect((await reader.call(mdt.pccAttach, { fid })).reply.dataVersion).toBe(2);
    await reader.call(mdt.pccDetach, { fid });
    await reader.call(mdt.pccDetach, { fid }); // idempotent
    expect((await reader.call(mdt.pccState, { fid })).reply.attached).toBe(false);
  });

  it('refuses directories and missing files', async () => {
    const { reader } = await start();
    const dir = await newFile(reader, S_IFDIR | 0o755);
    expect(await code(reader.call(mdt.pccAttach, { fid: dir }))).toBe('EINVAL');
    expect(await code(reader.call(mdt.pccAttach, { fid: '0x200000400:0x7777:0x0' }))).toBe('ENOENT');
  });

  it('drops a writer with its eviction, so attaches are possible again', async () => {
    const { reader, writer } = await start({ openLeaseMs: 300 });
    const fid = await newFile(writer);
    await writer.call(mdt.open, { fid }); // a writer holds the file open, so it has a lease
    await writer.call(mdt.pccWriteOpen, { fid });
    const deadline = Date.now() + 5000;
    while ((await reader.call(mdt.pccState, { fid })).reply.writers > 0) {
      expect(Date.now()).toBeLessThan(deadline);
      await reader.call(mdt.renew, {});
      await new Promise((r) => setTimeout(r, 50));
    }
    expect((await reader.call(mdt.pccAttach, { fid })).reply.dataVersion).toBeGreaterThan(1);
  });
});

describe('writers ending at mdt.close', () => {
  it("drops a client's writer record with its last close, and bumps the data version", async () => {
    const { reader, writer } = await start();
    const fid = await newFile(writer);
    await writer.call(mdt.open, { fid });
    await writer.call(mdt.pccWriteOpen, { fid });
    expect(await code(reader.call(mdt.pccAttach, { fid }))).toBe('EBUSY');
    const before = (await reader.call(mdt.pccState, { fid })).reply.dataVersion;
    await writer.call(mdt.close, { fid });
    expect((await reader.call(mdt.pccState, { fid })).reply).toMatchObject({
      writers: 0,
      dataVersion: before + 1,
    });
    expect((await reader.call(mdt.pccAttach, { fid })).reply.dataVersion).toBe(before + 1);
  });
});

describe('read-write PCC attachments', () => {
  it('makes other clients wait (EAGAIN) and asks the caching client to restore', async () => {
    const { reader, writer, c, a } = await start();
    const fid = await newFile(writer);
    await reader.call(mdt.pccAttach, { fid });
    const version = (await writer.call(mdt.pccAttachRw, { fid, cacheId: 'cache-w' })).reply.dataVersion;
    expect((await reader.call(mdt.pccState, { fid })).reply.attached).toBe(false); // revoked
    // The owner opens as it likes; nobody else does, nor attaches or writes.
    await writer.call(mdt.open, { fid });
    expect(await code(reader.call(mdt.open, { fid }))).toBe('EAGAIN');
    expect(await code(reader.call(mdt.pccWriteOpen, { fid }))).toBe('EAGAIN');
    expect(await code(reader.call(mdt.pccAttach, { fid }))).toBe('EAGAIN');
    expect(await code(reader.call(mdt.pccAttachRw, { fid, cacheId: 'cache-r' }))).toBe('EBUSY');
    const poll = (await writer.call(mdt.pccRwPoll, { holdMs: 2000 })).reply;
    expect(poll).toEqual({ restore: [fid], held: 1 });
    // Another client's poll holds for its whole bound and answers nothing.
    const started = Date.now();
    expect((await c.client(a.address).call(mdt.pccRwPoll, { holdMs: 200 })).reply).toEqual({
      restore: [],
      held: 0,
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);

    expect(await code(reader.call(mdt.pccRwDetach, { fid }))).toBe('ESTALE');
    await writer.call(mdt.pccRwCheck, { fid });
    expect((await writer.call(mdt.pccRwDetach, { fid })).reply.dataVersion).toBeGreaterThan(version);
    expect(await code(writer.call(mdt.pccRwCheck, { fid }))).toBe('ESTALE');
    await reader.call(mdt.open, { fid });
    expect((await writer.call(mdt.pccRwPoll, { holdMs: 0 })).reply.restore).toEqual([]);
  });

  it('refuses a read-write attach while another client has the file open', async () => {
    const { reader, writer } = await start();
    const fid = await newFile(writer);
    await reader.call(mdt.open, { fid });
    expect(await code(writer.call(mdt.pccAttachRw, { fid, cacheId: 'c' }))).toBe('EBUSY');
    await reader.call(mdt.close, { fid });
    await writer.call(mdt.pccAttachRw, { fid, cacheId: 'c' });
  });

  it("hands a cache directory's attachments to the mount restarted over it", async () => {
    const { reader, writer, c, a } = await start();
    const fid = await newFile(writer);
    await writer.call(mdt.pccAttachRw, { fid, cacheId: 'node-cache' });
    expect(await code(reader.call(mdt.open, { fid }))).toBe('EAGAIN');
    const restarted = c.client(a.address);
    expect((await restarted.call(mdt.pccRwRecover, { cacheId: 'other' })).reply.fids).toEqual([]);
    expect((await restarted.call(mdt.pccRwRecover, { cacheId: 'node-cache' })).reply.fids).toEqual([fid]);
    expect((await restarted.call(mdt.pccRwPoll, { holdMs: 0 })).reply).toEqual({ restore: [fid], held: 1 });
    expect(await code(writer.call(mdt.pccRwCheck, { fid }))).toBe('ESTALE'); // the dead one's is gone
    await restarted.call(mdt.pccRwDetach, { fid });
    await reader.call(mdt.open, { fid });
  });

  it('gives the file back to the OSTs when the caching client is evicted', async () => {
    const { reader, writer } = await start({ openLeaseMs: 300 });
    const fid = await newFile(writer);
    await writer.call(mdt.pccAttachRw, { fid, cacheId: 'gone' });
    const deadline = Date.now() + 5000;
    while ((await code(reader.call(mdt.open, { fid }))) === 'EAGAIN') {
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(await code(writer.call(mdt.pccRwCheck, { fid }))).toBe('ESTALE');
  });
});
