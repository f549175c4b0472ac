import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import type { LustreFileSystem, StatefulSet } from '../k8s/objects.ts';
import { configMap } from './config-map.ts';
import { DEFAULT_BUILD_CONTEXT as ctx, mountTarget } from './names.ts';
import { podDisruptionBudget } from './pod-disruption-budget.ts';
import { headlessService } from './service.ts';
import { mgsStatefulSet, targetStatefulSet } from './stateful-set.ts';

/**
 * Golden files: what the operator creates for examples/lustre-filesystem.yaml. A change to a builder
 * shows up as a reviewable diff of __golden__/. After an intended change:
 *   UPDATE_GOLDEN=1 npx vitest run --project operator operator/src/builders
 */

/** The parts of a StatefulSet's spec these tests look at. */
interface Shape {
  template: {
    spec: {
      affinity?: unknown;
      securityContext: { sysctls?: Array<{ name: string; value: string }> };
      containers: Array<{
        args: string[];
        image: string;
        env: Array<{ valueFrom?: { fieldRef?: { fieldPath: string } } }>;
      }>;
    };
  };
  persistentVolumeClaimRetentionPolicy: { whenDeleted: string };
}
const shape = (sts: StatefulSet) => sts.spec as unknown as Shape;

const GOLDEN_DIR = join(import.meta.dirname, '__golden__');
const EXAMPLE = join(import.meta.dirname, '..', '..', '..', 'examples', 'lustre-filesystem.yaml');

async function exampleFs(): Promise<LustreFileSystem> {
  const fs = parse(await readFile(EXAMPLE, 'utf8')) as LustreFileSystem;
  // What the API server adds: the namespace, a uid and the schema's defaults.
  fs.metadata = { ...fs.metadata, namespace: 'storage', uid: '0b6c2d1e-6f0a-4c7e-9d55-3f1f2a9c8e11' };
  fs.spec.targetPort = 988;
  fs.spec.sharedKeySecretRef.key = 'key';
  return fs;
}

async function expectGolden(file: string, object: unknown): Promise<void> {
  const path = join(GOLDEN_DIR, file);
  const rendered = stringify(object, { lineWidth: 0, aliasDuplicateObjects: false });
  if (process.env.UPDATE_GOLDEN === '1') await writeFile(path, rendered);
  const golden = await readFile(path, 'utf8').catch(() => '');
  expect(
    rendered,
    `__golden__/${file} is stale: UPDATE_GOLDEN=1 npx vitest run --project operator operator/src/builders`,
  ).toBe(golden);
}

describe('golden files', () => {
  it.each([
    ['mgs-statefulset.yaml', (fs: LustreFileSystem) => mgsStatefulSet(fs)],
    ['mdt-statefulset.yaml', (fs: LustreFileSystem) => targetStatefulSet(fs, 'mdt')],
    ['ost-statefulset.yaml', (fs: LustreFileSystem) => targetStatefulSet(fs, 'ost')],
    ['mgs-service.yaml', (fs: LustreFileSystem) => headlessService(fs, 'mgs')],
    ['ost-service.yaml', (fs: LustreFileSystem) => headlessService(fs, 'ost')],
    ['configmap.yaml', (fs: LustreFileSystem) => configMap(fs)],
    ['ost-pdb.yaml', (fs: LustreFileSystem) => podDisruptionBudget(fs, 'ost')],
  ])('%s', async (file, build) => {
    await expectGolden(file, build(await exampleFs()));
  });
});

describe('targetStatefulSet', () => {
  it('runs one pod per OST, each taking its index from its ordinal', async () => {
    const sts = targetStatefulSet(await exampleFs(), 'ost');
    expect(sts.spec.replicas).toBe(2);
    const container = shape(sts).template.spec.containers[0]!;
    expect(container.args).toContain('$(POD_INDEX)');
    expect(container.env[1]?.valueFrom?.fieldRef?.fieldPath).toBe(
      "metadata.labels['apps.kubernetes.io/pod-index']",
    );
    expect(container.args.join(' ')).toContain(
      '--advertise $(POD_NAME).demo-ost.storage.svc.cluster.local:988',
    );
  });

  it('keeps more replicas than the spec when told to (a refused scale-down)', async () => {
    expect(targetStatefulSet(await exampleFs(), 'ost', ctx, 5).spec.replicas).toBe(5);
  });

  it("takes the spec's affinity instead of the default spreading", async () => {
    const fs = await exampleFs();
    const affinity = {
      nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [] } },
    };
    fs.spec.osts.affinity = affinity;
    expect(shape(targetStatefulSet(fs, 'ost')).template.spec.affinity).toEqual(affinity);
  });

  it('deletes claims with the StatefulSet only under reclaimPolicy Delete', async () => {
    const fs = await exampleFs();
    expect(shape(targetStatefulSet(fs, 'mdt')).persistentVolumeClaimRetentionPolicy.whenDeleted).toBe(
      'Retain',
    );
    fs.spec.reclaimPolicy = 'Delete';
    expect(shape(targetStatefulSet(fs, 'mdt')).persistentVolumeClaimRetentionPolicy.whenDeleted).toBe(
      'Delete',
    );
  });

  it('lowers the privileged-port boundary only for a port below 1024', async () => {
    const fs = await exampleFs();
    const sysctls = (s: StatefulSet) => shape(s).template.spec.securityContext.sysctls;
    expect(sysctls(targetStatefulSet(fs, 'ost'))).toEqual([
      { name: 'net.ipv4.ip_unprivileged_port_start', value: '988' },
    ]);
    fs.spec.targetPort = 9880;
    expect(sysctls(targetStatefulSet(fs, 'ost'))).toBeUndefined();
  });

  it('uses the image from the spec, else the default', async () => {
    const fs = await exampleFs();
    const image = (s: ReturnType<typeof mgsStatefulSet>) => shape(s).template.spec.containers[0]!.image;
    expect(image(mgsStatefulSet(fs))).toBe(ctx.defaultImage);
    fs.spec.image = 'registry.example/kubelustre:dev';
    expect(image(mgsStatefulSet(fs))).toBe('registry.example/kubelustre:dev');
  });
});

describe('mountTarget', () => {
  it('is the MGS Service DNS name, the port and the fsname', async () => {
    expect(mountTarget(await exampleFs(), { ...ctx, clusterDomain: 'k8s.example' })).toBe(
      'demo-mgs.storage.svc.k8s.example:988:/demo',
    );
  });
});
