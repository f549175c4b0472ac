import { describe, expect, it } from 'vitest';
import { aggregateStatfs, dfRows, percentUp, type TargetSpace } from './statfs.ts';

const GiB = 1024 ** 3;
const space = (totalGiB: number, freeGiB: number, files: number, filesFree: number) => ({
  totalBytes: totalGiB * GiB,
  freeBytes: freeGiB * GiB,
  availBytes: freeGiB * GiB,
  files,
  filesFree,
});
const mdt: TargetSpace = { role: 'mdt', index: 0, space: space(10, 9, 1000, 900) };
const ost0: TargetSpace = { role: 'ost', index: 0, space: space(100, 50, 5000, 4000) };
const ost1: TargetSpace = { role: 'ost', index: 1, space: space(100, 25, 5000, 4000) };
const down: TargetSpace = { role: 'ost', index: 2, space: undefined, error: 'ETIMEDOUT' };

describe('aggregateStatfs', () => {
  it('sums blocks over the OSTs and takes files from the MDT', () => {
    expect(aggregateStatfs([mdt], [ost0, ost1, down])).toEqual({
      totalBytes: 200 * GiB,
      freeBytes: 75 * GiB,
      availBytes: 75 * GiB,
      files: 1000,
      filesFree: 900,
    });
  });

  it('cuts free files down to the free OST objects when those are fewer', () => {
    const tight: TargetSpace = { role: 'ost', index: 0, space: space(100, 50, 500, 300) };
    expect(aggregateStatfs([mdt], [tight])).toMatchObject({ files: 400, filesFree: 300 });
  });
});

describe('dfRows', () => {
  it('lists MDTs, OSTs and a summary as lfs df does', () => {
    const rows = dfRows('kl', [mdt], [ost0, ost1, down], '/mnt/kl');
    expect(rows.map((r) => [r.uuid, r.mountedOn, r.inactive])).toEqual([
      ['kl-MDT0000_UUID', '/mnt/kl[MDT:0]', false],
      ['kl-OST0000_UUID', '/mnt/kl[OST:0]', false],
      ['kl-OST0001_UUID', '/mnt/kl[OST:1]', false],
      ['kl-OST0002_UUID', '/mnt/kl[OST:2]', true],
      ['filesystem_summary:', '/mnt/kl', false],
    ]);
    const summary = rows.at(-1)!;
    expect(summary.kib).toEqual({
      total: 200 * 1024 * 1024,
      used: 125 * 1024 * 1024,
      available: 75 * 1024 * 1024,
    });
    expect(summary.usePercent).toBe(63);
    expect(summary.inodes).toEqual({ total: 1000, used: 100, free: 900 });
    expect(rows[1]!.usePercent).toBe(50);
  });

  it('prints target indexes in hex, as Lustre names targets', () => {
    expect(dfRows('kl', [], [{ role: 'ost', index: 26, space: undefined }], '/m')[0]!.uuid).toBe(
      'kl-OST001a_UUID',
    );
  });
});

describe('percentUp', () => {
  it('rounds up like df(1) and answers 0 for an empty target', () => {
    expect(percentUp(1, 999)).toBe(1);
    expect(percentUp(0, 100)).toBe(0);
    expect(percentUp(0, 0)).toBe(0);
  });
});
