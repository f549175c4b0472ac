import { describe, expect, it } from 'vitest';
import { parseMountinfo } from './mountinfo.ts';
import { parseMountSpec } from './spec.ts';

describe('parseMountSpec', () => {
  it('splits MGS_HOST:PORT:/FSNAME', () => {
    expect(parseMountSpec('10.0.0.1:29880:/kl')).toEqual({ mgs: '10.0.0.1:29880', fsName: 'kl' });
    expect(parseMountSpec('[::1]:29880:/fs_1')).toEqual({ mgs: '[::1]:29880', fsName: 'fs_1' });
  });

  it('takes several MGS addresses joined by commas', () => {
    expect(parseMountSpec('mgs:988,127.0.0.1:41000:/kl')).toEqual({
      mgs: 'mgs:988,127.0.0.1:41000',
      fsName: 'kl',
    });
  });

  it('refuses sources without a port or a filesystem name', () => {
    for (const bad of [
      '10.0.0.1:/kl',
      '10.0.0.1:29880',
      'host:0:/kl',
      'host:1:/',
      'host:1:/waytoolongname',
      'host:1,other:/kl',
      'host:1,:/kl',
    ]) {
      expect(() => parseMountSpec(bad)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    }
  });
});

describe('parseMountinfo', () => {
  it('reads device, mount point (unescaped), type and source, optional tags included', () => {
    const text = [
      '36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue',
      '52 30 0:52 / /tmp/with\\040space rw,nosuid,nodev,relatime - fuse.kubelustre 127.0.0.1:1:/kl rw,user_id=0',
    ].join('\n');
    expect(parseMountinfo(text)).toEqual([
      { mountpoint: '/mnt/parent', device: '98:0', fstype: 'ext3', source: '/dev/root' },
      { mountpoint: '/tmp/with space', device: '0:52', fstype: 'fuse.kubelustre', source: '127.0.0.1:1:/kl' },
    ]);
  });
});
