import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  PCC_CONFIG_KEY,
  PCC_RULES_KEY,
  type PublishedPccClass,
  pccConfigMapName,
} from '../builders/pcc-config-map.ts';
import type { Condition, KubeObject, PccClass } from '../k8s/objects.ts';
import { Resources } from '../k8s/resources.ts';
import {
  NAMESPACE,
  type OperatorFixture,
  startOperatorFixture,
  waitFor,
} from '../testing/operator-fixture.ts';

/** The PCCClass reconciler against a real kube-apiserver: what it publishes for the CSI node plugin. */

vi.setConfig({ testTimeout: 30_000 });

let f: OperatorFixture;

beforeAll(async () => {
  f = await startOperatorFixture({ kubelet: false });
}, 240_000);

afterAll(async () => {
  await f?.[Symbol.asyncDispose]();
}, 90_000);

function pccClass(name: string, fileNames: string[]): PccClass {
  return {
    apiVersion: 'kubelustre.io/v1alpha1',
    kind: 'PCCClass',
    metadata: { name },
    spec: {
      cache: { hostPath: '/var/lib/kubelustre-pcc', size: '100Gi' },
      mode: 'readonly',
      autoAttach: [{ fileNames }, { uids: [1000, 1001] }],
    },
  };
}

const ready = (pcc: PccClass | undefined) =>
  (pcc?.status?.conditions as Condition[] | undefined)?.find((c) => c.type === 'Ready');

describe('PCCClass reconciler', () => {
  it('publishes the class, its mount settings and its rules in a ConfigMap, and says so', async () => {
    await f.client.create(pccClass('fast', ['*.h5', '*.nc']));
    type ConfigMap = KubeObject & { data: Record<string, string> };
    const cm = await waitFor('the ConfigMap', () =>
      f.client.get<ConfigMap>(Resources.ConfigMap, { namespace: NAMESPACE, name: pccConfigMapName('fast') }),
    );
    const published = JSON.parse(cm.data[PCC_CONFIG_KEY]!) as PublishedPccClass;
    expect(published.mount).toEqual({
      cacheBytes: 100 * 2 ** 30,
      highWatermarkPercent: 90,
      lowWatermarkPercent: 75,
      autoAttachRules: 2,
    });
    expect(cm.data[PCC_RULES_KEY]).toBe('fname={*.h5 *.nc}\nuid={1000 1001}\n');
    const condition = await waitFor('Ready', async () =>
      ready(await f.client.get<PccClass>(Resources.PCCClass, { name: 'fast' })),
    );
    expect(condition).toMatchObject({ status: 'True', reason: 'Published' });
  });

  it('refuses to publish a class whose rules the mount could not read', async () => {
    await f.client.create(pccClass('bad', ['my file.h5']));
    const condition = await waitFor('Ready', async () =>
      ready(await f.client.get<PccClass>(Resources.PCCClass, { name: 'bad' })),
    );
    expect(condition).toMatchObject({ status: 'False', reason: 'InvalidSpec' });
    expect(condition.message).toContain('"my file.h5"');
    const cm = await f.client.get(Resources.ConfigMap, {
      namespace: NAMESPACE,
      name: pccConfigMapName('bad'),
    });
    expect(cm).toBeUndefined();
  });
});
