import { describe, expect, it } from 'vitest';
import { isMountOf, mountAt, parseMountinfo } from './kernel-mounts.ts';

const MOUNTINFO = [
  '22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw',
  '90 22 0:55 / /var/lib/kl/mounts/kl-1 rw,nosuid,nodev,relatime shared:40 - fuse.kubelustre 127.0.0.1:9000:/kl rw,user_id=0',
  '91 22 0:55 /volumes/pvc-1 /staging/pvc\\0401 rw,nosuid,nodev,relatime shared:40 - fuse.kubelustre 127.0.0.1:9000:/kl rw',
  '92 22 0:55 /volumes/pvc-1 /pods/a/mount ro,nosuid,nodev,relatime shared:40 - fuse.kubelustre 127.0.0.1:9000:/kl rw',
  '93 92 0:56 / /pods/a/mount rw - tmpfs tmpfs rw',
  'garbage line',
].join('\n');

describe('mountinfo', () => {
  const mounts = parseMountinfo(MOUNTINFO);

  it('reads root, mount point (unescaped), type, source and the per-mount read-only flag', () => {
    expect(mounts).toHaveLength(5);
    expect(mounts[2]).toEqual({
      root: '/volumes/pvc-1',
      mountpoint: '/staging/pvc 1',
      readOnly: false,
      fstype: 'fuse.kubelustre',
      source: '127.0.0.1:9000:/kl',
    });
    expect(mounts[3]?.readOnly).toBe(true);
  });

  it('finds the topmost mount on a path', () => {
    expect(mountAt('/pods/a/mount', mounts)?.fstype).toBe('tmpfs');
    expect(mountAt('/nothing', mounts)).toBeUndefined();
  });

  it('tells a bind of a volume from the whole filesystem and from other volumes', () => {
    const ref = { mgs: '127.0.0.1:9000', fsName: 'kl', path: '/volumes/pvc-1' };
    expect(isMountOf(mounts[2]!, ref)).toBe(true);
    expect(isMountOf(mounts[1]!, ref)).toBe(false);
    expect(isMountOf(mounts[2]!, { ...ref, path: '/volumes/pvc-2' })).toBe(false);
    expect(isMountOf(mounts[2]!, { ...ref, fsName: 'other' })).toBe(false);
  });
});
