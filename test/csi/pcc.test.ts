import { existsSync, mkdirSync, mkdtempSync, readdirSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { setxattrSyscall } from '@kubelustre/client/mount/syscalls.ts';
import { pccConfigMap } from '@kubelustre/operator/builders/pcc-config-map.ts';
import type { PccClass } from '@kubelustre/operator/k8s/objects.ts';
import { KubeRest } from '@kubelustre/operator/k8s/rest.ts';
import { type ControlPlane, startControlPlane } from '@kubelustre/operator/testing/control-plane.ts';
import { installCrds } from '@kubelustre/operator/testing/custom-objects.ts';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mountAt, readMounts } from '../../csi-driver/src/kernel-mounts.ts';
import { startTestCluster, type TestCluster } from '../harness/cluster.ts';
import { CsiTestClient } from './csi-client.ts';
import { type PluginProcess, startPluginProcess, stopPluginProcess, stopPluginTest } from './csi-harness.ts';

const canMount = process.getuid?.() === 0 && existsSync('/dev/fuse');
const OPERATOR_NS = 'kubelustre-system';
const GROUP = '/apis/kubelustre.io/v1alpha1';
const RWX = { mount: { fsType: '', mountFlags: [] }, accessMode: { mode: 'MULTI_NODE_MULTI_WRITER' } };

/**
 * StorageClass `pccClass`: the controller checks the PCCClass in a real kube-apiserver; the node plugin
 * reads the class's ConfigMap (as the operator publishes it) and mounts the filesystem with PCC, or,
 * when the class cannot be used on the node, without it, saying why in its log.
 */
describe.skipIf(!canMount)('CSI: pccClass through the Kubernetes API and the node mount', () => {
  let controlPlane: ControlPlane | undefined;
  let tc: TestCluster | undefined;
  let dir: string;
  let plugin: PluginProcess | undefined;
  let csi: CsiTestClient;
  let spec: string;

  beforeAll(async () => {
    [controlPlane, tc] = await Promise.all([startControlPlane(), startTestCluster({ osts: 1 })]);
    spec = `${tc.cluster.mgsAddress}:/${tc.cluster.state.fsName}`;
    await installCrds(controlPlane);
    dir = mkdtempSync(join(tmpdir(), 'kl-csi-pcc-'));
    mkdirSync(join(dir, 'cache'));
    const kc = new KubeConfig();
    kc.loadFromFile(controlPlane.kubeconfigPath);
    const api = new KubeRest(kc);
    await api.request('POST', '/api/v1/namespaces', { body: { metadata: { name: OPERATOR_NS } } });
    const rules = [{ fileNames: ['*.h5'] }];
    await createPccClass(api, 'fast', join(dir, 'cache'), true, rules);
    await createPccClass(api, 'broken', join(dir, 'no-such-dir'), true);
    await createPccClass(api, 'unpublished', join(dir, 'cache'), false);
    plugin = await startPluginProcess({
      socket: join(dir, 'csi.sock'),
      stateDir: join(dir, 'state'),
      nodeId: 'node-a',
      keyFile: tc.cluster.state.keyFile,
      extraArgs: pluginArgs(),
    });
    csi = new CsiTestClient(plugin.socket);
  }, 240_000);

  const pluginArgs = () => [
    '--kubeconfig',
    controlPlane!.kubeconfigPath,
    '--pcc-namespace',
    OPERATOR_NS,
    '--metrics-address',
    '127.0.0.1:0',
  ];
  /** A scrape of the plugin's /metrics (the port it logged it bound). */
  const scrape = async () => {
    const port = /Opened \/metrics on 127\.0\.0\.1:(\d+)/.exec(plugin!.output())?.[1];
    expect(port, plugin!.output()).toBeDefined();
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(res.status).toBe(200);
    return res.text();
  };

  afterAll(async () => {
    await stopPluginTest({ csi, plugin, dir });
    await tc?.[Symbol.asyncDispose]();
    await controlPlane?.[Symbol.asyncDispose]();
  }, 120_000);

  const createVolume = (name: string, pccClass: string) =>
    csi.controller<{ volume: { volumeId: string; volumeContext: Record<string, string> } }>('CreateVolume', {
      name,
      volumeCapabilities: [RWX],
      parameters: { mgs: spec, pccClass },
    });
  const stage = (volumeId: string, staging: string, volumeContext: Record<string, string>) =>
    csi.node('NodeStageVolume', {
      volumeId,
      stagingTargetPath: staging,
      volumeCapability: RWX,
      volumeContext,
    });
  const unstage = (volumeId: string, staging: string) =>
    csi.node('NodeUnstageVolume', { volumeId, stagingTargetPath: staging });
  /** Our filesystem mounts under the plugin's state directory (not the staging binds). */
  const fsMounts = () =>
    readMounts()
      .map((m) => m.mountpoint)
      .filter((m) => m.startsWith(join(dir, 'state', 'mounts')));

  it('refuses a StorageClass naming a PCCClass that does not exist', async () => {
    await expect(createVolume('pvc-nope', 'nope')).rejects.toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: 'PCCClass nope does not exist',
    });
  }, 60_000);

  it('mounts a volume of a usable class with its PCC: its rules auto-attach, lfs pcc attach works', async () => {
    const { volume } = await createVolume('pvc-fast', 'fast');
    expect(volume.volumeContext).toEqual({ pccClass: 'fast' });
    const staging = join(dir, 'staging-fast');
    await stage(volume.volumeId, staging, volume.volumeContext);
    const pccMount = fsMounts().find((m) => m.endsWith('-pcc-fast'));
    expect(pccMount, plugin!.output()).toBeDefined();
    const cacheDir = join(dir, 'cache', pccMount!.split('/').at(-1)!);
    expect(existsSync(cacheDir)).toBe(true);
    expect(plugin!.output()).not.toContain("Left out PCC options this node's mount refuses");
    // The class's autoAttach rule (fname={*.h5}) attaches on a read-only open; other files are not.
    await writeFile(join(staging, 'model.h5'), 'weights');
    await writeFile(join(staging, 'notes.txt'), 'text');
    expect(await readFile(join(staging, 'notes.txt'), 'utf8')).toBe('text');
    expect(await readFile(join(staging, 'model.h5'), 'utf8')).toBe('weights');
    // Copies are named by FID; the cache's own files start with a dot.
    const copies = () => readdirSync(cacheDir).filter((n) => !n.startsWith('.'));
    await waitUntil(() => copies().length > 0, 'the auto-attached copy');
    expect(copies()).toHaveLength(1);
    setxattrSyscall(join(staging, 'notes.txt'), 'lustre.pcc', Buffer.from('attach'));
    expect(copies()).toHaveLength(2);
    // A second volume of the class shares the mount; unstaging both releases it.
    const second = await createVolume('pvc-fast-2', 'fast');
    await stage(second.volume.volumeId, join(dir, 'staging-fast-2'), second.volume.volumeContext);
    expect(fsMounts().filter((m) => m.endsWith('-pcc-fast'))).toHaveLength(1);
    await unstage(volume.volumeId, staging);
    await unstage(second.volume.volumeId, join(dir, 'staging-fast-2'));
    expect(mountAt(pccMount!)).toBeUndefined();
  }, 120_000);

  it('mounts without PCC, and says why, when the cache path is unusable or the class unpublished', async () => {
    for (const [name, why] of [
      ['broken', /cache directory .*no-such-dir.* is unusable: ENOENT/],
      ['unpublished', /PCCClass unpublished is not published \(no ConfigMap kubelustre-pcc-unpublished\)/],
    ] as const) {
      const { volume } = await createVolume(`pvc-${name}`, name);
      const staging = join(dir, `staging-${name}`);
      await stage(volume.volumeId, staging, volume.volumeContext);
      expect(mountAt(staging), plugin!.output()).toBeDefined();
      const pccMounts = fsMounts().filter((m) => m.split('/').at(-1)!.includes('-pcc-'));
      expect(pccMounts, plugin!.output()).toEqual([]);
      expect(plugin!.output()).toMatch(why);
      expect(plugin!.output()).toContain('Mounting the volume without PCC');
      // The volume works (no PCC: lfs pcc attach is refused with ENOTSUP).
      await writeFile(join(staging, 'f.h5'), 'x');
      expect(() => setxattrSyscall(join(staging, 'f.h5'), 'lustre.pcc', Buffer.from('attach'))).toThrow(
        /ENOTSUP|EOPNOTSUPP/,
      );
      await unstage(volume.volumeId, staging);
    }
  }, 120_000);

  it("serves the PCC mount's counters on --metrics-address, by mount and class, also after a restart", async () => {
    const { volume } = await createVolume('pvc-metrics', 'fast');
    const staging = join(dir, 'staging-metrics');
    await stage(volume.volumeId, staging, volume.volumeContext);
    const key = fsMounts()
      .find((m) => m.endsWith('-pcc-fast'))
      ?.split('/')
      .at(-1);
    expect(key, plugin!.output()).toBeDefined();
    const attaches = (text: string) =>
      text
        .split('\n')
        .find((l) => l.startsWith(`kubelustre_pcc_attaches_total{mount="${key}",pcc_class="fast"} `))
        ?.split(' ')[1];
    expect(attaches(await scrape()), await scrape()).toBe('0');
    await writeFile(join(staging, 'weights.bin'), 'w');
    setxattrSyscall(join(staging, 'weights.bin'), 'lustre.pcc', Buffer.from('attach'));
    const after = await scrape();
    expect(attaches(after), after).toBe('1');
    expect(after).toContain(`kubelustre_pcc_enabled{mount="${key}",pcc_class="fast"} 1`);
    expect(after).toMatch(/^kubelustre_csi_metrics_scrape_errors_total 0$/m);
    expect(after).toContain('process_cpu_seconds_total');
    // A new plugin process adopts the mount (it outlives the plugin) and scrapes it on.
    csi.close();
    await stopPluginProcess(plugin!);
    plugin = await startPluginProcess({
      socket: join(dir, 'csi.sock'),
      stateDir: join(dir, 'state'),
      nodeId: 'node-a',
      keyFile: tc!.cluster.state.keyFile,
      extraArgs: pluginArgs(),
    });
    csi = new CsiTestClient(plugin.socket);
    expect(attaches(await scrape()), plugin.output()).toBe('1');
    // Unstaged, the mount is gone from the plugin's metrics (and its socket with it).
    await unstage(volume.volumeId, staging);
    const gone = await scrape();
    expect(gone).not.toContain(`mount="${key}"`);
    expect(gone).toMatch(/^kubelustre_csi_metrics_scrape_errors_total 0$/m);
  }, 120_000);
});

/** A PCCClass and, if `publish`, the ConfigMap the operator would publish for it. */
async function createPccClass(
  api: KubeRest,
  name: string,
  hostPath: string,
  publish: boolean,
  autoAttach?: PccClass['spec']['autoAttach'],
): Promise<void> {
  const body = {
    apiVersion: 'kubelustre.io/v1alpha1',
    kind: 'PCCClass',
    metadata: { name },
    spec: { cache: { hostPath, size: '1Gi' }, mode: 'readonly', ...(autoAttach && { autoAttach }) },
  };
  const created = await api.request<PccClass>('POST', `${GROUP}/pccclasses`, { body });
  if (!publish) return;
  const cm = pccConfigMap(created, OPERATOR_NS);
  await api.request('POST', `/api/v1/namespaces/${OPERATOR_NS}/configmaps`, { body: cm });
}

async function waitUntil(probe: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
