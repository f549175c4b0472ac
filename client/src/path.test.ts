import { isKlError } from '@kubelustre/protocol/errors.ts';
import { describe, expect, it } from 'vitest';
import { checkName, splitPath } from './path.ts';

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return isKlError(e) ? e.code : 'not a KlError';
  }
  return undefined;
}

describe('splitPath', () => {
  it('drops empty and "." components and keeps ".." for the walk', () => {
    expect(splitPath('/a//b/./c/../d')).toEqual({
      components: ['a', 'b', 'c', '..', 'd'],
      trailingSlash: false,
    });
    expect(splitPath('a/b')).toEqual({ components: ['a', 'b'], trailingSlash: false });
  });

  it('names the root with "/", "." and "//"', () => {
    for (const p of ['/', '.', '//', '/./'])
      expect(splitPath(p)).toEqual({ components: [], trailingSlash: false });
  });

  it('notes a trailing slash (also "dir/.")', () => {
    expect(splitPath('/a/b/').trailingSlash).toBe(true);
    expect(splitPath('/a/b/.').trailingSlash).toBe(true);
    expect(splitPath('/a/b').trailingSlash).toBe(false);
  });

  it('answers ENOENT for the empty path', () => {
    expect(codeOf(() => splitPath(''))).toBe('ENOENT');
  });

  it('answers ENAMETOOLONG for a 256-byte name and a 4096-byte path, counting UTF-8 bytes', () => {
    expect(codeOf(() => splitPath(`/${'x'.repeat(255)}`))).toBeUndefined();
    expect(codeOf(() => splitPath(`/${'x'.repeat(256)}`))).toBe('ENAMETOOLONG');
    expect(codeOf(() => splitPath(`/${'é'.repeat(128)}`))).toBe('ENAMETOOLONG');
    const long = Array.from({ length: 21 }, () => 'y'.repeat(200)).join('/');
    expect(codeOf(() => splitPath(long))).toBe('ENAMETOOLONG');
  });

  it('refuses NUL bytes', () => {
    expect(codeOf(() => splitPath('/a\0b'))).toBe('EINVAL');
  });
});

describe('checkName', () => {
  it('accepts one component and refuses slashes', () => {
    expect(codeOf(() => checkName('file.txt'))).toBeUndefined();
    expect(codeOf(() => checkName('a/b'))).toBe('EINVAL');
    expect(codeOf(() => checkName(''))).toBe('ENOENT');
  });
});
