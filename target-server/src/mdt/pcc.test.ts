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
