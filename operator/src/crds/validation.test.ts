import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { type ControlPlane, startControlPlane } from '../testing/control-plane.ts';
import { type CustomObject, CustomObjectClient, installCrds } from '../testing/custom-objects.ts';
import type { LustreFileSystemSpec } from './lustre-filesystem.ts';

/**
 * The CRDs in a real kube-apiserver (test/k8s/control-plane): the examples are accepted, and each
 * invalid manifest is refused with the message our CEL rules give. Needs scripts/build-k8s-tools.sh to
 * have run once; without it the first test fails saying so.
 */

const EXAMPLES_DIR = join(import.meta.dirname, '..', '..', '..', 'examples');
const START_TIMEOUT_MS = 240_000;

let controlPlane: ControlPlane | undefined;
let client: CustomObjectClient;

beforeAll(async () => {
  controlPlane = await startControlPlane();
  const kc = new KubeConfig();
  kc.loadFromFile(controlPlane.kubeconfigPath);
  await installCrds(controlPlane);
  client = new CustomObjectClient(kc);
}, START_TIMEOUT_MS);

afterAll(async () => {
  await controlPlane?.[Symbol.asyncDispose]();
}, 90_000);

async function example(file: string): Promise<CustomObject> {
  return parse(await readFile(join(EXAMPLES_DIR, file), 'utf8')) as CustomObject;
}

/** Sets each dotted path (`spec.components.1.mdt`) to its value; `undefined` removes the field. */
function edited<T>(object: T, edits: Record<string, unknown>): T {
  const copy = structuredClone(object);
  for (const [path, value] of Object.entries(edits)) {
    const keys = path.split('.');
    const last = keys.pop()!;
    let parent = copy as Record<string, unknown>;
    for (const key of keys) parent = parent[key] as Record<string, unknown>;
    if (value === undefined) delete parent[last];
    else parent[last] = value;
  }
  return copy;
}

/** The example in `file` with `edits`, created as a dry run: the API server's refusal message. */
async function refusalOf(file: string, edits: Record<string, unknown>): Promise<string> {
  const object = edited(await example(file), { 'metadata.name': 'refused', ...edits });
  return CustomObjectClient.refusal(client.create(object, 'All'));
}

type Case = [what: string, edits: Record<string, unknown>, message: string];

const dom = { end: 1048576, mdt: true };
const raid0 = (end: number, extra: Record<string, unknown> = {}) => ({ end, stripeCount: 1, ...extra });

describe('examples/', () => {
  it.each(['lustre-filesystem.yaml', 'layout-policy.yaml', 'ost-pool.yaml', 'pcc-class.yaml'])(
    'accepts %s',
    async (file) => {
      const created = await client.create(await example(file));
      expect(created.metadata.uid).toBeDefined();
    },
  );

  it('fills in the defaults of a LustreFileSystem', async () => {
    const object = await example('lustre-filesystem.yaml');
    object.metadata.name = 'defaults';
    const created = (await client.create(object, 'All')) as { spec: LustreFileSystemSpec };
    expect(created.spec.targetPort).toBe(988);
    expect(created.spec.sharedKeySecretRef.key).toBe('key');
  });
});

describe('LustreFileSystem refuses', () => {
  const cases: Case[] = [
    [
      'an fsName over 8 characters',
      { 'spec.fsName': 'muchtoolong' },
      "fsName is at most 8 characters (Lustre's limit)",
    ],
    [
      'an fsName with a dot',
      { 'spec.fsName': 'my.fs' },
      "fsName may contain only letters, digits, '_' and '-'",
    ],
    ['two MGSs', { 'spec.mgs.count': 2 }, 'mgs.count must be 1: a filesystem has exactly one MGS'],
    ['no MDT', { 'spec.mdts.count': 0 }, 'mdts.count must be at least 1'],
    ['no OST', { 'spec.osts.count': 0 }, 'osts.count must be at least 1'],
    [
      'a storage size that is no quantity',
      { 'spec.osts.storage.size': 'lots' },
      'storage.size must be a positive quantity',
    ],
    ['a zero storage size', { 'spec.mdts.storage.size': '0' }, 'storage.size must be a positive quantity'],
    [
      'a default layout naming a policy and giving components',
      { 'spec.defaultLayout.components': [raid0(-1)] },
      'defaultLayout takes either policyName or components, exactly one',
    ],
    [
      'an inline default layout with a DoM component second',
      { 'spec.defaultLayout': { components: [raid0(1048576), dom, raid0(-1)] } },
      'only the first component can be Data-on-MDT (mdt: true)',
    ],
    ['a port above 65535', { 'spec.targetPort': 70000 }, 'spec.targetPort: Invalid value'],
    ['a spec without OSTs', { 'spec.osts': undefined }, 'spec.osts: Required value'],
  ];
  it.each(cases)('%s', async (_what, edits, message) => {
    expect(await refusalOf('lustre-filesystem.yaml', edits)).toContain(message);
  });

  it('changing fsName or lowering the OST count of an existing filesystem', async () => {
    const created = await client.create(
      edited(await example('lustre-filesystem.yaml'), { 'metadata.name': 'grown' }),
    );
    const renamed = CustomObjectClient.refusal(client.replace(edited(created, { 'spec.fsName': 'other' })));
    expect(await renamed).toContain('fsName cannot change once set');
    const shrunk = CustomObjectClient.refusal(client.replace(edited(created, { 'spec.osts.count': 1 })));
    expect(await shrunk).toContain('osts.count cannot be lowered');
    const grown = await client.replace(edited(created, { 'spec.osts.count': 3 }));
    expect((grown.spec as { osts: { count: number } }).osts.count).toBe(3);
  });
});

describe('LayoutPolicy refuses', () => {
  const cases: Case[] = [
    [
      'a DoM component that is not first',
      { 'spec.components': [raid0(1048576), dom, raid0(-1)] },
      'only the first component can be Data-on-MDT (mdt: true)',
    ],
    [
      'a stripe size that is not a multiple of 64 KiB',
      { 'spec.components.1.stripeSize': 100000 },
      'stripeSize must be a positive multiple of 64 KiB (65536 bytes)',
    ],
    [
      'extents with a gap',
      { 'spec.components': [dom, raid0(268435456, { start: 2097152 }), raid0(-1)] },
      'extents are not contiguous: each component starts where the previous one ends',
    ],
    [
      'extents that go backwards',
      { 'spec.components': [raid0(268435456), raid0(1048576), raid0(-1)] },
      'extents are not contiguous: each component must end after the previous one',
    ],
    [
      'a last extent that stops before EOF',
      { 'spec.components': [dom, raid0(268435456)] },
      'the last component must end at EOF (end: -1)',
    ],
    [
      'an EOF extent before the last',
      { 'spec.components': [raid0(-1), raid0(-1)] },
      'only the last component can end at EOF (end: -1)',
    ],
    [
      'an extent end that is not a multiple of 64 KiB',
      { 'spec.components.1.end': 1000000 },
      'end must be -1 (EOF) or a positive multiple of 64 KiB',
    ],
    [
      'a DoM component ending at EOF',
      { 'spec.components': [{ end: -1, mdt: true }] },
      'a Data-on-MDT component (mdt: true) cannot end at EOF',
    ],
    [
      'a DoM component with a pool',
      { 'spec.components.0.pool': 'fast' },
      'a Data-on-MDT component (mdt: true) takes no pool',
    ],
    [
      'a stripe count of 0',
      { 'spec.components.1.stripeCount': 0 },
      'stripeCount must be -1 (all OSTs) or at least 1',
    ],
    [
      'both the filesystem default and directories',
      { 'spec.appliesTo.directories': ['/projects'] },
      'appliesTo takes either fileSystemDefault: true or a list of directories, exactly one',
    ],
    [
      'a relative directory',
      { 'spec.appliesTo': { directories: ['projects/a'] } },
      "directories are absolute paths in the filesystem, starting with '/'",
    ],
    ['no components', { 'spec.components': [] }, 'spec.components: Invalid value'],
  ];
  it.each(cases)('%s', async (_what, edits, message) => {
    expect(await refusalOf('layout-policy.yaml', edits)).toContain(message);
  });
});

describe('OSTPool', () => {
  const cases: Case[] = [
    [
      'a name longer than a Lustre pool name',
      { 'metadata.name': 'sixteen-chars-xx' },
      'at most 15 characters',
    ],
    ['no OSTs', { 'spec.osts': {} }, 'a pool needs at least one OST in osts.indexes or osts.ranges'],
    [
      'a range that ends before it starts',
      { 'spec.osts.ranges.0.first': 3 },
      'an OST range needs first <= last',
    ],
    [
      'a soft limit over the hard limit',
      { 'spec.quotas.0.blockSoftLimit': '200Gi' },
      'blockSoftLimit cannot exceed blockHardLimit',
    ],
    [
      'two quotas for one project',
      {
        'spec.quotas': [
          { type: 'Project', id: 7, blockHardLimit: '1Gi' },
          { type: 'Project', id: 7, blockHardLimit: '2Gi' },
        ],
      },
      'Duplicate value',
    ],
    [
      'a quota without limits',
      { 'spec.quotas': [{ type: 'User', id: 1000 }] },
      'a quota sets blockSoftLimit, blockHardLimit or both',
    ],
  ];
  it.each(cases)('refuses %s', async (_what, edits, message) => {
    expect(await refusalOf('ost-pool.yaml', edits)).toContain(message);
  });

  // Which OSTs exist is the filesystem's to say, and CEL sees one object: the reconciler reports this.
  it('accepts OSTs the filesystem lacks: that check belongs to the reconciler', async () => {
    const object = edited(await example('ost-pool.yaml'), {
      'metadata.name': 'far',
      'spec.osts': { indexes: [99] },
    });
    expect((await client.create(object, 'All')).metadata.name).toBe('far');
  });
});

describe('PCCClass refuses', () => {
  const cases: Case[] = [
    [
      'both a host path and a device',
      { 'spec.cache.hostPath': '/var/cache/pcc' },
      'cache takes either hostPath or device, exactly one',
    ],
    ['a device outside /dev', { 'spec.cache.device': 'nvme1n1' }, "cache.device must be under '/dev/'"],
    ['an unknown mode', { 'spec.mode': 'writeback' }, 'Unsupported value: "writeback"'],
    [
      'a low watermark above the high one',
      { 'spec.eviction': { highWatermarkPercent: 60, lowWatermarkPercent: 80 } },
      'eviction.lowWatermarkPercent must be below highWatermarkPercent',
    ],
    ['an empty auto-attach rule', { 'spec.autoAttach': [{}] }, 'an autoAttach rule needs at least one of'],
  ];
  it.each(cases)('%s', async (_what, edits, message) => {
    expect(await refusalOf('pcc-class.yaml', edits)).toContain(message);
  });
});

describe('status and printing', () => {
  it('takes status through the status subresource and prints it in kubectl get', async () => {
    const created = await client.create(
      edited(await example('lustre-filesystem.yaml'), { 'metadata.name': 'shown' }),
    );
    const status = {
      phase: 'Ready',
      observedGeneration: 1,
      ready: { mgs: 1, mdts: 1, osts: 2 },
      capacity: { total: '1000Gi', free: '990Gi' },
      mountTarget: 'demo-mgs.default.svc:988:/demo',
    };
    await client.replaceStatus({ ...created, status });
    const { stdout } = await controlPlane!.kubectl('get', 'kubelustre', '--namespace', 'default');
    expect(stdout).toMatch(/NAME\s+PHASE\s+MDTS\s+OSTS\s+CAPACITY\s+AGE/);
    expect(stdout).toMatch(/lustrefilesystem\.kubelustre\.io\/shown\s+Ready\s+1\s+2\s+1000Gi/);
  });
});
