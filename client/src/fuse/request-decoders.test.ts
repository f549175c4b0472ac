import type { KlError } from '@kubelustre/protocol/errors.ts';
import { describe, expect, it } from 'vitest';
import { FATTR_ATIME_NOW, FATTR_MODE, FATTR_SIZE } from './kernel-abi.ts';
import {
  decodeBatchForgetIn,
  decodeCopyFileRangeIn,
  decodeCreateIn,
  decodeFallocateIn,
  decodeGetattrIn,
  decodeGetxattrIn,
  decodeLinkIn,
  decodeLseekIn,
  decodeMknodIn,
  decodeRenameIn,
  decodeSetattrIn,
  decodeSetxattrIn,
  decodeSymlinkIn,
  decodeWriteIn,
} from './request-decoders.ts';

/** A body: little-endian u32/u64 fields, then NUL-terminated strings or raw bytes. */
function body(fields: Array<['u32' | 'u64', number | bigint]>, ...tail: Array<string | Buffer>): Buffer {
  const head = Buffer.alloc(fields.reduce((n, [t]) => n + (t === 'u32' ? 4 : 8), 0));
  let at = 0;
  for (const [t, v] of fields) {
    if (t === 'u32') head.writeUInt32LE(Number(v), at);
    else head.writeBigUInt64LE(BigInt(v), at);
    at += t === 'u32' ? 4 : 8;
  }
  return Buffer.concat([head, ...tail.map((x) => (typeof x === 'string' ? Buffer.from(`${x}\0`) : x))]);
}

const codeOf = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return (e as KlError).code;
  }
  return undefined;
};

describe('FUSE request decoders', () => {
  it('reads fuse_setattr_in fields at their offsets, times signed', () => {
    const b = Buffer.alloc(88);
    b.writeUInt32LE(FATTR_MODE | FATTR_SIZE | FATTR_ATIME_NOW, 0);
    b.writeBigUInt64LE(4n, 8);
    b.writeBigUInt64LE(2n ** 40n, 16);
    b.writeBigInt64LE(-5n, 32);
    b.writeBigInt64LE(1_700_000_000n, 40);
    b.writeUInt32LE(7, 56);
    b.writeUInt32LE(8, 60);
    b.writeUInt32LE(0o4755, 68);
    b.writeUInt32LE(1000, 76);
    b.writeUInt32LE(1001, 80);
    expect(decodeSetattrIn(b)).toEqual({
      valid: FATTR_MODE | FATTR_SIZE | FATTR_ATIME_NOW,
      fh: 4,
      size: 2 ** 40,
      atime: { sec: -5, nsec: 7 },
      mtime: { sec: 1_700_000_000, nsec: 8 },
      mode: 0o4755,
      uid: 1000,
      gid: 1001,
    });
  });

  it('reads names after their structs', () => {
    expect(
      decodeMknodIn(
        body(
          [
            ['u32', 0o10644],
            ['u32', 0x801],
            ['u32', 0o22],
            ['u32', 0],
          ],
          'p',
        ),
      ),
    ).toEqual({
      mode: 0o10644,
      rdev: 0x801,
      name: 'p',
    });
    expect(
      decodeCreateIn(
        body(
          [
            ['u32', 0o102],
            ['u32', 0o100600],
            ['u32', 0],
            ['u32', 0],
          ],
          'é',
        ),
      ),
    ).toEqual({
      flags: 0o102,
      mode: 0o100600,
      name: 'é',
    });
    expect(decodeLinkIn(body([['u64', 12]], 'h'))).toEqual({ oldNodeid: 12, name: 'h' });
    expect(decodeSymlinkIn(body([], 'l', '../t'))).toEqual({ name: 'l', target: '../t' });
  });

  it('reads fuse_rename_in and fuse_rename2_in (with flags) and both names', () => {
    expect(decodeRenameIn(body([['u64', 3]], 'a', 'b'), false)).toEqual({
      newParent: 3,
      flags: 0,
      name: 'a',
      newName: 'b',
    });
    expect(
      decodeRenameIn(
        body(
          [
            ['u64', 3],
            ['u32', 2],
            ['u32', 0],
          ],
          'a',
          'b',
        ),
        true,
      ).flags,
    ).toBe(2);
  });

  it('answers ENAMETOOLONG past 255 bytes and EINVAL for names that are not UTF-8', () => {
    expect(codeOf(() => decodeLinkIn(body([['u64', 1]], 'x'.repeat(256))))).toBe('ENAMETOOLONG');
    expect(decodeLinkIn(body([['u64', 1]], 'x'.repeat(255))).name).toHaveLength(255);
    expect(codeOf(() => decodeLinkIn(body([['u64', 1]], Buffer.from([0xff, 0xfe, 0]))))).toBe('EINVAL');
  });

  it('answers EIO for a body shorter than its struct', () => {
    expect(codeOf(() => decodeSetattrIn(Buffer.alloc(40)))).toBe('EIO');
  });

  it('gives WRITE data as a view into the request, not a copy', () => {
    const b = body(
      [
        ['u64', 5],
        ['u64', 4096],
        ['u32', 3],
        ['u32', 0],
        ['u64', 0],
        ['u32', 0],
        ['u32', 0],
      ],
      Buffer.from('abc'),
    );
    const w = decodeWriteIn(b);
    expect([w.fh, w.offset, w.data.toString()]).toEqual([5, 4096, 'abc']);
    expect(w.data.buffer).toBe(b.buffer);
  });

  it('reads fuse_setxattr_in in its 8-byte and extended 16-byte forms; the value is copied', () => {
    const value = Buffer.from([1, 0, 2]);
    const short = decodeSetxattrIn(
      body(
        [
          ['u32', 3],
          ['u32', 1],
        ],
        'user.a',
        value,
      ),
      false,
    );
    expect(short).toEqual({ flags: 1, name: 'user.a', value });
    const ext = body(
      [
        ['u32', 3],
        ['u32', 2],
        ['u32', 1],
        ['u32', 0],
      ],
      'user.b',
      value,
    );
    const long = decodeSetxattrIn(ext, true);
    expect(long).toEqual({ flags: 2, name: 'user.b', value });
    ext.fill(0);
    expect(long.value).toEqual(value);
  });

  it('reads getxattr, getattr, batch forget and copy_file_range bodies', () => {
    expect(
      decodeGetxattrIn(
        body(
          [
            ['u32', 64],
            ['u32', 0],
          ],
          'lustre.lov',
        ),
        true,
      ),
    ).toEqual({
      size: 64,
      name: 'lustre.lov',
    });
    expect(
      decodeGetattrIn(
        body([
          ['u32', 1],
          ['u32', 0],
          ['u64', 9],
        ]),
      ),
    ).toEqual({ fh: 9 });
    expect(
      decodeGetattrIn(
        body([
          ['u32', 0],
          ['u32', 0],
          ['u64', 9],
        ]),
      ),
    ).toEqual({ fh: undefined });
    const forget = body([
      ['u32', 2],
      ['u32', 0],
      ['u64', 5],
      ['u64', 1],
      ['u64', 6],
      ['u64', 3],
    ]);
    expect(decodeBatchForgetIn(forget)).toEqual([
      { nodeid: 5, nlookup: 1 },
      { nodeid: 6, nlookup: 3 },
    ]);
    const copy = body([
      ['u64', 1],
      ['u64', 2],
      ['u64', 3],
      ['u64', 4],
      ['u64', 5],
      ['u64', 6],
      ['u64', 0],
    ]);
    expect(decodeCopyFileRangeIn(copy)).toEqual({
      fhIn: 1,
      offIn: 2,
      nodeidOut: 3,
      fhOut: 4,
      offOut: 5,
      len: 6,
    });
  });

  it('reads LSEEK and FALLOCATE, refusing short bodies', () => {
    const big = 5 * 2 ** 40;
    const lseek = body([
      ['u64', 9],
      ['u64', big],
      ['u32', 4],
      ['u32', 0],
    ]);
    expect(decodeLseekIn(lseek)).toEqual({ fh: 9, offset: big, whence: 4 });
    const falloc = body([
      ['u64', 3],
      ['u64', 4096],
      ['u64', big],
      ['u32', 0x3],
      ['u32', 0],
    ]);
    expect(decodeFallocateIn(falloc)).toEqual({ fh: 3, offset: 4096, length: big, mode: 3 });
    expect(codeOf(() => decodeLseekIn(lseek.subarray(0, 20)))).toBe('EIO');
    expect(codeOf(() => decodeFallocateIn(falloc.subarray(0, 28)))).toBe('EIO');
  });
});
