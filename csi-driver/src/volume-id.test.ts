import { describe, expect, it } from 'vitest';
import { decodeVolumeId, encodeVolumeId, fsSpec, isCleanPath } from './volume-id.ts';

describe('volume id', () => {
  it('round-trips a volume, IPv4, host names and IPv6 alike', () => {
    for (const mgs of ['10.0.0.5:9400', 'mgs.fs1.svc:9400', '[fd00::1]:9400']) {
      const v = { mgs, fsName: 'fs1', path: '/volumes/pvc-0c2e' };
      const id = encodeVolumeId(v);
      expect(id).toBe(`${mgs}:/fs1/volumes/pvc-0c2e`);
      expect(decodeVolumeId(id)).toEqual(v);
    }
  });

  it('names the filesystem as its mount source', () => {
    expect(fsSpec({ mgs: '127.0.0.1:1', fsName: 'a' })).toBe('127.0.0.1:1:/a');
  });

  it('keeps colons and dots inside the path', () => {
    expect(decodeVolumeId('127.0.0.1:9000:/kl/data/a:b/c.d')).toEqual({
      mgs: '127.0.0.1:9000',
      fsName: 'kl',
      path: '/data/a:b/c.d',
    });
  });

  it.each([
    'fake-vol-id',
    'fake-vol-id-0123456789',
    '127.0.0.1:9000:/kl',
    '127.0.0.1:9000:/kl/',
    '127.0.0.1:9000:/kl/a//b',
    '127.0.0.1:9000:/kl/a/../b',
    '127.0.0.1:9000:/kl/a/.',
    '127.0.0.1:0:/kl/a',
    '127.0.0.1:70000:/kl/a',
    '127.0.0.1:9000:/toolongname/a',
    '127.0.0.1:/kl/a',
  ])('refuses %s', (id) => {
    expect(decodeVolumeId(id)).toBeUndefined();
  });

  it('checks paths', () => {
    expect(isCleanPath('/a/b')).toBe(true);
    expect(isCleanPath('/')).toBe(false);
    expect(isCleanPath('a/b')).toBe(false);
    expect(isCleanPath(`/${'x'.repeat(5000)}`)).toBe(false);
  });
});
