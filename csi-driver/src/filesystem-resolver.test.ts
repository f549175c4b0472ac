import { status } from '@grpc/grpc-js';
import type { LayoutPolicy, LustreFileSystem } from '@kubelustre/operator/k8s/objects.ts';
import { ApiError } from '@kubelustre/operator/k8s/rest.ts';
import { describe, expect, it } from 'vitest';
import { CsiError } from './csi-error.ts';
import {
  FilesystemResolver,
  type KubeGetter,
  mgsLocation,
  parseMgsAddresses,
  policyLayout,
} from './filesystem-resolver.ts';

const KEY_HEX = 'ab'.repeat(32);

function fs(status: LustreFileSystem['status'] = readyStatus()): LustreFileSystem {
  return {
    apiVersion: 'kubelustre.io/v1alpha1',
    kind: 'LustreFileSystem',
    metadata: { name: 'demo', namespace: 'ns' },
    spec: {
      fsName: 'demo',
      mgs: { storage: { size: '1Gi' } },
      mdts: { count: 1, storage: { size: '1Gi' } },
      osts: { count: 2, storage: { size: '1Gi' } },
      sharedKeySecretRef: { name: 'demo-key' },
    },
    ...(status && { status }),
  };
}

function readyStatus(ready = 'True'): LustreFileSystem['status'] {
  const condition = { type: 'Ready', status: ready, reason: 'TargetsNotReady', message: 'Ready: OSTs 1/2' };
  return {
    conditions: [{ ...condition, lastTransitionTime: '2026-01-01T00:00:00Z' }],
    mountTarget: 'demo-mgs.ns.svc.cluster.local:988:/demo',
  } as LustreFileSystem['status'];
}

function policy(components: LayoutPolicy['spec']['components'], fileSystem = 'demo'): LayoutPolicy {
  return {
    apiVersion: 'kubelustre.io/v1alpha1',
    kind: 'LayoutPolicy',
    metadata: { name: 'wide', namespace: 'ns' },
    spec: { fileSystem, components, appliesTo: { directories: ['/x'] } },
  };
}

function failure(f: () => unknown): CsiError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(CsiError);
    return e as CsiError;
  }
  throw new Error('did not fail');
}

describe('mgsLocation', () => {
  it("takes a Ready filesystem's mountTarget, with the MGS address replaced when one is given", () => {
    expect(mgsLocation(fs(), undefined)).toEqual({
      mgs: 'demo-mgs.ns.svc.cluster.local:988',
      fsName: 'demo',
    });
    expect(mgsLocation(fs(), '127.0.0.1:9400')).toEqual({ mgs: '127.0.0.1:9400', fsName: 'demo' });
  });

  it('answers UNAVAILABLE with the reason while the filesystem is not Ready', () => {
    const notReady = failure(() => mgsLocation(fs(readyStatus('False')), undefined));
    expect(notReady.code).toBe(status.UNAVAILABLE);
    expect(notReady.message).toBe('LustreFileSystem ns/demo is not Ready (TargetsNotReady: Ready: OSTs 1/2)');
    expect(failure(() => mgsLocation({ ...fs(), status: {} }, undefined)).message).toMatch(
      /no Ready condition/,
    );
  });
});

describe('policyLayout', () => {
  it("makes the policy's components a template checked against the filesystem", () => {
    const layout = policyLayout(
      policy([
        { end: 1048576, mdt: true },
        { end: -1, stripeCount: 2 },
      ]),
      fs(),
    );
    expect(layout.components.map((c) => [c.pattern, c.stripeCount])).toEqual([
      ['mdt', 0],
      ['raid0', 2],
    ]);
  });

  it('refuses a policy of another filesystem, or one the filesystem cannot hold', () => {
    const other = failure(() => policyLayout(policy([{ end: -1 }], 'other'), fs()));
    expect([other.code, other.message]).toEqual([
      status.INVALID_ARGUMENT,
      'LayoutPolicy ns/wide is for LustreFileSystem other, not demo',
    ]);
    const wide = failure(() => policyLayout(policy([{ end: 1048576 }]), fs()));
    expect([wide.code, wide.message]).toEqual([
      status.INVALID_ARGUMENT,
      'LayoutPolicy ns/wide: last component must end at EOF',
    ]);
  });
});

describe('FilesystemResolver', () => {
  const objects: Record<string, unknown> = {
    '/apis/kubelustre.io/v1alpha1/namespaces/ns/lustrefilesystems/demo': fs(),
    '/api/v1/namespaces/ns/secrets/demo-key': { data: { key: Buffer.from(KEY_HEX).toString('base64') } },
  };
  const api: KubeGetter = {
    request: async <T>(_method: string, path: string) => {
      if (path in objects) return objects[path] as T;
      throw new ApiError('GET', path, 404, '{"reason":"NotFound","message":"not found"}');
    },
  };
  const resolver = new FilesystemResolver(() => api, new Map([['ns/demo', '127.0.0.1:9400']]));

  it('reads the filesystem and the key of its Secret', async () => {
    const found = await resolver.filesystem({ namespace: 'ns', name: 'demo' });
    expect([found.mgs, found.fsName]).toEqual(['127.0.0.1:9400', 'demo']);
    expect((await resolver.sharedKey(found.object)).toString('hex')).toBe(KEY_HEX);
  });

  it('names what it could not find', async () => {
    await expect(resolver.filesystem({ namespace: 'ns', name: 'gone' })).rejects.toMatchObject({
      code: status.INVALID_ARGUMENT,
      message: 'LustreFileSystem ns/gone does not exist',
    });
    await expect(resolver.layoutPolicy(fs(), 'gone')).rejects.toMatchObject({
      code: status.INVALID_ARGUMENT,
      message: 'LayoutPolicy ns/gone does not exist',
    });
  });

  it('answers UNAVAILABLE when the API cannot be reached', async () => {
    const unreachable = new FilesystemResolver(() => {
      throw new Error('the kubeconfig has no current cluster');
    });
    await expect(unreachable.filesystem({ namespace: 'ns', name: 'demo' })).rejects.toMatchObject({
      code: status.UNAVAILABLE,
      message: expect.stringContaining('no Kubernetes API: the kubeconfig has no current cluster'),
    });
  });
});

describe('parseMgsAddresses', () => {
  it('maps NAMESPACE/NAME to HOST:PORT and refuses anything else', () => {
    expect(parseMgsAddresses(['ns/demo=10.0.0.5:988'])).toEqual(new Map([['ns/demo', '10.0.0.5:988']]));
    expect(() => parseMgsAddresses(['demo=10.0.0.5:988'])).toThrow(/NAMESPACE\/NAME=HOST:PORT/);
    expect(() => parseMgsAddresses(['ns/demo=10.0.0.5'])).toThrow(/NAMESPACE\/NAME=HOST:PORT/);
  });
});
