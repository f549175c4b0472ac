import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCluster, type TestCluster } from '../harness/cluster.ts';
import { type PluginProcess, startPluginProcess, stopPluginProcess, unmountBelow } from './csi-harness.ts';

const execFileAsync = promisify(execFile);
const BUILD_SCRIPT = fileURLToPath(new URL('../../scripts/build-csi-sanity.sh', import.meta.url));
const canMount = process.getuid?.() === 0 && existsSync('/dev/fuse');
const BUILD_TIMEOUT_MS = 900_000;
const SANITY_TIMEOUT_MS = 600_000;

/**
 * Why csi-sanity may skip a spec: each reason names a capability we do not advertise (it says which).
 * Any other skip, and any failure, fails this test: a new skip means a capability changed or broke.
 */
const ALLOWED_SKIP_REASONS = new Set([
  'Controller Publish, UnpublishVolume not supported', // PUBLISH_UNPUBLISH_VOLUME: nothing to attach
  'ControllerPublishVolume not supported',
  'ControllerUnpublishVolume not supported',
  'ControllerModifyVolume not supported', // MODIFY_VOLUME (volume attribute classes)
  'Modify Volume not supported',
  'Modify volume not supported',
  'CreateSnapshot not supported', // CREATE_DELETE_SNAPSHOT, LIST_SNAPSHOTS, GET_SNAPSHOT
  'DeleteSnapshot not supported',
  'GetSnapshot not supported',
  'ListSnapshots not supported',
  'Snapshot not supported',
  'Volume Cloning not supported', // CLONE_VOLUME
  'GroupControllerService not supported', // GROUP_CONTROLLER_SERVICE
  'ControllerGetVolumeHealth not supported', // GET_VOLUME_HEALTH, LIST_VOLUME_HEALTH
  'ControllerListVolumeHealth not supported',
  'NodeGetVolumeHealth not supported',
  'NodeGetStorageHealth not supported', // GET_STORAGE_HEALTH
  'Service does not have single node multi writer capability', // SINGLE_NODE_MULTI_WRITER
]);

interface SpecReport {
  State: string;
  LeafNodeText: string;
  ContainerHierarchyTexts: string[] | null;
  Failure?: { Message: string };
}

/** The whole CSI conformance suite against a real cluster and real FUSE mounts. */
describe.skipIf(!canMount)('csi-sanity', () => {
  let tc: TestCluster;
  let dir: string;
  let plugin: PluginProcess | undefined;
  let sanity: string;

  beforeAll(async () => {
    const { stdout } = await execFileAsync('bash', [BUILD_SCRIPT], { timeout: BUILD_TIMEOUT_MS });
    sanity = stdout.trim().split('\n').at(-1)!;
    tc = await startTestCluster({ osts: 2 });
    dir = mkdtempSync(join(tmpdir(), 'kl-csi-sanity-'));
    plugin = await startPluginProcess({
      socket: join(dir, 'csi.sock'),
      stateDir: join(dir, 'state'),
      nodeId: 'sanity-node',
    });
  }, BUILD_TIMEOUT_MS + 120_000);

  afterAll(async () => {
    if (plugin) await stopPluginProcess(plugin);
    if (dir) {
      unmountBelow(dir);
      rmSync(dir, { recursive: true, force: true });
    }
    await tc?.[Symbol.asyncDispose]();
  }, 120_000);

  it(
    'passes with no failures; skips only what we do not advertise',
    async () => {
      const key = readFileSync(tc.cluster.state.keyFile, 'utf8').trim();
      const spec = `${tc.cluster.mgsAddress}:/${tc.cluster.state.fsName}`;
      writeFileSync(join(dir, 'params.yaml'), `mgs: "${spec}"\nsetstripe: "-c 2"\n`);
      const secretNames = [
        'CreateVolumeSecret',
        'DeleteVolumeSecret',
        'ControllerValidateVolumeCapabilitiesSecret',
      ];
      const secrets = [...secretNames, 'NodeStageVolumeSecret']
        .map((n) => `${n}:\n  key: "${key}"\n`)
        .join('');
      writeFileSync(join(dir, 'secrets.yaml'), secrets);
      // csi-sanity makes the staging and mount directories itself (and removes them after each spec).
      const report = join(dir, 'report.json');
      const args = [
        `--csi.endpoint=unix://${plugin!.socket}`,
        `--csi.stagingdir=${join(dir, 'staging')}`,
        `--csi.mountdir=${join(dir, 'mount')}`,
        `--csi.testvolumeparameters=${join(dir, 'params.yaml')}`,
        `--csi.secrets=${join(dir, 'secrets.yaml')}`,
        `--ginkgo.json-report=${report}`,
        '--ginkgo.no-color',
      ];
      const run = await execFileAsync(sanity, args, { timeout: SANITY_TIMEOUT_MS, maxBuffer: 64 << 20 }).then(
        (r) => ({ ok: true, out: r.stdout }),
        (e: { stdout?: string; stderr?: string }) => ({ ok: false, out: `${e.stdout}\n${e.stderr}` }),
      );
      const specs = (JSON.parse(readFileSync(report, 'utf8')) as Array<{ SpecReports: SpecReport[] }>)
        .flatMap((s) => s.SpecReports)
        .filter((s) => s.LeafNodeText !== '');
      const name = (s: SpecReport) => [...(s.ContainerHierarchyTexts ?? []), s.LeafNodeText].join(' ');
      const failed = specs.filter(
        (s) => s.State !== 'passed' && s.State !== 'skipped' && s.State !== 'pending',
      );
      const skipped = specs.filter((s) => s.State === 'skipped');
      const unexpectedSkips = skipped.filter((s) => !ALLOWED_SKIP_REASONS.has(s.Failure?.Message ?? ''));
      const passed = specs.filter((s) => s.State === 'passed');
      const byReason = Map.groupBy(skipped, (s) => s.Failure?.Message ?? '');
      const reasons = [...byReason].map(([reason, list]) => `  ${list.length} skipped: ${reason}`).join('\n');
      console.log(
        `csi-sanity: ${passed.length} passed, ${failed.length} failed, ${skipped.length} skipped\n${reasons}`,
      );
      const failures = failed.map((s) => `${name(s)}: ${s.Failure?.Message}`).join('\n\n');
      expect(failures, `${run.out.slice(-4000)}\n${plugin!.output().slice(-4000)}`).toBe('');
      expect(unexpectedSkips.map((s) => `${name(s)} (${s.Failure?.Message})`)).toEqual([]);
      expect(run.ok).toBe(true);
      expect(passed.length).toBeGreaterThan(40);
    },
    SANITY_TIMEOUT_MS + 60_000,
  );
});
