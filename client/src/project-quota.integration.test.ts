import { randomBytes } from 'node:crypto';
import { isKlError, KlError } from '@kubelustre/protocol/errors.ts';
import { parseSetstripeArgs } from '@kubelustre/protocol/layout/setstripe-args.ts';
import { quotaGet } from '@kubelustre/protocol/messages/mdt.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KlClient } from './fs-client.ts';
import { O_CREAT, O_RDWR } from './mode.ts';
import { type ClientCluster, startClientCluster } from './testing/client-cluster.ts';

const MiB = 1024 * 1024;

let c: ClientCluster;
let client: KlClient;

beforeAll(async () => {
  c = await startClientCluster(2);
  client = await c.client();
}, 30_000);
afterAll(async () => {
  await c?.[Symbol.asyncDispose]();
});

async function failure(p: Promise<unknown>): Promise<KlError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  if (!(e instanceof KlError)) throw new Error(`expected a KlError, got ${String(e)}`);
  return e;
}

describe('project ids', () => {
  it('are inherited from a directory with the inherit flag, subdirectories taking the flag too', async () => {
    await client.paths.mkdir('/proj');
    await client.paths.mkdir('/plain');
    await client.lustre.setProject('/proj', 42, { inherit: true });
    await client.paths.mkdir('/proj/sub');
    await client.paths.writeFile('/proj/sub/f', Buffer.from('x'));
    await client.paths.writeFile('/plain/f', Buffer.from('x'));
    expect(await client.lustre.getProject('/proj/sub')).toEqual({ projid: 42, inherit: true });
    expect(await client.lustre.getProject('/proj/sub/f')).toEqual({ projid: 42, inherit: false });
    expect((await client.paths.stat('/proj/sub/f')).projid).toBe(42);
    expect(await client.lustre.getProject('/plain/f')).toEqual({ projid: 0, inherit: false });
  });

  it('tags a whole tree with recursive', async () => {
    await client.paths.mkdir('/tree');
    await client.paths.mkdir('/tree/a');
    await client.paths.writeFile('/tree/a/f', Buffer.from('x'));
    expect(await client.lustre.setProject('/tree', 7, { inherit: true, recursive: true })).toBe(3);
    expect(await client.lustre.getProject('/tree/a')).toEqual({ projid: 7, inherit: true });
    expect((await client.paths.stat('/tree/a/f')).projid).toBe(7);
  });
});

describe('project quotas', () => {
  it('account bytes across write, truncate and unlink (through the destroy log)', async () => {
    await client.paths.mkdir('/acct');
    await client.lustre.setProject('/acct', 100, { inherit: true });
    await client.lustre.setQuota(100, { blockHardBytes: 64 * MiB, inodeHard: 0 });
    await client.paths.writeFile('/acct/f', randomBytes(3 * MiB));
    const written = await client.lustre.getQuota(100);
    expect(written.usedBytes).toBeGreaterThanOrEqual(3 * MiB);
    expect(written.usedBytes).toBeLessThan(3 * MiB + 64 * 1024);
    expect(written.usedInodes).toBe(2);
    await client.paths.truncate('/acct/f', MiB);
    expect((await client.lustre.getQuota(100)).usedBytes).toBeLessThan(MiB + 64 * 1024);
    await client.paths.unlink('/acct/f');
    await c.mdt.mdt.drained(10_000);
    expect(await client.lustre.getQuota(100)).toEqual({
      limits: { blockHardBytes: 64 * MiB, inodeHard: 0 },
      usedBytes: 0,
      usedInodes: 1,
    });
  });

  it('refuse writes past the block limit with EDQUOT and keep what was written before', async () => {
    await client.paths.mkdir('/full');
    await client.lustre.setProject('/full', 101, { inherit: true });
    await client.lustre.setQuota(101, { blockHardBytes: 4 * MiB, inodeHard: 0 });
    const data = randomBytes(3 * MiB);
    await client.paths.writeFile('/full/f', data);
    const handle = await client.paths.open('/full/f', O_RDWR);
    await handle.write(randomBytes(2 * MiB), 3 * MiB);
    const refused = await failure(handle.fsync());
    await handle.close().catch(() => undefined);
    expect(refused.code).toBe('EDQUOT');
    expect(refused.message).toContain('project 101 over its 4 MiB limit');
    expect((await client.paths.readFile('/full/f')).subarray(0, 3 * MiB).equals(data)).toBe(true);
    await client.lustre.setQuota(101, { blockHardBytes: 8 * MiB, inodeHard: 0 });
    await client.paths.writeFile('/full/g', randomBytes(2 * MiB));
  });

  it('hold the limit across OSTs: grants move to the OST being written, never past the limit', async () => {
    await client.paths.mkdir('/spread');
    await client.lustre.setProject('/spread', 104, { inherit: true });
    await client.lustre.setQuota(104, { blockHardBytes: 5 * MiB, inodeHard: 0 });
    await client.lustre.setstripe('/spread/on0', parseSetstripeArgs('-c 1 -i 0').layout!);
    await client.lustre.setstripe('/spread/on1', parseSetstripeArgs('-c 1 -i 1').layout!);
    await client.paths.writeFile('/spread/on0', randomBytes(3 * MiB));
    const refused = await failure(client.paths.writeFile('/spread/on1', randomBytes(3 * MiB)));
    expect(refused.code).toBe('EDQUOT');
    await client.paths.writeFile('/spread/on1', randomBytes(MiB));
    expect((await client.lustre.getQuota(104)).usedBytes).toBeLessThanOrEqual(5 * MiB);
  });

  it('refuse creates past the inode limit with EDQUOT', async () => {
    await client.paths.mkdir('/few');
    await client.lustre.setProject('/few', 102, { inherit: true });
    await client.lustre.setQuota(102, { blockHardBytes: 0, inodeHard: 3 });
    await client.paths.writeFile('/few/a', Buffer.from('a'));
    await client.paths.mkdir('/few/b');
    const refused = await failure(client.paths.open('/few/c', O_RDWR | O_CREAT, 0o644));
    expect(refused.code).toBe('EDQUOT');
    await client.paths.unlink('/few/a');
    await client.paths.writeFile('/few/c', Buffer.from('c'));
  });

  it('keep usage right across restarts of an OST and of the MDT', async () => {
    await client.paths.mkdir('/crash');
    await client.lustre.setProject('/crash', 103, { inherit: true });
    await client.lustre.setQuota(103, { blockHardBytes: 0, inodeHard: 100 });
    for (const name of ['a', 'b', 'c']) await client.paths.writeFile(`/crash/${name}`, randomBytes(MiB));
    const before = await client.lustre.getQuota(103);
    expect(before.usedBytes).toBeGreaterThanOrEqual(3 * MiB);
    for (const ost of c.cluster.osts.map((o) => o.index)) {
      await c.cluster.stopOst(ost);
      await c.cluster.restartOst(ost);
    }
    const restarted = await c.cluster.startMdt();
    const { reply } = await restarted.client.call(quotaGet, { projid: 103 });
    expect(reply).toEqual(before);
  });

  it('leave files outside any project alone', async () => {
    const e = await failure(client.lustre.setQuota(0, { blockHardBytes: 1, inodeHard: 1 }));
    expect(isKlError(e, 'EINVAL')).toBe(true);
    expect((await client.lustre.getQuota(0)).usedBytes).toBe(0);
  });
});
