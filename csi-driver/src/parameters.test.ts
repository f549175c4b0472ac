import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { CsiError } from './csi-error.ts';
import { parseVolumeParameters, volumePath } from './parameters.ts';

const MGS = '10.0.0.5:9400:/fs1';

function refusal(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(CsiError);
    expect((e as CsiError).code).toBe(status.INVALID_ARGUMENT);
    return (e as Error).message;
  }
  throw new Error('not refused');
}

describe('parseVolumeParameters', () => {
  it('takes the filesystem from mgs and defaults the rest', () => {
    expect(parseVolumeParameters({ mgs: MGS })).toEqual({
      mgs: '10.0.0.5:9400',
      fsName: 'fs1',
      baseDir: '/volumes',
      layout: undefined,
      layoutPolicy: undefined,
      onDelete: 'delete',
      inodeLimit: 0,
      pccClass: undefined,
    });
  });

  it('takes a PCCClass by name', () => {
    expect(parseVolumeParameters({ mgs: MGS, pccClass: 'gpu-nvme' }).pccClass).toBe('gpu-nvme');
    expect(refusal(() => parseVolumeParameters({ mgs: MGS, pccClass: 'Not_A_Name' }))).toMatch(
      /pccClass "Not_A_Name" is not an object name/,
    );
  });

  it('takes an inode limit per volume, and refuses one that is not a whole number', () => {
    expect(parseVolumeParameters({ mgs: MGS, inodeLimit: '5000' }).inodeLimit).toBe(5000);
    expect(refusal(() => parseVolumeParameters({ mgs: MGS, inodeLimit: '-1' }))).toContain('inodeLimit');
  });

  it('ignores the external-provisioner keys', () => {
    const p = parseVolumeParameters({ mgs: MGS, 'csi.storage.k8s.io/pvc/name': 'data' });
    expect(p.fsName).toBe('fs1');
  });

  it('parses setstripe into a layout and gives pool to the OST components only', () => {
    const p = parseVolumeParameters({ mgs: MGS, setstripe: '-E 64M -L mdt -E -1 -c 4', pool: 'fast' });
    expect(p.layout?.components.map((c) => [c.pattern, c.pool, c.stripeCount])).toEqual([
      ['mdt', undefined, 0],
      ['raid0', 'fast', 4],
    ]);
    expect(parseVolumeParameters({ mgs: MGS, pool: 'fast' }).layout?.components[0]?.pool).toBe('fast');
  });

  it('takes onDelete and baseDir', () => {
    const p = parseVolumeParameters({ mgs: MGS, onDelete: 'retain', baseDir: '/k8s/pvs' });
    expect([p.onDelete, p.baseDir]).toEqual(['retain', '/k8s/pvs']);
  });

  it('refuses what it cannot honour', () => {
    expect(refusal(() => parseVolumeParameters({}))).toMatch(/"filesystem".*"mgs".*required/);
    expect(refusal(() => parseVolumeParameters({ mgs: 'nohost' }))).toMatch(/MGS_HOST:PORT/);
    expect(refusal(() => parseVolumeParameters({ mgs: MGS, stripes: '4' }))).toMatch(/unknown/);
    expect(refusal(() => parseVolumeParameters({ mgs: MGS, onDelete: 'archive' }))).toMatch(/onDelete/);
    expect(refusal(() => parseVolumeParameters({ mgs: MGS, baseDir: '../x' }))).toMatch(/baseDir/);
    expect(refusal(() => parseVolumeParameters({ mgs: MGS, setstripe: '-c x' }))).toBeTruthy();
  });

  it('takes a LustreFileSystem as NAMESPACE/NAME and a LayoutPolicy of it', () => {
    const p = parseVolumeParameters({ filesystem: 'ns/fs1', layoutPolicy: 'wide' });
    expect([p.filesystem, p.mgs, p.layoutPolicy]).toEqual([
      { namespace: 'ns', name: 'fs1' },
      undefined,
      'wide',
    ]);
  });

  it.each(['fs1', 'ns/', '/fs1', 'ns/fs1/x', 'NS/fs1', 'ns/fs_1'])(
    'refuses the filesystem %j',
    (filesystem) => {
      expect(refusal(() => parseVolumeParameters({ filesystem }))).toContain(`filesystem "${filesystem}"`);
    },
  );

  it('refuses a layoutPolicy it could not find or that would fight another layout', () => {
    const fs = 'ns/fs1';
    expect(refusal(() => parseVolumeParameters({ mgs: MGS, filesystem: fs }))).toMatch(/either "mgs"/);
    expect(refusal(() => parseVolumeParameters({ mgs: MGS, layoutPolicy: 'p' }))).toMatch(
      /needs "filesystem"/,
    );
    expect(
      refusal(() => parseVolumeParameters({ filesystem: fs, layoutPolicy: 'p', setstripe: '-c 2' })),
    ).toMatch(/either "layoutPolicy" or "setstripe"/);
    expect(refusal(() => parseVolumeParameters({ filesystem: fs, layoutPolicy: 'p', pool: 'a' }))).toMatch(
      /pool/,
    );
    expect(refusal(() => parseVolumeParameters({ filesystem: fs, layoutPolicy: 'P!' }))).toMatch(
      /layoutPolicy "P!"/,
    );
  });
});

describe('volumePath', () => {
  it('puts a volume in its own directory under the base', () => {
    expect(volumePath('/volumes', 'pvc-0c2e')).toBe('/volumes/pvc-0c2e');
    expect(volumePath('/volumes', 'a'.repeat(128))).toHaveLength(137);
  });

  it.each(['', '.', '..', 'a/b', '.hidden', 'a b'])('refuses the name %j', (name) => {
    expect(refusal(() => volumePath('/volumes', name))).toMatch(/volume name/);
  });
});
