import { describe, expect, it } from 'vitest';
import { InodeTable } from './inode-table.ts';
import { FUSE_ROOT_ID } from './kernel-abi.ts';
import { ReaddirBuffer } from './readdir-buffer.ts';

const ROOT = '0x200000007:0x1:0x0';
const A = '0x200000400:0x1:0x0';

describe('InodeTable', () => {
  it('maps the root to node id 1, never forgotten', () => {
    const t = new InodeTable(ROOT);
    expect(t.fid(FUSE_ROOT_ID)).toBe(ROOT);
    t.forget(FUSE_ROOT_ID, 100);
    expect(t.fid(FUSE_ROOT_ID)).toBe(ROOT);
  });

  it('counts every entry reply and forgets a node id when FORGET brings it to zero', () => {
    const t = new InodeTable(ROOT);
    const first = t.lookup(A, 5).nodeid;
    expect(t.lookup(A, 5).nodeid).toBe(first);
    t.forget(first, 1);
    expect(t.fid(first)).toBe(A);
    t.forget(first, 1);
    expect(() => t.fid(first)).toThrow(expect.objectContaining({ code: 'ESTALE' }));
    expect(t.size).toBe(1);
  });

  it('never reuses a node id: a FID met again after its forget gets a new one', () => {
    const t = new InodeTable(ROOT);
    const first = t.lookup(A, 5).nodeid;
    t.forget(first, 1);
    expect(t.lookup(A, 5).nodeid).toBeGreaterThan(first);
  });

  it('ignores a FORGET of an unknown node id', () => {
    const t = new InodeTable(ROOT);
    t.forget(99, 1);
    expect(t.size).toBe(1);
  });
});

describe('ReaddirBuffer', () => {
  it('refuses the first entry that does not fit, and every entry after it', () => {
    const out = new ReaddirBuffer(64, false);
    const d = (name: string) => ({ ino: 1, nextOffset: 1, type: 8, name });
    expect(out.add(d('a'.repeat(8)))).toBe(true);
    expect(out.add(d('b'.repeat(9)))).toBe(false);
    expect(out.add(d('c'))).toBe(false);
    expect(out.bytes()).toHaveLength(32);
  });
});
