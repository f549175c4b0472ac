import { describe, expect, it } from 'vitest';
import type { AccessModeName, VolumeCapability } from './csi-proto.ts';
import {
  capacityFits,
  isReadOnly,
  requestedCapacity,
  requireSupported,
  unsupportedReason,
} from './volume-capability.ts';

const mount = (mode: AccessModeName, fsType = ''): VolumeCapability => ({
  mount: { fsType, mountFlags: [], volumeMountGroup: '' },
  accessMode: { mode },
});

describe('volume capabilities', () => {
  it('serves mounts in every single- and multi-node mode, RWX included', () => {
    for (const mode of [
      'SINGLE_NODE_WRITER',
      'SINGLE_NODE_READER_ONLY',
      'MULTI_NODE_READER_ONLY',
      'MULTI_NODE_SINGLE_WRITER',
      'MULTI_NODE_MULTI_WRITER',
    ] as const) {
      expect(unsupportedReason(mount(mode))).toBeUndefined();
    }
    expect(unsupportedReason(mount('MULTI_NODE_MULTI_WRITER', 'kubelustre'))).toBeUndefined();
  });

  it('refuses block, other filesystems and modes needing capabilities we lack', () => {
    expect(unsupportedReason({ block: {}, accessMode: { mode: 'SINGLE_NODE_WRITER' } })).toMatch(/block/);
    expect(unsupportedReason(mount('SINGLE_NODE_WRITER', 'ext4'))).toMatch(/ext4/);
    expect(unsupportedReason(mount('SINGLE_NODE_MULTI_WRITER'))).toMatch(/not supported/);
    expect(unsupportedReason(mount('UNKNOWN'))).toMatch(/not supported/);
    expect(() => requireSupported([])).toThrow(/required/);
  });

  it('mounts read-only for reader modes or a read-only publish', () => {
    expect(isReadOnly(mount('MULTI_NODE_READER_ONLY'), false)).toBe(true);
    expect(isReadOnly(mount('MULTI_NODE_MULTI_WRITER'), true)).toBe(true);
    expect(isReadOnly(mount('MULTI_NODE_MULTI_WRITER'), false)).toBe(false);
  });
});

describe('capacity', () => {
  it('records the required bytes, else the limit', () => {
    expect(requestedCapacity(null)).toBe(0);
    expect(requestedCapacity({ requiredBytes: 10, limitBytes: 0 })).toBe(10);
    expect(requestedCapacity({ requiredBytes: 0, limitBytes: 20 })).toBe(20);
    expect(() => requestedCapacity({ requiredBytes: 30, limitBytes: 20 })).toThrow(/exceed/);
  });

  it('lets a repeated request match an existing volume only within its range', () => {
    expect(capacityFits(10, { requiredBytes: 10, limitBytes: 0 })).toBe(true);
    expect(capacityFits(10, null)).toBe(true);
    expect(capacityFits(10, { requiredBytes: 20, limitBytes: 20 })).toBe(false);
    expect(capacityFits(10, { requiredBytes: 0, limitBytes: 5 })).toBe(false);
  });
});
