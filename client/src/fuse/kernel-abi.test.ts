import { describe, expect, it } from 'vitest';
import {
  ATTR_OUT_BYTES,
  BACKING_MAP_BYTES,
  decodeInHeader,
  decodeInitIn,
  direntplusSize,
  direntSize,
  ENTRY_OUT_BYTES,
  encodeAttrOut,
  encodeBackingMap,
  encodeDirent,
  encodeDirentplus,
  encodeEntryOut,
  encodeInitOut,
  encodeNotifyInvalInode,
  encodeOpenOut,
  encodeOutHeader,
  encodeStatfsOut,
  encodeWriteOut,
  FOPEN_PASSTHROUGH,
  FOPEN_PASSTHROUGH_ALLOWED,
  FUSE_DEV_IOC_BACKING_CLOSE,
  FUSE_DEV_IOC_BACKING_OPEN,
  FUSE_DEV_IOC_CLONE,
  type FuseAttr,
  InitFlag,
  InitFlag2,
  OPEN_OUT_BYTES,
  STATFS_OUT_BYTES,
} from './kernel-abi.ts';

const attr: FuseAttr = {
  ino: 0x1122334455,
  size: 2 ** 40 + 7,
  blocks: 9,
  atime: { sec: -2, nsec: 3 },
  mtime: { sec: 1_700_000_000, nsec: 999_999_999 },
  ctime: { sec: 5, nsec: 6 },
  mode: 0o100644,
  nlink: 2,
  uid: 1000,
  gid: 1001,
  rdev: 0x0801,
  blksize: 1 << 20,
};

const u64 = (b: Buffer, at: number) => b.readBigUInt64LE(at);
const i64 = (b: Buffer, at: number) => b.readBigInt64LE(at);
const u32 = (b: Buffer, at: number) => b.readUInt32LE(at);

/** Checks a fuse_attr at `at` field by field, at the offsets of include/uapi/linux/fuse.h. */
function expectAttrAt(b: Buffer, at: number): void {
  expect(u64(b, at)).toBe(0x1122334455n);
  expect(u64(b, at + 8)).toBe(2n ** 40n + 7n);
  expect(u64(b, at + 16)).toBe(9n);
  expect(i64(b, at + 24)).toBe(-2n);
  expect(i64(b, at + 32)).toBe(1_700_000_000n);
  expect(i64(b, at + 40)).toBe(5n);
  expect([u32(b, at + 48), u32(b, at + 52), u32(b, at + 56)]).toEqual([3, 999_999_999, 6]);
  expect([u32(b, at + 60), u32(b, at + 64), u32(b, at + 68), u32(b, at + 72)]).toEqual([
    0o100644, 2, 1000, 1001,
  ]);
  expect([u32(b, at + 76), u32(b, at + 80), u32(b, at + 84)]).toEqual([0x0801, 1 << 20, 0]);
}

describe('FUSE kernel ABI', () => {
  it('decodes fuse_in_header (40 bytes)', () => {
    const b = Buffer.alloc(40);
    b.writeUInt32LE(56, 0);
    b.writeUInt32LE(1, 4);
    b.writeBigUInt64LE(0x1_0000_0002n, 8);
    b.writeBigUInt64LE(7n, 16);
    b.writeUInt32LE(1000, 24);
    b.writeUInt32LE(100, 28);
    b.writeUInt32LE(4242, 32);
    b.writeUInt16LE(2, 36);
    expect(decodeInHeader(b)).toEqual({
      len: 56,
      opcode: 1,
      unique: 0x1_0000_0002,
      nodeid: 7,
      uid: 1000,
      gid: 100,
      pid: 4242,
      totalExtlen: 2,
    });
  });

  it('encodes fuse_out_header with a negative errno', () => {
    const b = encodeOutHeader(16, -2, 0x2_0000_0004);
    expect([b.length, u32(b, 0), b.readInt32LE(4), u64(b, 8)]).toEqual([16, 16, -2, 0x2_0000_0004n]);
  });

  it('encodes fuse_entry_out: ids, validity split in sec and nsec, then fuse_attr at 40', () => {
    const b = Buffer.alloc(ENTRY_OUT_BYTES);
    encodeEntryOut(b, 0, { nodeid: 9, generation: 3, entryValidMs: 1500, attrValidMs: 250, attr });
    expect(b.length).toBe(128);
    expect([u64(b, 0), u64(b, 8), u64(b, 16), u64(b, 24)]).toEqual([9n, 3n, 1n, 0n]);
    expect([u32(b, 32), u32(b, 36)]).toEqual([500_000_000, 250_000_000]);
    expectAttrAt(b, 40);
  });

  it('encodes fuse_attr_out (104 bytes: validity, dummy, fuse_attr at 16)', () => {
    const b = encodeAttrOut({ attrValidMs: 1000, attr });
    expect(b.length).toBe(ATTR_OUT_BYTES);
    expect([u64(b, 0), u32(b, 8), u32(b, 12)]).toEqual([1n, 0, 0]);
    expectAttrAt(b, 16);
  });

  it('encodes fuse_open_out, fuse_write_out and fuse_statfs_out', () => {
    const open = Buffer.alloc(OPEN_OUT_BYTES);
    encodeOpenOut(open, 0, { fh: 2 ** 33, openFlags: 3 });
    expect([u64(open, 0), u32(open, 8), u32(open, 12)]).toEqual([2n ** 33n, 3, 0]);
    encodeOpenOut(open, 0, { fh: 5, openFlags: FOPEN_PASSTHROUGH, backingId: 7 });
    expect([u64(open, 0), u32(open, 8), open.readInt32LE(12)]).toEqual([5n, 1 << 7, 7]);
    expect([...encodeWriteOut(4096)]).toEqual([0, 16, 0, 0, 0, 0, 0, 0]);
    const s = encodeStatfsOut({
      blocks: 10,
      bfree: 9,
      bavail: 8,
      files: 7,
      ffree: 6,
      bsize: 4096,
      namelen: 255,
      frsize: 512,
    });
    expect(s.length).toBe(STATFS_OUT_BYTES);
    expect([0, 8, 16, 24, 32].map((at) => u64(s, at))).toEqual([10n, 9n, 8n, 7n, 6n]);
    expect([u32(s, 40), u32(s, 44), u32(s, 48), u32(s, 52)]).toEqual([4096, 255, 512, 0]);
  });

  it('decodes fuse_init_in with flags2 only when INIT_EXT is set', () => {
    const b = Buffer.alloc(64);
    [7, 45, 131072, InitFlag.ASYNC_READ | InitFlag.INIT_EXT, 0x5fd].forEach((v, i) => {
      b.writeUInt32LE(v >>> 0, i * 4);
    });
    expect(decodeInitIn(b)).toEqual({
      major: 7,
      minor: 45,
      maxReadahead: 131072,
      flags: InitFlag.ASYNC_READ | InitFlag.INIT_EXT,
      flags2: 0x5fd,
    });
    b.writeUInt32LE(InitFlag.ASYNC_READ, 12);
    expect(decodeInitIn(b).flags2).toBe(0);
  });

  it('encodes fuse_init_out (64 bytes, u16 fields where the header has them)', () => {
    const b = encodeInitOut({
      major: 7,
      minor: 38,
      maxReadahead: 131072,
      flags: InitFlag.INIT_EXT | InitFlag.ASYNC_READ,
      flags2: 1,
      maxBackground: 64,
      congestionThreshold: 48,
      maxWrite: 1 << 20,
      timeGran: 1,
      maxPages: 256,
    });
    expect(b.length).toBe(64);
    expect([u32(b, 0), u32(b, 4), u32(b, 8), u32(b, 12)]).toEqual([7, 38, 131072, (1 << 30) | 1]);
    expect([b.readUInt16LE(16), b.readUInt16LE(18), u32(b, 20), u32(b, 24)]).toEqual([64, 48, 1 << 20, 1]);
    expect([b.readUInt16LE(28), b.readUInt16LE(30), u32(b, 32)]).toEqual([256, 0, 1]);
    expect(b.subarray(36).every((x) => x === 0)).toBe(true);
    const pt = encodeInitOut({
      major: 7,
      minor: 40,
      maxReadahead: 0,
      flags: InitFlag.INIT_EXT,
      flags2: InitFlag2.PASSTHROUGH,
      maxBackground: 1,
      congestionThreshold: 0,
      maxWrite: 4096,
      timeGran: 1,
      maxPages: 1,
      maxStackDepth: 1,
    });
    // flags2 bit 5 is FUSE_PASSTHROUGH (1 << 37); max_stack_depth is the u32 after flags2.
    expect([u32(pt, 32), u32(pt, 36), pt.readUInt16LE(40)]).toEqual([32, 1, 0]);
  });

  it('encodes fuse_backing_map (16 bytes: fd, flags 0, padding 0)', () => {
    const b = encodeBackingMap(42);
    expect(b.length).toBe(BACKING_MAP_BYTES);
    expect([b.readInt32LE(0), u32(b, 4), u64(b, 8)]).toEqual([42, 0, 0n]);
  });

  it('computes the backing ioctls as _IOW(229, 1, fuse_backing_map) and _IOW(229, 2, uint32_t)', () => {
    expect(FUSE_DEV_IOC_BACKING_OPEN >>> 0).toBe(0x4010e501);
    expect(FUSE_DEV_IOC_BACKING_CLOSE >>> 0).toBe(0x4004e502);
  });

  it('allows only FOPEN_PASSTHROUGH_MASK flags with FOPEN_PASSTHROUGH (no KEEP_CACHE)', () => {
    // FOPEN_DIRECT_IO | FOPEN_PARALLEL_DIRECT_WRITES | FOPEN_NOFLUSH | FOPEN_PASSTHROUGH
    expect(FOPEN_PASSTHROUGH_ALLOWED).toBe(1 | (1 << 6) | (1 << 5) | (1 << 7));
  });

  it('pads fuse_dirent and fuse_direntplus records to 8 bytes with zeros', () => {
    expect([direntSize(1), direntSize(8), direntSize(9)]).toEqual([32, 32, 40]);
    expect(direntplusSize(1)).toBe(128 + 32);
    const b = Buffer.alloc(64, 0xff);
    const used = encodeDirent(b, 0, { ino: 5, nextOffset: 3, type: 8, name: Buffer.from('abcdefghi') });
    expect(used).toBe(40);
    expect([u64(b, 0), u64(b, 8), u32(b, 16), u32(b, 20)]).toEqual([5n, 3n, 9, 8]);
    expect(b.toString('latin1', 24, 33)).toBe('abcdefghi');
    expect([...b.subarray(33, 40)]).toEqual([0, 0, 0, 0, 0, 0, 0]);
    const plus = Buffer.alloc(160, 0xff);
    const d = { ino: 5, nextOffset: 3, type: 4, name: Buffer.from('x') };
    expect(encodeDirentplus(plus, 0, d, undefined)).toBe(160);
    expect(plus.subarray(0, 128).every((x) => x === 0)).toBe(true);
    expect(plus.toString('latin1', 152, 153)).toBe('x');
  });

  it('encodes FUSE_NOTIFY_INVAL_INODE with signed offset and length', () => {
    const b = encodeNotifyInvalInode(7, -1, 0);
    expect([u64(b, 0), i64(b, 8), i64(b, 16)]).toEqual([7n, -1n, 0n]);
  });

  it('computes FUSE_DEV_IOC_CLONE as _IOR(229, 0, uint32_t)', () => {
    expect(FUSE_DEV_IOC_CLONE >>> 0).toBe(0x8004e500);
  });
});
