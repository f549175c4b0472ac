/**
 * The end-to-end test, on the real single-node cluster scripts/e2e-cluster.sh starts (scripts/e2e.sh
 * runs both): installs the chart with its example filesystem (1 MGS, 1 MDT, 2 OSTs on local volumes),
 * waits for it to be Ready, provisions a ReadWriteMany claim from a StorageClass with a PFL layout, has
 * two pods write and read each other's files through it, checks the layout with `kubelustre lfs
 * getstripe` in a pod, then deletes the pods and the claim and checks that the node's mounts and the
 * volume's directory are gone. Each step is a check; the first that fails stops the run with
 * diagnostics, and the last line counts the checks that passed and failed.
 *
 *   node test/e2e/e2e.ts          (as root, with the cluster up; env KUBELUSTRE_E2E_DIR as the cluster's)
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseSetstripeArgs } from '@kubelustre/protocol/layout/setstripe-args.ts';
import { parse as parseYaml } from 'yaml';
import { layoutMismatches, parseGetstripe } from './getstripe-output.ts';
import { apply, exec, exists, helm, kubectl, kubectlJson, run, STATE_DIR, waitFor } from './kube.ts';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const VALUES_FILE = join(REPO, 'test/e2e/values.yaml');
const IMAGES_ENV = join(
  process.env.KUBELUSTRE_CACHE ?? join(process.env.HOME ?? '/root', '.cache/kubelustre'),
  'e2e-images/images.env',
);
const NODE = 'kubelustre-e2e';
const RELEASE = 'kubelustre';
const SYSTEM_NS = 'kubelustre';
const APP_NS = 'e2e';
const LOCAL_CLASS = 'e2e-local';
const LOCAL_VOLUMES = 6;
const CLAIM = 'shared';
const PODS = ['writer-a', 'writer-b'] as const;
const BIG_FILE_BYTES = 3 * 1024 * 1024;
const MIN = 60_000;

interface Values {
  image: { repository: string; tag: string };
  csi: { storageClass: { name: string; setstripe: string } };
  exampleFileSystem: { name: string; fsName: string };
}
const values = parseYaml(readFileSync(VALUES_FILE, 'utf8')) as Values;
const FS = values.exampleFileSystem.name;
const IMAGE = `${values.image.repository}:${values.image.tag}`;

// ---------------------------------------------------------------- the steps

/** Local PersistentVolumes for the targets' claims: directories under the cluster's state. */
async function makeLocalVolumes(): Promise<void> {
  const objects: object[] = [
    {
      apiVersion: 'storage.k8s.io/v1',
      kind: 'StorageClass',
      metadata: { name: LOCAL_CLASS },
      provisioner: 'kubernetes.io/no-provisioner',
      volumeBindingMode: 'WaitForFirstConsumer',
      reclaimPolicy: 'Retain',
    },
  ];
  for (let i = 0; i < LOCAL_VOLUMES; i++) {
    const path = join(STATE_DIR, 'volumes', `local-${i}`);
    mkdirSync(path, { recursive: true });
    objects.push({
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: { name: `e2e-local-${i}` },
      spec: {
        capacity: { storage: '2Gi' },
        accessModes: ['ReadWriteOnce'],
        persistentVolumeReclaimPolicy: 'Retain',
        storageClassName: LOCAL_CLASS,
        local: { path },
        nodeAffinity: {
          required: {
            nodeSelectorTerms: [
              { matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [NODE] }] },
            ],
          },
        },
      },
    });
  }
  await apply(objects);
}

async function installChart(): Promise<void> {
  const images = Object.fromEntries(
    readFileSync(IMAGES_ENV, 'utf8')
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => l.split('=', 2) as [string, string]),
  );
  await helm(
    [
      'install',
      RELEASE,
      join(REPO, 'charts/kubelustre'),
      '--namespace',
      SYSTEM_NS,
      '--create-namespace',
      '--values',
      VALUES_FILE,
      '--set',
      `csi.node.kubeletDir=${join(STATE_DIR, 'kubelet')}`,
      '--set',
      `csi.controller.provisioner.image.tag=${images.csi_provisioner_tag}`,
      '--set',
      `csi.controller.resizer.image.tag=${images.csi_resizer_tag}`,
      '--set',
      `csi.node.registrar.image.tag=${images.stand_ins_tag}`,
      '--set',
      `csi.node.livenessProbe.image.tag=${images.stand_ins_tag}`,
      '--wait',
      '--timeout',
      '5m',
    ],
    { timeoutMs: 6 * MIN },
  );
}

async function waitForFileSystem(): Promise<void> {
  await kubectl(
    ['wait', '-n', SYSTEM_NS, '--for=condition=Ready', `lustrefilesystem/${FS}`, '--timeout=300s'],
    { timeoutMs: 6 * MIN },
  );
}

interface Claim {
  status: { phase: string };
  spec: { volumeName?: string };
}
interface Volume {
  spec: { csi: { volumeHandle: string } };
}

async function provisionClaim(): Promise<{ pvName: string; handle: string }> {
  await apply([
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: APP_NS } },
    {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: CLAIM, namespace: APP_NS },
      spec: {
        accessModes: ['ReadWriteMany'],
        storageClassName: values.csi.storageClass.name,
        resources: { requests: { storage: '1Gi' } },
      },
    },
  ]);
  let pvName = '';
  await waitFor(`claim ${APP_NS}/${CLAIM} Bound`, 3 * MIN, async () => {
    const claim = await kubectlJson<Claim>(['get', '-n', APP_NS, 'pvc', CLAIM]);
    pvName = claim.spec.volumeName ?? '';
    return claim.status.phase === 'Bound' || `phase ${claim.status.phase}`;
  });
  const pv = await kubectlJson<Volume>(['get', 'pv', pvName]);
  return { pvName, handle: pv.spec.csi.volumeHandle };
}

async function startPods(pvName: string): Promise<Map<string, string>> {
  await apply(
    PODS.map((name) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: APP_NS },
      spec: {
        terminationGracePeriodSeconds: 1,
        containers: [
          {
            name: 'app',
            image: IMAGE,
            imagePullPolicy: 'Never',
            command: ['sleep', 'infinity'],
            volumeMounts: [{ name: 'shared', mountPath: '/data' }],
          },
        ],
        volumes: [{ name: 'shared', persistentVolumeClaim: { claimName: CLAIM } }],
      },
    })),
  );
  await kubectl(
    ['wait', '-n', APP_NS, '--for=condition=Ready', ...PODS.map((p) => `pod/${p}`), '--timeout=180s'],
    { timeoutMs: 4 * MIN },
  );
  const uids = new Map<string, string>();
  for (const pod of PODS) {
    uids.set(
      pod,
      (await kubectl(['get', '-n', APP_NS, 'pod', pod, '-o', 'jsonpath={.metadata.uid}'])).trim(),
    );
  }
  // On the node: the volume staged once (globalmount) and published into each pod's directory.
  const mounts = await mountsMatching([pvName]);
  const staged = mounts.filter((m) => m.target.endsWith('/globalmount'));
  const published = [...uids.values()].filter((uid) => mounts.some((m) => m.target.includes(uid)));
  if (staged.length !== 1 || published.length !== PODS.length) {
    throw new Error(
      `expected ${pvName} staged once and published to ${PODS.length} pods: ${JSON.stringify(mounts)}`,
    );
  }
  return uids;
}

function sh(pod: string, script: string): Promise<string> {
  return exec(APP_NS, pod, ['sh', '-c', script]);
}

/** Each pod writes a file, and reads the other's; a 3 MiB file crosses both PFL components. */
async function shareData(): Promise<void> {
  const [a, b] = PODS;
  const tokens = { [a]: randomBytes(16).toString('hex'), [b]: randomBytes(16).toString('hex') };
  await sh(a, `echo ${tokens[a]} > /data/from-${a}`);
  await sh(b, `echo ${tokens[b]} > /data/from-${b}`);
  for (const [reader, writer] of [
    [a, b],
    [b, a],
  ] as const) {
    const got = (await sh(reader, `cat /data/from-${writer}`)).trim();
    if (got !== tokens[writer])
      throw new Error(`${reader} read "${got}" from ${writer}'s file, expected "${tokens[writer]}"`);
  }
  const written = await sh(a, `head -c ${BIG_FILE_BYTES} /dev/urandom > /data/big && sha256sum /data/big`);
  const read = await sh(b, 'stat -c %s /data/big && sha256sum /data/big');
  const [size, readSum] = read.trim().split('\n') as [string, string];
  if (Number(size) !== BIG_FILE_BYTES)
    throw new Error(`${b} sees /data/big with ${size} bytes, ${a} wrote ${BIG_FILE_BYTES}`);
  if (readSum.split(' ')[0] !== written.split(' ')[0]) {
    throw new Error(`${b} read /data/big as ${readSum}, ${a} wrote ${written.trim()}`);
  }
}

/** The big file's layout, printed by `kubelustre lfs getstripe` in a pod, is the StorageClass's PFL. */
async function checkLayout(): Promise<void> {
  const output = await exec(APP_NS, PODS[1], ['kubelustre', 'lfs', 'getstripe', '/data/big']);
  console.log(output.trimEnd().replace(/^/gm, '    '));
  const template = parseSetstripeArgs(values.csi.storageClass.setstripe).layout!;
  const problems = layoutMismatches(parseGetstripe(output), template);
  if (problems.length > 0) throw new Error(`layout of /data/big: ${problems.join('; ')}`);
}

interface Mount {
  target: string;
  source: string;
}

/** The mounts of this machine whose target or source (a volume's path shows in it) contains any of `parts`. */
async function mountsMatching(parts: readonly string[]): Promise<Mount[]> {
  const lines = (await run('findmnt', ['-rn', '-o', 'TARGET,SOURCE'])).split('\n').filter(Boolean);
  return lines
    .map((line) => {
      const [target = '', source = ''] = line.split(' ');
      return { target, source };
    })
    .filter((m) => parts.some((p) => m.target.includes(p) || m.source.includes(p)));
}

async function deletePods(uids: Map<string, string>, pvName: string): Promise<void> {
  await kubectl(['delete', '-n', APP_NS, 'pod', ...PODS, '--wait=true', '--timeout=120s'], {
    timeoutMs: 3 * MIN,
  });
  // NodeUnpublishVolume for each pod, then NodeUnstageVolume once the node has no pod using it.
  await waitFor(`the node's mounts of ${pvName} gone`, MIN, async () => {
    const left = await mountsMatching([pvName, ...uids.values()]);
    return left.length === 0 || `still mounted: ${left.map((m) => m.target).join(', ')}`;
  });
}

/** `lfs getstripe -d` of the volume's directory, from the MGS pod (it has the key); undefined when gone. */
async function volumeDirectory(handle: string): Promise<string | undefined> {
  const m = /^(.+:\d+):\/[\w.-]+(\/.*)$/.exec(handle);
  if (!m) throw new Error(`volume handle ${handle} is not MGS:PORT:/FSNAME/PATH`);
  const [, mgs, path] = m as unknown as [string, string, string];
  try {
    return await exec(SYSTEM_NS, `${FS}-mgs-0`, [
      'kubelustre',
      'lfs',
      'getstripe',
      '-d',
      '--mgs',
      mgs,
      '--key-file',
      '/etc/kubelustre/key/key',
      path,
    ]);
  } catch (e) {
    if (e instanceof Error && /No such file|ENOENT/.test(e.message)) return undefined;
    throw e;
  }
}

async function deleteClaim(pvName: string, handle: string): Promise<void> {
  if ((await volumeDirectory(handle)) === undefined)
    throw new Error(`the volume's directory (${handle}) is missing before the claim's deletion`);
  await kubectl(['delete', '-n', APP_NS, 'pvc', CLAIM, '--wait=true', '--timeout=120s'], {
    timeoutMs: 3 * MIN,
  });
  await waitFor(
    `PersistentVolume ${pvName} deleted`,
    2 * MIN,
    async () => !(await exists(['pv', pvName])) || 'still there',
  );
  if ((await volumeDirectory(handle)) !== undefined)
    throw new Error(`the volume's directory (${handle}) is still there`);
}

// ---------------------------------------------------------------- the run

async function diagnostics(): Promise<void> {
  const commands: string[][] = [
    ['get', 'nodes,pods,pvc,pv,sc', '-A', '-o', 'wide'],
    ['get', 'lustrefilesystems', '-A', '-o', 'yaml'],
    ['describe', 'pods', '-n', SYSTEM_NS],
    ['describe', 'pods,pvc', '-n', APP_NS],
    ['get', 'events', '-A', '--sort-by=.lastTimestamp'],
  ];
  for (const args of commands) {
    console.log(`--- kubectl ${args.join(' ')}`);
    console.log(await kubectl(args).catch((e: Error) => e.message));
  }
  const pods = await kubectl(['get', 'pods', '-n', SYSTEM_NS, '-o', 'name']).catch(() => '');
  for (const pod of pods.split('\n').filter(Boolean)) {
    console.log(`--- logs of ${pod} (all containers, last 60 lines each)`);
    console.log(
      await kubectl(['logs', '-n', SYSTEM_NS, pod, '--all-containers', '--prefix', '--tail=60']).catch(
        (e: Error) => e.message,
      ),
    );
  }
}

async function main(): Promise<void> {
  let passed = 0;
  let failed = 0;
  const step = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const started = Date.now();
    console.log(`e2e: ${name} ...`);
    try {
      const result = await fn();
      passed++;
      console.log(`e2e: ok ${name} (${((Date.now() - started) / 1000).toFixed(1)}s)`);
      return result;
    } catch (e) {
      failed++;
      console.log(
        `e2e: FAILED ${name} after ${((Date.now() - started) / 1000).toFixed(1)}s: ${e instanceof Error ? e.message : e}`,
      );
      throw e;
    }
  };
  try {
    await step('local volumes for the targets', makeLocalVolumes);
    await step('helm install of the chart', installChart);
    await step(`filesystem ${FS} Ready (1 MGS, 1 MDT, 2 OSTs)`, waitForFileSystem);
    const { pvName, handle } = await step(
      'ReadWriteMany claim provisioned from the PFL StorageClass',
      provisionClaim,
    );
    const uids = await step('two pods mounting the claim', () => startPods(pvName));
    await step('each pod reads what the other wrote', shareData);
    await step('lfs getstripe in a pod shows the StorageClass layout', checkLayout);
    await step('pods deleted, the volume unmounted from the node', () => deletePods(uids, pvName));
    await step('claim deleted, its volume and directory gone', () => deleteClaim(pvName, handle));
  } catch {
    await diagnostics();
  }
  console.log(`e2e: ${passed} passed, ${failed} failed`);
  process.exitCode = failed > 0 ? 1 : 0;
}

await main();
