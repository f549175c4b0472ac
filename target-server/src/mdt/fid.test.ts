import { describe, expect, it } from 'vitest';
import {
  canonicalFid,
  FID_SEQ_NORMAL,
  fidToIno,
  formatFid,
  nextFid,
  parseFid,
  ROOT_FID,
  SEQ_WIDTH,
} from './fid.ts';

describe('FIDs', () => {
  it('parses and formats the lfs text form', () => {
    expect(parseFid(ROOT_FID)).toEqual({ seq: 0x200000007, oid: 1, ver: 0 });
    expect(formatFid({ seq: 0x200000400, oid: 0x2a, ver: 0 })).toBe('0x200000400:0x2a:0x0');
    expect(canonicalFid('0x0200000400:0x0002a:0x0')).toBe('0x200000400:0x2a:0x0');
  });

  it('refuses text that is not a FID with EINVAL', () => {
    for (const bad of ['', '0x1:0x2', '200000400:0x1:0x0', '0x200000400:0x1:0x0:0x0', '0xG:0x1:0x0']) {
      expect(() => parseFid(bad)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    }
  });

  it('hands out FIDs from FID_SEQ_NORMAL, rolling to the next sequence when one is used up', () => {
    expect(nextFid(undefined)).toEqual({ seq: FID_SEQ_NORMAL, oid: 1, ver: 0 });
    expect(nextFid({ seq: FID_SEQ_NORMAL, oid: 7, ver: 0 })).toEqual({ seq: FID_SEQ_NORMAL, oid: 8, ver: 0 });
    expect(nextFid({ seq: FID_SEQ_NORMAL, oid: SEQ_WIDTH, ver: 0 })).toEqual({
      seq: FID_SEQ_NORMAL + 1,
      oid: 1,
      ver: 0,
    });
  });

  it('flattens FIDs to distinct inode numbers below 2^53', () => {
    const fids = [parseFid(ROOT_FID)];
    let f = nextFid(undefined);
    for (let i = 0; i < 3; i++) {
      fids.push(f, { ...f, oid: SEQ_WIDTH });
      f = { seq: f.seq + 1, oid: 1, ver: 0 };
    }
    const inos = fids.map(fidToIno);
    expect(new Set(inos).size).toBe(inos.length);
    expect(fidToIno({ seq: 0x200000000 + 2 ** 36 - 1, oid: SEQ_WIDTH, ver: 0 })).toBeLessThan(2 ** 53);
    expect(() => fidToIno({ seq: 0x200000000 + 2 ** 36, oid: 1, ver: 0 })).toThrow(/outside/);
    expect(() => fidToIno({ seq: 0x100, oid: 1, ver: 0 })).toThrow(/outside/);
  });
});
