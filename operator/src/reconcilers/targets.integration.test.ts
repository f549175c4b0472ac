import { silentLogger } from '@kubelustre/protocol/log.ts';
import { config } from '@kubelustre/protocol/messages/mgs.ts';
import { RpcClient } from '@kubelustre/protocol/wire/rpc-client.ts';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Condition, KubeObject, LayoutPolicy, LustreFileSystem, OstPool } from '../k8s/objects.ts';
import { Resources, resourcePath } from '../k8s/resources.ts';
import { ContentType } from '../k8s/rest.ts';
import {
  NAMESPACE,
  type OperatorFixture,
  startOperatorFixture,
  waitFor,
} from '../testing/operator-fixture.ts';

/**
 * The operator with real `kubelustre-target` processes (run by the FakeKubelet): a filesystem reaches
 * Ready with its capacity from the MGS, pools and the default layout land on the real MGS, OSTs scale
 * up, and deletion stops every process.
 */

vi.setConfig({ testTimeout: 60_000 });

let f: OperatorFixture;
const ns = NAMESPACE;
const KEY_HEX = 'cd'.repeat(32);

beforeAll(async () => {
  f = await startOperatorFixture({ kubelet: true });
  await f.client.create({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'omega-key', namespace: ns },
    data: { key: Buffer.from(KEY_HEX).toString('base64') },
  });
  await f.client.create(fileSystem());
  await f.client.create(pool('fast', [0, 1]));
  await f.client.create(policy());
}, 240_000);

afterAll(async () => {
  await f?.[Symbol.asyncDispose]();
}, 90_000);

function fileSystem(): LustreFileSystem {
  return {
    apiVersion: 'kubelustre.io/v1alpha1',
    kind: 'LustreFileSystem',
    metadata: { name: 'omega', namespace: ns },
    spec: {
      fsName: 'omega',
      mgs: { storage: { size: '1Gi' } },
      mdts: { count: 1, storage: { size: '1Gi' } },
      osts: { count: 2, storage: { size: '1Gi' } },
      defaultLayout: { policyName: 'omega-pfl' },
      sharedKeySecretRef: { name: 'omega-key' },
    },
  };
}

function pool(name: string, indexes: number[]): OstPool {
  return {
    apiVersion: 'kubelustre.io/v1alpha1',
    kind: 'OSTPool',
    metadata: { name, namespace: ns },
    spec: { fileSystem: 'omega', osts: { indexes } },
  };
}

function policy(): LayoutPolicy {
  return {
    apiVersion: 'kubelustre.io/v1alpha1',
    kind: 'LayoutPolicy',
    metadata: { name: 'omega-pfl', namespace: ns },
    spec: {
      fileSystem: 'omega',
      appliesTo: { fileSystemDefault: true },
      components: [
        { end: 1048576, mdt: true },
        { end: -1, stripeCount: -1, stripeSize: 4194304, pool: 'fast' },
      ],
    },
  };
}

const getFs = () =>
  f.client.get<LustreFileSystem>(Resources.LustreFileSystem, { namespace: ns, name: 'omega' });

async function readyCondition(
  resource: typeof Resources.OSTPool | typeof Resources.LayoutPolicy,
  name: string,
) {
  const o = await f.client.get<KubeObject & { status?: { conditions?: Condition[] } }>(resource, {
    namespace: ns,
    name,
  });
  return o?.status?.conditions?.find((c) => c.type === 'Ready');
}

/** The configuration the MGS process serves, asked directly with the shared key. */
async function mgsConfig() {
  const rpc = new RpcClient({
    address: f.kubelet!.mgsAddressOf('omega')!,
    key: Buffer.from(KEY_HEX, 'hex'),
    clientUuid: '00000000-0000-4000-8000-000000000001',
    log: silentLogger,
    requestTimeoutMs: 5000,
  });
  try {
    return (await rpc.call(config, { sinceVersion: -1, waitMs: 0 })).reply;
  } finally {
    rpc.close();
  }
}

describe('a LustreFileSystem with running targets', () => {
  it('becomes Ready with every target, its capacity from the MGS and its mount target', async () => {
    const fs = await waitFor(
      'omega Ready with capacity',
      async () => {
        const now = await getFs();
        return now?.status?.phase === 'Ready' && now.status.capacity !== undefined ? now : undefined;
      },
      45_000,
    );
    expect(fs.status).toMatchObject({
      ready: { mgs: 1, mdts: 1, osts: 2 },
      mountTarget: 'omega-mgs.default.svc.cluster.local:988:/omega',
    });
    expect(fs.status?.capacity?.total).toMatch(/^[0-9.]+[KMGTPE]i$/);
    expect(fs.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({
      status: 'True',
      reason: 'AllTargetsReady',
    });
  });

  it('pushes an OSTPool to the MGS and reports it Ready', async () => {
    const ready = await waitFor('pool fast Ready', async () => {
      const c = await readyCondition(Resources.OSTPool, 'fast');
      return c?.status === 'True' ? c : undefined;
    });
    expect(ready.message).toBe('Pool omega.fast holds OSTs 0-1');
    expect((await mgsConfig()).pools).toEqual({ fast: [0, 1] });
  });

  it('sends the default layout of its LayoutPolicy to the MGS', async () => {
    await waitFor('omega-pfl Applied', async () =>
      (await readyCondition(Resources.LayoutPolicy, 'omega-pfl'))?.reason === 'Applied' ? true : undefined,
    );
    const layout = (await mgsConfig()).defaultLayout;
    expect(layout.components.map((c) => [c.pattern, c.end, c.pool])).toEqual([
      ['mdt', 1048576, undefined],
      ['raid0', -1, 'fast'],
    ]);
  });

  it('refuses a pool naming an OST the filesystem does not have', async () => {
    await f.client.create(pool('far', [1, 5]));
    const c = await waitFor('pool far refused', () => readyCondition(Resources.OSTPool, 'far'));
    expect(c).toMatchObject({
      status: 'False',
      reason: 'OSTNotFound',
      message: 'OST 5 not in omega, which has 2 OSTs (0-1)',
    });
    expect((await mgsConfig()).pools.far).toBeUndefined();
  });

  it('starts a third OST when osts.count grows, and counts it once it registered', async () => {
    await patchSpec(Resources.LustreFileSystem, 'omega', { osts: { count: 3 } });
    await waitFor(
      '3 OSTs ready',
      async () => ((await getFs())?.status?.ready?.osts === 3 ? true : undefined),
      45_000,
    );
    expect((await mgsConfig()).targets.filter((t) => t.role === 'ost' && t.state === 'up')).toHaveLength(3);
  });

  it('takes a deleted OSTPool off the MGS', async () => {
    await f.client.create(pool('slow', [2]));
    await waitFor('pool slow on the MGS', async () => ((await mgsConfig()).pools.slow ? true : undefined));
    await f.client.delete(Resources.OSTPool, { namespace: ns, name: 'slow' });
    await waitFor('pool slow gone', async () =>
      (await f.client.get(Resources.OSTPool, { namespace: ns, name: 'slow' })) === undefined
        ? true
        : undefined,
    );
    expect((await mgsConfig()).pools.slow).toBeUndefined();
  });

  it('stops every target process when deleted', async () => {
    expect(Object.keys(f.kubelet!.pids())).toHaveLength(5);
    await f.client.delete(Resources.LustreFileSystem, { namespace: ns, name: 'omega' });
    await waitFor('omega gone', async () => ((await getFs()) === undefined ? true : undefined));
    await waitFor('processes stopped', async () =>
      Object.keys(f.kubelet!.pids()).length === 0 ? true : undefined,
    );
  });
});

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
