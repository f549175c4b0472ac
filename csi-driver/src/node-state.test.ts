import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { MountRecord } from './kernel-mounts.ts';
import { addVolume, fsKey, NodeState, reconcile, removeVolume } from './node-state.ts';

const FS_A = { spec: '127.0.0.1:1:/a', mountpoint: '/state/mounts/a' };
const FS_B = { spec: '127.0.0.1:2:/b', mountpoint: '/state/mounts/b' };

describe('node state', () => {
  it('keys filesystems by name and source', () => {
    expect(fsKey('127.0.0.1:1:/a', 'a')).toMatch(/^a-[0-9a-f]{12}$/);
    expect(fsKey('127.0.0.1:1:/a', 'a')).not.toBe(fsKey('127.0.0.2:1:/a', 'a'));
  });

  it('counts staged volumes per filesystem and releases it with the last one', () => {
    let s = addVolume({}, 'a', FS_A, 'v1', '/stage/1');
    s = addVolume(s, 'a', FS_A, 'v2', '/stage/2');
    s = addVolume(s, 'b', FS_B, 'v3', '/stage/3');
    expect(Object.keys(s.a!.volumes)).toEqual(['v1', 'v2']);
    const first = removeVolume(s, 'v1');
    expect(first.released).toBeUndefined();
    const second = removeVolume(first.state, 'v2');
    expect(second.released).toEqual({ ...FS_A, volumes: { v2: '/stage/2' } });
    expect(Object.keys(second.state)).toEqual(['b']);
    expect(removeVolume(second.state, 'unknown').state).toBe(second.state);
  });

  it("keeps a mount's PCCClass and metrics socket as volumes come and go", () => {
    const pcc = { ...FS_A, pccClass: 'fast', metricsSocket: '/state/metrics/1.sock' };
    let s = addVolume({}, 'a', pcc, 'v1', '/stage/1');
    s = addVolume(s, 'a', FS_A, 'v2', '/stage/2');
    expect(s.a).toEqual({ ...pcc, volumes: { v1: '/stage/1', v2: '/stage/2' } });
    expect(removeVolume(s, 'v1').state.a).toEqual({ ...pcc, volumes: { v2: '/stage/2' } });
    expect(addVolume({}, 'a', FS_A, 'v1', '/stage/1').a).toEqual({ ...FS_A, volumes: { v1: '/stage/1' } });
  });

  it('staging the same volume again changes nothing', () => {
    const s = addVolume(addVolume({}, 'a', FS_A, 'v1', '/stage/1'), 'a', FS_A, 'v1', '/stage/1');
    expect(s.a!.volumes).toEqual({ v1: '/stage/1' });
  });

  it('reconciles with the mount table after a restart', () => {
    let s = addVolume({}, 'a', FS_A, 'v1', '/stage/1');
    s = addVolume(s, 'a', FS_A, 'v2', '/stage/2');
    s = addVolume(s, 'b', FS_B, 'v3', '/stage/3');
    const mount = (mountpoint: string, fstype = 'fuse.kubelustre'): MountRecord => ({
      mountpoint,
      fstype,
      root: '/',
      source: 'x',
      readOnly: false,
    });
    const { state, released } = reconcile(s, [mount('/stage/1'), mount('/stage/3', 'tmpfs')]);
    expect(state).toEqual({ a: { ...FS_A, volumes: { v1: '/stage/1' } } });
    expect(released.map((r) => r.spec)).toEqual([FS_B.spec]);
  });

  it('persists atomically and loads what it saved', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kl-csi-state-'));
    try {
      const state = await NodeState.load(dir);
      expect(state.data).toEqual({});
      await state.save(addVolume({}, 'a', FS_A, 'v1', '/stage/1'));
      expect((await NodeState.load(dir)).data).toEqual(state.data);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
