import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { targetStatefulSet } from '../builders/stateful-set.ts';
import { LeaderElector } from '../controller/leader-election.ts';
import type { KubeObject, LustreFileSystem, StatefulSet } from '../k8s/objects.ts';
import { Resources, resourcePath } from '../k8s/resources.ts';
import { ContentType } from '../k8s/rest.ts';
import {
  NAMESPACE,
  type OperatorFixture,
  startOperatorFixture,
  waitFor,
} from '../testing/operator-fixture.ts';
import { FILESYSTEM_FINALIZER } from './filesystem-teardown.ts';

/**
 * The filesystem reconciler against a real kube-apiserver, with no kubelet: StatefulSets never get
 * pods, which is enough to check what the operator creates, scales, refuses and tears down.
 */

vi.setConfig({ testTimeout: 30_000 });

let f: OperatorFixture;
const ns = NAMESPACE;

beforeAll(async () => {
  f = await startOperatorFixture({ kubelet: false });
}, 240_000);

afterAll(async () => {
  await f?.[Symbol.asyncDispose]();
}, 90_000);

const KEY_HEX = 'ab'.repeat(32);

function fileSystem(
  name: string,
  osts: number,
  extra: Partial<LustreFileSystem['spec']> = {},
): LustreFileSystem {
  return {
    apiVersion: 'kubelustre.io/v1alpha1',
    kind: 'LustreFileSystem',
    metadata: { name, namespace: ns },
    spec: {
      fsName: name,
      mgs: { storage: { size: '1Gi' } },
      mdts: { count: 1, storage: { size: '2Gi', storageClassName: 'local-nvme' } },
      osts: { count: osts, storage: { size: '10Gi', storageClassName: 'local-nvme' } },
      sharedKeySecretRef: { name: `${name}-key` },
      ...extra,
    },
  };
}

async function createSecret(name: string): Promise<void> {
  await f.client.create({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: ns },
    data: { key: Buffer.from(KEY_HEX).toString('base64') },
  });
}

const getFs = (name: string) =>
  f.client.get<LustreFileSystem>(Resources.LustreFileSystem, { namespace: ns, name });
const getSts = (name: string) => f.client.get<StatefulSet>(Resources.StatefulSet, { namespace: ns, name });

async function condition(name: string, type: string) {
  const fs = await getFs(name);
  return fs?.status?.conditions?.find((c) => c.type === type);
}

describe('a new LustreFileSystem', () => {
  beforeAll(async () => {
    await createSecret('alpha-key');
    await f.client.create(fileSystem('alpha', 2));
  });

  it('gets a StatefulSet, a headless Service and a PodDisruptionBudget per role, and a ConfigMap', async () => {
    for (const role of ['mgs', 'mdt', 'ost']) {
      const sts = await waitFor(`StatefulSet alpha-${role}`, () => getSts(`alpha-${role}`));
      expect(sts.metadata.ownerReferences?.[0]).toMatchObject({
        kind: 'LustreFileSystem',
        name: 'alpha',
        controller: true,
      });
      const svc = await f.client.get<KubeObject & { spec: { clusterIP: string } }>(Resources.Service, {
        namespace: ns,
        name: `alpha-${role}`,
      });
      expect(svc?.spec.clusterIP).toBe('None');
      expect(
        await f.client.get(Resources.PodDisruptionBudget, { namespace: ns, name: `alpha-${role}` }),
      ).toBeDefined();
    }
    expect((await getSts('alpha-ost'))?.spec.replicas).toBe(2);
    expect((await getSts('alpha-mdt'))?.spec.replicas).toBe(1);
    const cm = await f.client.get<KubeObject & { data: Record<string, string> }>(Resources.ConfigMap, {
      namespace: ns,
      name: 'alpha-lustre',
    });
    expect(cm?.data.mountTarget).toBe('alpha-mgs.default.svc.cluster.local:988:/alpha');
  });

  it('holds the teardown finalizer and reports Pending, waiting for its targets', async () => {
    const fs = await waitFor('alpha status', async () =>
      (await getFs('alpha'))?.status?.phase ? getFs('alpha') : undefined,
    );
    expect(fs.metadata.finalizers).toContain(FILESYSTEM_FINALIZER);
    expect(fs.status).toMatchObject({
      phase: 'Pending',
      observedGeneration: 1,
      ready: { mgs: 0, mdts: 0, osts: 0 },
      mountTarget: 'alpha-mgs.default.svc.cluster.local:988:/alpha',
    });
    expect(await condition('alpha', 'Ready')).toMatchObject({ status: 'False', reason: 'TargetsNotReady' });
    expect(await condition('alpha', 'Progressing')).toMatchObject({
      status: 'True',
      reason: 'WaitingForTargets',
    });
  });

  it('grows its OST StatefulSet when osts.count goes up', async () => {
    await patchSpec(Resources.LustreFileSystem, 'alpha', { osts: { count: 4 } });
    await waitFor('alpha-ost at 4 replicas', async () =>
      (await getSts('alpha-ost'))?.spec.replicas === 4 ? true : undefined,
    );
    await waitFor('observedGeneration 2', async () =>
      (await getFs('alpha'))?.status?.observedGeneration === 2 ? true : undefined,
    );
  });

  it('cannot lower osts.count: the API server refuses it', async () => {
    await expect(patchSpec(Resources.LustreFileSystem, 'alpha', { osts: { count: 1 } })).rejects.toThrow(
      'osts.count cannot be lowered',
    );
  });
});

describe('scale-down', () => {
  it('is refused with a condition when the OST StatefulSet already runs more targets than the spec', async () => {
    // A filesystem recreated over a StatefulSet that outlived it (orphaning delete, restore).
    await createSecret('beta-key');
    const leftover = targetStatefulSet(fileSystem('beta', 3), 'ost');
    delete leftover.metadata.ownerReferences;
    await f.client.create(leftover);
    await f.client.create(fileSystem('beta', 2));
    const degraded = await waitFor('beta Degraded', async () => {
      const c = await condition('beta', 'Degraded');
      return c?.status === 'True' ? c : undefined;
    });
    expect(degraded.reason).toBe('ScaleDownRefused');
    expect(degraded.message).toContain('spec.osts.count is 2 but StatefulSet beta-ost runs 3 OSTs');
    expect((await getFs('beta'))?.status?.phase).toBe('Degraded');
    expect((await getSts('beta-ost'))?.spec.replicas).toBe(3);
  });
});

describe('a missing shared key Secret', () => {
  it('is reported, and nothing is created until the Secret exists', async () => {
    await f.client.create(fileSystem('gamma', 1));
    const c = await waitFor('gamma Degraded', async () => {
      const d = await condition('gamma', 'Degraded');
      return d?.status === 'True' ? d : undefined;
    });
    expect(c).toMatchObject({ reason: 'SharedKeyMissing', message: 'Secret gamma-key does not exist' });
    expect(await condition('gamma', 'Ready')).toMatchObject({ status: 'False', reason: 'SharedKeyMissing' });
    expect(await getSts('gamma-mgs')).toBeUndefined();
    await createSecret('gamma-key');
    await waitFor('gamma-mgs after the Secret appeared', () => getSts('gamma-mgs'));
    await waitFor('gamma no longer Degraded', async () =>
      (await condition('gamma', 'Degraded'))?.status === 'False' ? true : undefined,
    );
  });
});

describe('deleting a LustreFileSystem', () => {
  it('stops OSTs, then MDTs, then the MGS, then removes the rest and keeps claims under Retain', async () => {
    await createSecret('delta-key');
    await f.client.create(fileSystem('delta', 2));
    await waitFor('delta-ost', () => getSts('delta-ost'));
    await createClaim('data-delta-ost-0', 'delta', 'ost');
    await f.client.delete(Resources.LustreFileSystem, { namespace: ns, name: 'delta' });
    await waitFor('delta gone', async () => ((await getFs('delta')) === undefined ? true : undefined));
    expect(await stoppedOrder('delta')).toEqual(['delta-ost', 'delta-mdt', 'delta-mgs']);
    for (const role of ['mgs', 'mdt', 'ost']) {
      expect(await getSts(`delta-${role}`)).toBeUndefined();
      expect(await f.client.get(Resources.Service, { namespace: ns, name: `delta-${role}` })).toBeUndefined();
      expect(
        await f.client.get(Resources.PodDisruptionBudget, { namespace: ns, name: `delta-${role}` }),
      ).toBeUndefined();
    }
    expect(await f.client.get(Resources.ConfigMap, { namespace: ns, name: 'delta-lustre' })).toBeUndefined();
    expect(
      await f.client.get(Resources.PersistentVolumeClaim, { namespace: ns, name: 'data-delta-ost-0' }),
    ).toBeDefined();
  });

  it('deletes the claims under reclaimPolicy Delete', async () => {
    await createSecret('eps-key');
    await f.client.create(fileSystem('eps', 1, { reclaimPolicy: 'Delete' }));
    await waitFor('eps-ost', () => getSts('eps-ost'));
    await createClaim('data-eps-ost-0', 'eps', 'ost');
    await f.client.delete(Resources.LustreFileSystem, { namespace: ns, name: 'eps' });
    await waitFor('eps gone', async () => ((await getFs('eps')) === undefined ? true : undefined));
    // Without a controller-manager, a deleted claim keeps its pvc-protection finalizer: it is going.
    const claim = await f.client.get(Resources.PersistentVolumeClaim, {
      namespace: ns,
      name: 'data-eps-ost-0',
    });
    expect(claim === undefined || claim.metadata.deletionTimestamp !== undefined).toBe(true);
  });
});

describe('the operator process', () => {
  it('serves /healthz, /readyz and /metrics with reconcile counts', async () => {
    const base = `http://127.0.0.1:${f.operator.httpPort}`;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect(await (await fetch(`${base}/readyz`)).text()).toBe('ready: leading\n');
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(
      /kubelustre_operator_reconciles_total\{kind="LustreFileSystem",result="requeue"\} [1-9]/,
    );
    expect(metrics).toContain('kubelustre_operator_queue_depth{kind="OSTPool"}');
    expect(metrics).toContain('kubelustre_operator_leader 1');
  });

  it('holds the leader Lease, which a second instance cannot take while it renews', async () => {
    const lease = await f.client.get<KubeObject & { spec: { holderIdentity: string } }>(Resources.Lease, {
      namespace: ns,
      name: 'kubelustre-operator',
    });
    expect(lease?.spec.holderIdentity).toBeTruthy();
    const standby = new LeaderElector({
      client: f.client,
      namespace: ns,
      leaseName: 'kubelustre-operator',
      identity: 'standby',
      log: pino({ level: 'silent' }),
      retryPeriodMs: 100,
    });
    expect(await standby.acquire(AbortSignal.timeout(1500))).toBe(false);
    expect(standby.isLeader).toBe(false);
  });

  it('hands a released Lease to the next candidate at once', async () => {
    const log = pino({ level: 'silent' });
    const first = new LeaderElector({
      client: f.client,
      namespace: ns,
      leaseName: 'handover',
      identity: 'first',
      log,
      leaseDurationS: 60,
    });
    expect(await first.acquire(AbortSignal.timeout(5000))).toBe(true);
    await first.release();
    const second = new LeaderElector({
      client: f.client,
      namespace: ns,
      leaseName: 'handover',
      identity: 'second',
      log,
      leaseDurationS: 60,
    });
    expect(await second.acquire(AbortSignal.timeout(5000))).toBe(true);
  });
});

/** The StatefulSets the operator deleted, in the order of its Stopping events. */
async function stoppedOrder(fsName: string): Promise<string[]> {
  const events = await f.client.list<
    KubeObject & { reason: string; note: string; eventTime: string; regarding: { name: string } }
  >(Resources.Event, { namespace: ns });
  return events.items
    .filter((e) => e.regarding.name === fsName && e.reason === 'Stopping')
    .sort((a, b) => a.eventTime.localeCompare(b.eventTime))
    .map((e) => /StatefulSet (\S+):/.exec(e.note)![1]!);
}

async function createClaim(name: string, fsName: string, role: string): Promise<void> {
  await f.client.create({
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: {
      name,
      namespace: ns,
      labels: {
        'app.kubernetes.io/name': 'kubelustre-target',
        'app.kubernetes.io/instance': fsName,
        'app.kubernetes.io/component': role,
        'kubelustre.io/filesystem': fsName,
      },
    },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
  });
}

/** Changes the spec by a JSON merge patch: a replace could meet the operator's status write (409). */
async function patchSpec(
  resource: typeof Resources.LustreFileSystem,
  name: string,
  spec: unknown,
): Promise<void> {
  await f.client.rest.request('PATCH', resourcePath(resource, ns, name), {
    body: { spec },
    contentType: ContentType.mergePatch,
  });
}
