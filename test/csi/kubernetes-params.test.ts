import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { KlClient } from '@kubelustre/client/fs-client.ts';
import { ContentType, KubeRest } from '@kubelustre/operator/k8s/rest.ts';
import { layoutTemplate } from '@kubelustre/operator/policy/layout.ts';
import { type ControlPlane, startControlPlane } from '@kubelustre/operator/testing/control-plane.ts';
import { installCrds } from '@kubelustre/operator/testing/custom-objects.ts';
import { silentLogger } from '@kubelustre/protocol/log.ts';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCluster, type TestCluster } from '../harness/cluster.ts';
import { CsiTestClient } from './csi-client.ts';
import { type PluginProcess, startPluginProcess, stopPluginProcess, stopPluginTest } from './csi-harness.ts';

const NS = 'storage';
const FS_NAME = 'kltest';
const GROUP = '/apis/kubelustre.io/v1alpha1';
const RWX = { mount: { fsType: '', mountFlags: [] }, accessMode: { mode: 'MULTI_NODE_MULTI_WRITER' } };
/** A PFL: 4 MiB on one OST, the rest striped over both. */
const COMPONENTS = [
  { end: 4 * 1024 * 1024, stripeCount: 1 },
  { end: -1, stripeCount: 2 },
];

/**
 * StorageClasses that name Kubernetes objects: a real kube-apiserver holds the LustreFileSystem (its
 * status written as the operator would, pointing at a real local cluster through --mgs-address), its
 * key Secret and a LayoutPolicy; the controller runs as its own process with --kubeconfig and no key.
 */
describe('CSI: filesystem and layoutPolicy parameters through the Kubernetes API', () => {
  let controlPlane: ControlPlane | undefined;
  let tc: TestCluster | undefined;
  let dir: string | undefined;
  let plugin: PluginProcess | undefined;
  let csi: CsiTestClient;

  const startController = async () => {
    plugin = await startPluginProcess({
      socket: join(dir!, 'csi.sock'),
      stateDir: join(dir!, 'state'),
      nodeId: 'controller',
      mode: 'controller',
      extraArgs: [
        ...['--kubeconfig', controlPlane!.kubeconfigPath],
        ...['--mgs-address', `${NS}/demo=${tc!.cluster.mgsAddress}`],
        ...['--mgs-address', `${NS}/starting=${tc!.cluster.mgsAddress}`],
      ],
    });
    csi = new CsiTestClient(plugin.socket);
  };

  beforeAll(async () => {
    [controlPlane, tc] = await Promise.all([
      startControlPlane(),
      startTestCluster({ osts: 2, fsName: FS_NAME }),
    ]);
    await installCrds(controlPlane);
    const kc = new KubeConfig();
    kc.loadFromFile(controlPlane.kubeconfigPath);
    await createObjects(new KubeRest(kc), tc.cluster.key);
    dir = mkdtempSync(join(tmpdir(), 'kl-csi-k8s-'));
    await startController();
  }, 240_000);

  afterAll(async () => {
    await stopPluginTest({ csi, plugin, dir });
    await tc?.[Symbol.asyncDispose]();
    await controlPlane?.[Symbol.asyncDispose]();
  }, 120_000);

  const createVolume = (name: string, parameters: Record<string, string>) =>
    csi.controller<{ volume: { volumeId: string } }>('CreateVolume', {
      name,
      volumeCapabilities: [RWX],
      parameters,
    });

  it("creates the volume in the filesystem's MGS with the policy as its default layout", async () => {
    const { volume } = await createVolume('pvc-policy', { filesystem: `${NS}/demo`, layoutPolicy: 'wide' });
    expect(volume.volumeId).toBe(`${tc!.cluster.mgsAddress}:/${FS_NAME}/volumes/pvc-policy`);
    await using client = await new KlClient({
      mgs: tc!.cluster.mgsAddress,
      key: tc!.cluster.key,
      log: silentLogger,
    }).connect();
    const info = await client.lustre.getLayout('/volumes/pvc-policy');
    const shape = (l: typeof info.layout) => l?.components.map((c) => [c.start, c.end, c.stripeCount]);
    expect(shape(info.layout)).toEqual(shape(layoutTemplate(COMPONENTS)));
    await csi.controller('DeleteVolume', { volumeId: volume.volumeId });
  }, 60_000);

  it("lists and deletes after a restart with no key but the filesystem's Secret", async () => {
    const { volume } = await createVolume('pvc-restart', { filesystem: `${NS}/demo` });
    csi.close();
    await stopPluginProcess(plugin!);
    await startController();
    const listed = await csi.controller<{ entries: Array<{ volume: { volumeId: string } }> }>(
      'ListVolumes',
      {},
    );
    expect(listed.entries.map((e) => e.volume.volumeId)).toEqual([volume.volumeId]);
    await csi.controller('DeleteVolume', { volumeId: volume.volumeId });
    await using client = await new KlClient({
      mgs: tc!.cluster.mgsAddress,
      key: tc!.cluster.key,
      log: silentLogger,
    }).connect();
    expect(await client.paths.readdir('/volumes')).toEqual([]);
  }, 60_000);

  it('refuses an unknown filesystem or policy by name, and waits for a filesystem that is not Ready', async () => {
    await expect(createVolume('pvc-x', { filesystem: `${NS}/nope` })).rejects.toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: `LustreFileSystem ${NS}/nope does not exist`,
    });
    await expect(
      createVolume('pvc-x', { filesystem: `${NS}/demo`, layoutPolicy: 'nope' }),
    ).rejects.toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: `LayoutPolicy ${NS}/nope does not exist`,
    });
    await expect(createVolume('pvc-x', { filesystem: `${NS}/starting` })).rejects.toMatchObject({
      code: status.UNAVAILABLE,
      details: expect.stringContaining(`LustreFileSystem ${NS}/starting is not Ready (TargetsNotReady:`),
    });
  }, 60_000);
});

/** The namespace, the key Secret, two LustreFileSystems (one Ready, one starting) and a LayoutPolicy. */
async function createObjects(api: KubeRest, key: Buffer): Promise<void> {
  await api.request('POST', '/api/v1/namespaces', { body: { metadata: { name: NS } } });
  const secret = {
    metadata: { name: 'demo-key' },
    data: { key: Buffer.from(key.toString('hex')).toString('base64') },
  };
  await api.request('POST', `/api/v1/namespaces/${NS}/secrets`, { body: secret });
  await createFilesystem(api, 'demo', { status: 'True', reason: 'AllTargetsReady', message: 'Serving' });
  await createFilesystem(api, 'starting', {
    status: 'False',
    reason: 'TargetsNotReady',
    message: 'OSTs 0/2',
  });
  const policy = {
    apiVersion: 'kubelustre.io/v1alpha1',
    kind: 'LayoutPolicy',
    metadata: { name: 'wide' },
    spec: { fileSystem: 'demo', components: COMPONENTS, appliesTo: { directories: ['/volumes'] } },
  };
  await api.request('POST', `${GROUP}/namespaces/${NS}/layoutpolicies`, { body: policy });
}

/** A LustreFileSystem with the status the operator writes: Ready as given, the in-cluster mountTarget. */
async function createFilesystem(
  api: KubeRest,
  name: string,
  ready: { status: string; reason: string; message: string },
): Promise<void> {
  const fs = {
    apiVersion: 'kubelustre.io/v1alpha1',
    kind: 'LustreFileSystem',
    metadata: { name },
    spec: {
      fsName: FS_NAME,
      mgs: { storage: { size: '1Gi' } },
      mdts: { count: 1, storage: { size: '1Gi' } },
      osts: { count: 2, storage: { size: '1Gi' } },
      sharedKeySecretRef: { name: 'demo-key' },
    },
  };
  const path = `${GROUP}/namespaces/${NS}/lustrefilesystems/${name}`;
  await api.request('POST', `${GROUP}/namespaces/${NS}/lustrefilesystems`, { body: fs });
  const status = {
    phase: ready.status === 'True' ? 'Ready' : 'Progressing',
    conditions: [
      { type: 'Ready', ...ready, lastTransitionTime: new Date().toISOString().replace(/\.\d+/, '') },
    ],
    mountTarget: `${name}-mgs.${NS}.svc.cluster.local:988:/${FS_NAME}`,
  };
  await api.request('PATCH', `${path}/status`, { body: { status }, contentType: ContentType.mergePatch });
}
