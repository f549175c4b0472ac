import { randomBytes } from 'node:crypto';
import { isKlError } from '@kubelustre/protocol/errors.ts';
import { parseSetstripeArgs } from '@kubelustre/protocol/layout/setstripe-args.ts';
import { pool } from '@kubelustre/protocol/messages/mgs.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT_FID } from './attr.ts';
import type { KlClient } from './fs-client.ts';
import { O_RDWR } from './mode.ts';
import { type ClientCluster, startClientCluster } from './testing/client-cluster.ts';

const template = (args: string) => parseSetstripeArgs(args).layout!;

let c: ClientCluster;
let client: KlClient;

beforeAll(async () => {
  c = await startClientCluster(2);
  client = await c.client();
}, 30_000);
afterAll(async () => {
  await c?.[Symbol.asyncDispose]();
});

describe('layouts', () => {
  it('sets, reads and removes a directory default that new files inherit', async () => {
    await client.paths.mkdir('/striped');
    await client.lustre.setstripe('/striped', template('-c 2 -S 128K'));
    const dirDefault = await client.lustre.getLayout('/striped');
    expect(dirDefault.isDirectory).toBe(true);
    expect(dirDefault.layout!.components[0]).toMatchObject({ stripeCount: 2, stripeSize: 128 * 1024 });
    await client.paths.writeFile('/striped/f', randomBytes(1000));
    const file = (await client.lustre.getLayout('/striped/f')).layout!;
    expect(file.components[0]!.objects).toHaveLength(2);
    await client.lustre.removeDirDefault('/striped');
    expect((await client.lustre.getLayout('/striped')).layout).toBeUndefined();
  });

  it('creates a missing file with the layout, and replaces the layout of an empty one only', async () => {
    const created = await client.lustre.setstripe('/made', template('-c 1'));
    expect(created!.components[0]!.stripeCount).toBe(1);
    expect((await client.paths.stat('/made')).size).toBe(0);
    await client.lustre.setstripe('/made', template('-c 2'));
    expect((await client.lustre.getLayout('/made')).layout!.components[0]!.stripeCount).toBe(2);
    await client.paths.writeFile('/made', Buffer.from('data'));
    const refused = await client.lustre.setstripe('/made', template('-c 1')).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isKlError(refused)).toBe(true);
  });

  it('refuses a template naming an OST that does not exist', async () => {
    const refused = await client.lustre.setstripe('/nowhere', template('-c 1 -i 9')).catch((e: unknown) => e);
    expect(isKlError(refused, 'EINVAL')).toBe(true);
  });
});

describe('layouts by FID (for the FUSE adapter)', () => {
  const user = { uid: 1000, gid: 1000, groups: [] };

  it('gets and sets a directory default by FID, for its owner only', async () => {
    const dir = await client.paths.mkdir('/byfid');
    expect(await client.lustre.getLayoutOf(dir.fid)).toEqual({
      fid: dir.fid,
      isDirectory: true,
      layout: undefined,
    });
    const stored = await client.lustre.setLayoutOf(dir.fid, template('-c 2 -S 256K'));
    expect(stored!.components[0]).toMatchObject({ stripeCount: 2, stripeSize: 256 * 1024 });
    expect((await client.lustre.getLayoutOf(dir.fid)).layout).toEqual(stored);
    const denied = await client.lustre.setLayoutOf(dir.fid, template('-c 1'), user).catch((e: unknown) => e);
    expect(isKlError(denied, 'EPERM')).toBe(true);
    const invalid = await client.lustre.setLayoutOf(dir.fid, template('-c 1 -i 9')).catch((e: unknown) => e);
    expect(isKlError(invalid, 'EINVAL')).toBe(true);
  });

  it("sets an empty file's layout by FID, which a handle open on it writes through at once", async () => {
    const node = await client.inodes.create(ROOT_FID, 'laid-out', 0o644);
    const h = await client.inodes.open(node, O_RDWR);
    const denied = await client.lustre
      .setLayoutOf(node.attr.fid, template('-c 2'), user)
      .catch((e: unknown) => e);
    expect(isKlError(denied, 'EACCES')).toBe(true);
    await client.lustre.setLayoutOf(node.attr.fid, template('-c 2 -S 64K'));
    await h.write(randomBytes(128 * 1024), 0);
    await h.close();
    const { layout } = await client.lustre.getLayoutOf(node.attr.fid);
    expect(layout!.components[0]!.objects).toHaveLength(2);
    const refused = await client.lustre.setLayoutOf(node.attr.fid, template('-c 1')).catch((e: unknown) => e);
    expect(isKlError(refused, 'EEXIST')).toBe(true);
  });
});

describe('space and pools', () => {
  it('reports lfs df rows for every target and a summary', async () => {
    const rows = await client.lustre.df('/mnt/fs1');
    expect(rows.map((r) => r.uuid)).toEqual([
      'fs1-MDT0000_UUID',
      'fs1-OST0000_UUID',
      'fs1-OST0001_UUID',
      'filesystem_summary:',
    ]);
    expect(rows.every((r) => !r.inactive && r.kib.total > 0)).toBe(true);
    const statfs = await client.lustre.statfs();
    expect(Math.floor(statfs.totalBytes / 1024)).toBe(rows[3]!.kib.total);
    expect(statfs.files).toBeGreaterThan(0);
  });

  it('lists pools as the MGS configuration changes, without reconnecting', async () => {
    const mgs = c.cluster.client(c.cluster.mgsAddress);
    await mgs.call(pool, { op: 'new', pool: 'fast', osts: [] });
    await mgs.call(pool, { op: 'add', pool: 'fast', osts: [1] });
    await expect
      .poll(() => client.lustre.poolList(), { timeout: 5000, interval: 50 })
      .toEqual([{ name: 'fast', osts: [1] }]);
  });
});

describe('configuration changes', () => {
  it('stripes new files over an OST added while connected', async () => {
    await c.cluster.addOst(2);
    await expect
      .poll(() => client.config.targets.filter((t) => t.role === 'ost').length, { timeout: 5000 })
      .toBe(3);
    const data = randomBytes(3 * 64 * 1024);
    await expect
      .poll(
        async () => {
          const path = `/wide-${randomBytes(4).toString('hex')}`;
          await client.lustre.setstripe(path, template('-c -1 -S 64K'));
          await client.paths.writeFile(path, data);
          const objects = (await client.lustre.getLayout(path)).layout!.components[0]!.objects!;
          if (!(await client.paths.readFile(path)).equals(data)) throw new Error('data differs');
          return objects.map((o) => o.ostIdx).sort();
        },
        { timeout: 10_000, interval: 200 },
      )
      .toEqual([0, 1, 2]);
  }, 20_000);
});
