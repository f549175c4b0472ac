import { existsSync, mkdtempSync } from 'node:fs';
import { open, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCluster, type TestCluster } from '../harness/cluster.ts';
import { CsiTestClient } from './csi-client.ts';
import { type PluginProcess, startPluginProcess, stopPluginTest } from './csi-harness.ts';

const canMount = process.getuid?.() === 0 && existsSync('/dev/fuse');
const RWX = { mount: { fsType: '', mountFlags: [] }, accessMode: { mode: 'MULTI_NODE_MULTI_WRITER' } };
const MiB = 1024 * 1024;
/** Linux's EDQUOT ("Disk quota exceeded"). */
const EDQUOT_ERRNO = 122;

interface Usage {
  unit: string;
  total: number;
  used: number;
  available: number;
}

/**
 * A claim's capacity is real: the volume's project quota, enforced by the targets on writes through a
 * published mount, raised by ControllerExpandVolume, and what NodeGetVolumeStats reports.
 */
describe.skipIf(!canMount)('CSI: capacity as a project quota', () => {
  let tc: TestCluster;
  let dir: string;
  let plugin: PluginProcess;
  let csi: CsiTestClient;

  beforeAll(async () => {
    tc = await startTestCluster({ osts: 2 });
    dir = mkdtempSync(join(tmpdir(), 'kl-csi-quota-'));
    plugin = await startPluginProcess({
      socket: join(dir, 'csi.sock'),
      stateDir: join(dir, 'state'),
      nodeId: 'node-a',
      keyFile: tc.cluster.state.keyFile,
    });
    csi = new CsiTestClient(plugin.socket);
  }, 120_000);

  afterAll(async () => {
    await stopPluginTest({ csi, plugin, dir });
    await tc?.[Symbol.asyncDispose]();
  }, 120_000);

  it('refuses writes past the capacity with EDQUOT, keeps what came before, and grows on expand', async () => {
    const spec = `${tc.cluster.mgsAddress}:/${tc.cluster.state.fsName}`;
    const created = await csi.controller<{ volume: { volumeId: string; capacityBytes: number } }>(
      'CreateVolume',
      {
        name: 'pvc-capped',
        capacityRange: { requiredBytes: 8 * MiB, limitBytes: 0 },
        volumeCapabilities: [RWX],
        parameters: { mgs: spec, setstripe: '-c 1', inodeLimit: '100' },
      },
    );
    const { volumeId, capacityBytes } = created.volume;
    expect(capacityBytes).toBe(8 * MiB);
    const staging = join(dir, 'staging');
    const target = join(dir, 'pod', 'mount');
    await csi.node('NodeStageVolume', { volumeId, stagingTargetPath: staging, volumeCapability: RWX });
    await csi.node('NodePublishVolume', {
      ...{ volumeId, stagingTargetPath: staging, targetPath: target },
      ...{ volumeCapability: RWX, readonly: false },
    });

    const first = Buffer.alloc(6 * MiB, 1);
    await writeFile(join(target, 'first'), first);
    const stats = await volumeStats(csi, volumeId, target);
    expect(stats.bytes.total).toBe(8 * MiB);
    expect(stats.bytes.used).toBeGreaterThanOrEqual(6 * MiB);
    expect(stats.inodes).toMatchObject({ total: 100, used: 2 });

    const refused = await writeAndSync(join(target, 'second'), 4 * MiB).catch(
      (e: NodeJS.ErrnoException) => e,
    );
    // libuv has no name for EDQUOT, so Node reports it by number only.
    expect((refused as NodeJS.ErrnoException).errno).toBe(-EDQUOT_ERRNO);
    expect((await readFile(join(target, 'first'))).equals(first)).toBe(true);

    await expect(
      csi.controller('ControllerExpandVolume', {
        volumeId,
        capacityRange: { requiredBytes: 0, limitBytes: MiB },
      }),
    ).rejects.toMatchObject({ code: status.OUT_OF_RANGE });
    const expanded = await csi.controller<{ capacityBytes: number }>('ControllerExpandVolume', {
      volumeId,
      capacityRange: { requiredBytes: 16 * MiB, limitBytes: 0 },
    });
    expect(expanded.capacityBytes).toBe(16 * MiB);
    await csi.node('NodeExpandVolume', {
      ...{ volumeId, volumePath: target },
      capacityRange: { requiredBytes: 16 * MiB, limitBytes: 0 },
    });
    await writeAndSync(join(target, 'second'), 4 * MiB);
    expect((await volumeStats(csi, volumeId, target)).bytes.total).toBe(16 * MiB);

    await csi.node('NodeUnpublishVolume', { volumeId, targetPath: target });
    await csi.node('NodeUnstageVolume', { volumeId, stagingTargetPath: staging });
    await csi.controller('DeleteVolume', { volumeId });
  }, 120_000);
});

async function writeAndSync(path: string, bytes: number): Promise<void> {
  const f = await open(path, 'w');
  try {
    await f.write(Buffer.alloc(bytes, 2));
    await f.sync();
  } finally {
    await f.close().catch(() => undefined);
  }
}

async function volumeStats(csi: CsiTestClient, volumeId: string, volumePath: string) {
  const { usage } = await csi.node<{ usage: Usage[] }>('NodeGetVolumeStats', { volumeId, volumePath });
  return { bytes: usage.find((u) => u.unit === 'BYTES')!, inodes: usage.find((u) => u.unit === 'INODES')! };
}
