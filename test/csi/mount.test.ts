import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { open, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { KlClient } from '@kubelustre/client/fs-client.ts';
import { silentLogger } from '@kubelustre/protocol/log.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mountAt } from '../../csi-driver/src/kernel-mounts.ts';
import { startTestCluster, type TestCluster } from '../harness/cluster.ts';
import { CsiTestClient } from './csi-client.ts';
import { type PluginProcess, startPluginProcess, stopPluginProcess, stopPluginTest } from './csi-harness.ts';

const canMount = process.getuid?.() === 0 && existsSync('/dev/fuse');
const RWX = { mount: { fsType: '', mountFlags: [] }, accessMode: { mode: 'MULTI_NODE_MULTI_WRITER' } };
const ROX = { mount: { fsType: '', mountFlags: [] }, accessMode: { mode: 'MULTI_NODE_READER_ONLY' } };

/**
 * The node side through the Linux kernel: real targets, the plugin as its own process with a node-local
 * key file, the detached FUSE mount process it starts, bind mounts for staging and publishing.
 */
describe.skipIf(!canMount)('CSI node: mounts through the kernel', () => {
  let tc: TestCluster;
  let dir: string;
  let spec: string;
  let plugin: PluginProcess;
  let csi: CsiTestClient;

  const start = async () => {
    plugin = await startPluginProcess({
      socket: join(dir, 'csi.sock'),
      stateDir: join(dir, 'state'),
      nodeId: 'node-a',
      keyFile: tc.cluster.state.keyFile,
    });
    csi = new CsiTestClient(plugin.socket);
  };

  beforeAll(async () => {
    tc = await startTestCluster({ osts: 2 });
    spec = `${tc.cluster.mgsAddress}:/${tc.cluster.state.fsName}`;
    dir = mkdtempSync(join(tmpdir(), 'kl-csi-mount-'));
    await start();
  }, 120_000);

  afterAll(async () => {
    await stopPluginTest({ csi, plugin, dir });
    await tc?.[Symbol.asyncDispose]();
  }, 120_000);

  const createVolume = async (name: string) => {
    const res = await csi.controller<{ volume: { volumeId: string } }>('CreateVolume', {
      name,
      volumeCapabilities: [RWX],
      parameters: { mgs: spec, setstripe: '-c 2' },
    });
    return res.volume.volumeId;
  };
  const stage = (volumeId: string, staging: string) =>
    csi.node('NodeStageVolume', { volumeId, stagingTargetPath: staging, volumeCapability: RWX });
  const publish = (volumeId: string, staging: string, target: string, readonly = false) =>
    csi.node('NodePublishVolume', {
      volumeId,
      stagingTargetPath: staging,
      targetPath: target,
      volumeCapability: readonly ? ROX : RWX,
      readonly,
    });
  const unpublish = (volumeId: string, target: string) =>
    csi.node('NodeUnpublishVolume', { volumeId, targetPath: target });

  it('shares one volume between two publishes, refuses writes on a read-only one', async () => {
    const volumeId = await createVolume('pvc-shared');
    expect(volumeId).toBe(`${spec}/volumes/pvc-shared`);
    const staging = join(dir, 'staging-shared');
    const [a, b, ro] = ['pod-a', 'pod-b', 'pod-ro'].map((p) => join(dir, p, 'mount'));
    await stage(volumeId, staging);
    await stage(volumeId, staging); // idempotent
    await publish(volumeId, staging, a!);
    await publish(volumeId, staging, b!);
    await publish(volumeId, staging, ro!, true);
    await publish(volumeId, staging, a!); // idempotent

    await writeFile(join(a!, 'from-a'), 'written in a');
    await writeFile(join(b!, 'from-b'), 'written in b');
    expect(await readFile(join(b!, 'from-a'), 'utf8')).toBe('written in a');
    expect(await readFile(join(a!, 'from-b'), 'utf8')).toBe('written in b');
    expect(await readFile(join(ro!, 'from-a'), 'utf8')).toBe('written in a');
    await expect(writeFile(join(ro!, 'nope'), 'x')).rejects.toMatchObject({ code: 'EROFS' });
    // A different mode on a published path is refused rather than silently kept.
    await expect(publish(volumeId, staging, ro!, false)).rejects.toMatchObject({
      code: status.ALREADY_EXISTS,
    });

    for (const t of [a!, b!, ro!]) {
      await unpublish(volumeId, t);
      await unpublish(volumeId, t); // idempotent
      expect(existsSync(t)).toBe(false);
    }
    await csi.node('NodeUnstageVolume', { volumeId, stagingTargetPath: staging });
    expect(mountAt(staging)).toBeUndefined();
    await csi.controller('DeleteVolume', { volumeId });
  }, 120_000);

  it('mounts a statically provisioned directory named by its volume handle', async () => {
    await using client = await new KlClient({
      mgs: tc.cluster.mgsAddress,
      key: tc.cluster.key,
      log: silentLogger,
    }).connect();
    await client.paths.mkdir('/datasets');
    await client.paths.mkdir('/datasets/imagenet');
    await client.paths.writeFile('/datasets/imagenet/README', Buffer.from('static'));
    const volumeId = `${spec}/datasets/imagenet`;
    const staging = join(dir, 'staging-static');
    const target = join(dir, 'pod-static', 'mount');
    await stage(volumeId, staging);
    await publish(volumeId, staging, target, true);
    expect(await readFile(join(target, 'README'), 'utf8')).toBe('static');
    await unpublish(volumeId, target);
    await csi.node('NodeUnstageVolume', { volumeId, stagingTargetPath: staging });
    // The driver did not create it, so deleting the volume keeps the directory.
    await csi.controller('DeleteVolume', { volumeId });
    expect((await client.paths.readFile('/datasets/imagenet/README')).toString()).toBe('static');
    await expect(stage(`${spec}/datasets/missing`, join(dir, 'staging-missing'))).rejects.toMatchObject({
      code: status.NOT_FOUND,
    });
  }, 120_000);

  it('keeps a publish in use working across kill -9 of the plugin; unpublish works after restart', async () => {
    const volumeId = await createVolume('pvc-survivor');
    const staging = join(dir, 'staging-survivor');
    const target = join(dir, 'pod-survivor', 'mount');
    await stage(volumeId, staging);
    await publish(volumeId, staging, target);
    const inUse = await open(join(target, 'log'), 'w');
    try {
      await inUse.write('before kill\n');
      csi.close();
      await stopPluginProcess(plugin, 'SIGKILL');

      await inUse.write('while the plugin is down\n');
      await writeFile(join(target, 'new-file'), 'plugin down');
      expect(await readFile(join(target, 'new-file'), 'utf8')).toBe('plugin down');

      await start();
      expect(plugin.output()).toContain('Adopted filesystem mount');
      await inUse.write('after restart\n');
    } finally {
      await inUse.close();
    }
    expect(await readFile(join(target, 'log'), 'utf8')).toBe(
      'before kill\nwhile the plugin is down\nafter restart\n',
    );
    await unpublish(volumeId, target);
    expect(existsSync(target)).toBe(false);
    await csi.node('NodeUnstageVolume', { volumeId, stagingTargetPath: staging });
    // The last staged volume released the filesystem mount; its mount process exits with it.
    expect(mountAt(staging)).toBeUndefined();
    const fsMounts = join(dir, 'state', 'mounts');
    expect(unmountedBelow(fsMounts)).toBe(true);
    await csi.controller('DeleteVolume', { volumeId });
  }, 120_000);
});

function unmountedBelow(path: string): boolean {
  const mountpoints = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4]);
  return !mountpoints.some((m) => m?.startsWith(path));
}
