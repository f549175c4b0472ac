import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DirtyExtents, extentBytes } from './dirty-extents.ts';

/** The dirty extents as [offset, text] pairs. */
function view(d: DirtyExtents): Array<[number, string]> {
  return d.takeAll().map((e) => [e.offset, extentBytes(e).toString()]);
}

const b = (s: string) => Buffer.from(s);

describe('DirtyExtents', () => {
  it('merges adjacent writes into one extent', () => {
    const d = new DirtyExtents();
    expect(d.insert(0, b('abc'))).toBe(3);
    expect(d.insert(3, b('def'))).toBe(3);
    expect(d.insert(10, b('xyz'))).toBe(3);
    expect(d.insert(6, b('ghij'))).toBe(4);
    expect(d.bytes).toBe(13);
    expect(view(d)).toEqual([[0, 'abcdefghijxyz']]);
  });

  it('lets a newer write replace the bytes it overlaps, across several extents', () => {
    const d = new DirtyExtents();
    d.insert(0, b('aaaa'));
    d.insert(6, b('bbbb'));
    d.insert(12, b('cc'));
    expect(d.insert(2, b('XXXXXXXXXX'))).toBe(4);
    expect(d.bytes).toBe(14);
    expect(view(d)).toEqual([[0, 'aaXXXXXXXXXXcc']]);
  });

  it('keeps bytes on both sides of a write inside an extent', () => {
    const d = new DirtyExtents();
    d.insert(0, b('0123456789'));
    expect(d.insert(3, b('ab'))).toBe(0);
    expect(view(d)).toEqual([[0, '012ab56789']]);
  });

  it('keeps separate extents apart and in order', () => {
    const d = new DirtyExtents();
    d.insert(20, b('z'));
    d.insert(0, b('a'));
    d.insert(10, b('m'));
    expect(d.end).toBe(21);
    expect(view(d)).toEqual([
      [0, 'a'],
      [10, 'm'],
      [20, 'z'],
    ]);
    expect(d.isEmpty).toBe(true);
  });

  it('overlays dirty bytes onto a read buffer', () => {
    const d = new DirtyExtents();
    d.insert(2, b('ab'));
    d.insert(4, b('cd'));
    d.insert(9, b('Z'));
    const target = Buffer.from('........');
    d.overlay(target, 1);
    expect(target.toString()).toBe('.abcd...');
  });

  it('drops bytes at and past the size on truncate', () => {
    const d = new DirtyExtents();
    d.insert(0, b('abcdef'));
    d.insert(10, b('xyz'));
    expect(d.truncate(3)).toBe(6);
    expect(view(d)).toEqual([[0, 'abc']]);
  });

  it('matches a flat reference buffer under random overlapping writes', () => {
    const size = 4096;
    const reference = Buffer.alloc(size);
    const written = new Uint8Array(size);
    const d = new DirtyExtents();
    for (let i = 0; i < 500; i++) {
      const offset = Math.floor(Math.random() * (size - 64));
      const data = randomBytes(1 + Math.floor(Math.random() * 63));
      d.insert(offset, data);
      data.copy(reference, offset);
      written.fill(1, offset, offset + data.length);
    }
    expect(d.bytes).toBe(written.reduce((n, x) => n + x, 0));
    const seen = Buffer.alloc(size);
    d.overlay(seen, 0);
    expect(seen.equals(reference)).toBe(true);
  });
});
