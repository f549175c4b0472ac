import { describe, expect, it } from 'vitest';
import { checkName, dotRemovalError } from './names.ts';

const code = (f: () => void) => {
  try {
    f();
    return 'ok';
  } catch (e) {
    return (e as { code: string }).code;
  }
};

describe('entry names', () => {
  it('accepts one component up to 255 bytes of UTF-8', () => {
    expect(code(() => checkName('a', 'p'))).toBe('ok');
    expect(code(() => checkName('x'.repeat(255), 'p'))).toBe('ok');
    expect(code(() => checkName('é'.repeat(127), 'p'))).toBe('ok');
    expect(code(() => checkName('...', 'p'))).toBe('ok');
  });

  it('answers ENAMETOOLONG over 255 bytes, counting UTF-8 bytes not characters', () => {
    expect(code(() => checkName('x'.repeat(256), 'p'))).toBe('ENAMETOOLONG');
    expect(code(() => checkName('é'.repeat(128), 'p'))).toBe('ENAMETOOLONG');
  });

  it("answers EINVAL for '/', NUL, '.' and '..'", () => {
    for (const n of ['a/b', '/', 'a\0b', '.', '..']) expect(code(() => checkName(n, 'p'))).toBe('EINVAL');
  });

  it("gives Linux's errors for removing '.' and '..'", () => {
    expect(dotRemovalError('.', false, 'p').code).toBe('EISDIR');
    expect(dotRemovalError('..', false, 'p').code).toBe('EISDIR');
    expect(dotRemovalError('.', true, 'p').code).toBe('EINVAL');
    expect(dotRemovalError('..', true, 'p').code).toBe('ENOTEMPTY');
  });
});
