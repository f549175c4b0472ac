import { RENAME_EXCHANGE, RENAME_NOREPLACE } from '@kubelustre/protocol/messages/mdt.ts';
import { describe, expect, it } from 'vitest';
import { type RenameFacts, type RenameSide, renameAction } from './rename.ts';

const file = (fid = 'f'): RenameSide => ({ fid, dir: false, empty: true });
const dir = (fid = 'd', empty = true): RenameSide => ({ fid, dir: true, empty });

function outcome(f: Partial<RenameFacts> & { src: RenameSide }): string {
  try {
    return renameAction(
      { dst: undefined, flags: 0, srcContainsDstParent: false, dstContainsSrcParent: false, ...f },
      'r',
    );
  } catch (e) {
    return (e as { code: string }).code;
  }
}

describe('rename rules', () => {
  it('moves to a free name, for files and directories', () => {
    expect(outcome({ src: file() })).toBe('move');
    expect(outcome({ src: dir() })).toBe('move');
    expect(outcome({ src: file(), flags: RENAME_NOREPLACE })).toBe('move');
  });

  it('replaces file by file and directory by empty directory', () => {
    expect(outcome({ src: file('a'), dst: file('b') })).toBe('replace');
    expect(outcome({ src: dir('a'), dst: dir('b') })).toBe('replace');
  });

  it('refuses type mismatches and non-empty directories', () => {
    expect(outcome({ src: dir('a'), dst: file('b') })).toBe('ENOTDIR');
    expect(outcome({ src: file('a'), dst: dir('b') })).toBe('EISDIR');
    expect(outcome({ src: dir('a'), dst: dir('b', false) })).toBe('ENOTEMPTY');
    expect(outcome({ src: file('a'), dst: dir('b', false) })).toBe('EISDIR');
  });

  it('does nothing for two names of one inode (and for a name onto itself)', () => {
    expect(outcome({ src: file('a'), dst: file('a') })).toBe('noop');
    expect(outcome({ src: dir('a'), dst: dir('a', false) })).toBe('noop');
    expect(outcome({ src: file('a'), dst: file('a'), flags: RENAME_EXCHANGE })).toBe('noop');
  });

  it('answers EEXIST for RENAME_NOREPLACE onto any existing name, even the same inode', () => {
    expect(outcome({ src: file('a'), dst: file('b'), flags: RENAME_NOREPLACE })).toBe('EEXIST');
    expect(outcome({ src: file('a'), dst: file('a'), flags: RENAME_NOREPLACE })).toBe('EEXIST');
  });

  it('exchanges any two existing entries, whatever their types', () => {
    expect(outcome({ src: file('a'), dst: dir('b', false), flags: RENAME_EXCHANGE })).toBe('exchange');
    expect(outcome({ src: dir('a', false), dst: file('b'), flags: RENAME_EXCHANGE })).toBe('exchange');
    expect(outcome({ src: file('a'), flags: RENAME_EXCHANGE })).toBe('ENOENT');
  });

  it('refuses both flags together with EINVAL', () => {
    expect(outcome({ src: file(), flags: RENAME_EXCHANGE | RENAME_NOREPLACE })).toBe('EINVAL');
  });

  it('refuses moving a directory under itself (EINVAL) and over its own ancestor (ENOTEMPTY)', () => {
    expect(outcome({ src: dir('a'), srcContainsDstParent: true })).toBe('EINVAL');
    expect(outcome({ src: dir('a'), dst: dir('b'), srcContainsDstParent: true })).toBe('EINVAL');
    expect(outcome({ src: dir('a'), dst: dir('b', false), dstContainsSrcParent: true })).toBe('ENOTEMPTY');
    expect(
      outcome({ src: file('a'), dst: dir('b', false), dstContainsSrcParent: true, flags: RENAME_EXCHANGE }),
    ).toBe('EINVAL');
  });
});
