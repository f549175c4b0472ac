import { join } from 'node:path';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import type { KubeObject, LustreFileSystem } from './k8s/objects.ts';
import { Resources } from './k8s/resources.ts';
import { type OperatorFixture, startOperatorFixture, waitFor } from './testing/operator-fixture.ts';

/**
 * What a user does, with kubectl: the CRDs applied server-side (the fixture does it as a user would),
 * the shared key Secret created, examples/ applied; the filesystem reaches Ready (its targets run by
 * the FakeKubelet) and `kubectl get lustrefilesystems` shows it in the printer columns.
 */

vi.setConfig({ testTimeout: 90_000 });

const EXAMPLES = join(import.meta.dirname, '..', '..', 'examples');
let f: OperatorFixture;

beforeAll(async () => {
  f = await startOperatorFixture({ kubelet: true });
}, 240_000);

afterAll(async () => {
  await f?.[Symbol.asyncDispose]();
}, 90_000);

it('kubectl apply -f examples/ gives a Ready filesystem that kubectl get lists', async () => {
  const kubectl = f.controlPlane.kubectl;
  await kubectl('create', 'secret', 'generic', 'demo-shared-key', `--from-literal=key=${'5e'.repeat(32)}`);
  const applied = await kubectl('apply', '-f', EXAMPLES);
  expect(applied.stdout).toContain('lustrefilesystem.kubelustre.io/demo created');
  await waitFor(
    'demo Ready with capacity',
    async () => {
      const fs = await f.client.get<LustreFileSystem>(Resources.LustreFileSystem, {
        namespace: 'default',
        name: 'demo',
      });
      return fs?.status?.phase === 'Ready' && fs.status.capacity !== undefined ? fs : undefined;
    },
    60_000,
  );
  const { stdout } = await kubectl('get', 'lustrefilesystems', '-o', 'wide');
  const [header, row] = stdout
    .trim()
    .split('\n')
    .map((line) => line.trim().split(/\s{2,}/));
  expect(header).toEqual(['NAME', 'PHASE', 'MDTS', 'OSTS', 'CAPACITY', 'FSNAME', 'MOUNT', 'AGE']);
  expect(row?.slice(0, 4)).toEqual(['demo', 'Ready', '1', '2']);
  expect(row?.[4]).toMatch(/^[0-9.]+[KMGTPE]i$/);
  expect(row?.slice(5, 7)).toEqual(['demo', 'demo-mgs.default.svc.cluster.local:988:/demo']);
  const pools = await kubectl('get', 'ostpools', 'fast', '-o', 'jsonpath={.status.conditions[0].reason}');
  expect(pools.stdout).toBe('Applied');
  const pcc = await f.client.get<KubeObject & { data: Record<string, string> }>(Resources.ConfigMap, {
    namespace: 'default',
    name: 'kubelustre-pcc-gpu-nvme',
  });
  expect(JSON.parse(pcc!.data['pccclass.json']!).spec.mode).toBe('readonly');
});
