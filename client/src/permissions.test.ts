import { isKlError } from '@kubelustre/protocol/errors.ts';
import { describe, expect, it } from 'vitest';
import { O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY, S_IFDIR, S_IFLNK, S_IFREG } from './mode.ts';
import {
  type Caller,
  checkCanAddEntry,
  checkCanRemoveEntry,
  checkCanReparent,
  checkOpen,
  checkSearch,
  checkXattr,
  hasAccess,
  MAY_EXEC,
  MAY_READ,
  MAY_WRITE,
  newInodeOwnership,
  planSetattr,
  ROOT_CALLER,
  visibleXattrNames,
} from './permissions.ts';

const alice: Caller = { uid: 1000, gid: 1000, groups: [50] };
const bob: Caller = { uid: 1001, gid: 1001, groups: [] };

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return isKlError(e) ? e.code : 'not a KlError';
  }
  return undefined;
}

const file = (mode: number, uid = 1000, gid = 1000) => ({ mode: S_IFREG | mode, uid, gid });
const dir = (mode: number, uid = 1000, gid = 1000) => ({ mode: S_IFDIR | mode, uid, gid });

describe('hasAccess', () => {
  it('uses exactly one class: the owner class even when "other" would allow more', () => {
    expect(hasAccess(file(0o047), alice, MAY_READ)).toBe(false);
    expect(hasAccess(file(0o047), bob, MAY_READ)).toBe(true);
  });

  it('uses the group class for the primary and supplementary groups', () => {
    expect(hasAccess(file(0o040, 0, 50), alice, MAY_READ)).toBe(true);
    expect(hasAccess(file(0o040, 0, 1000), alice, MAY_READ)).toBe(true);
    expect(hasAccess(file(0o040, 0, 1000), bob, MAY_READ)).toBe(false);
  });

  it('needs every bit of the mask', () => {
    expect(hasAccess(file(0o600), alice, MAY_READ | MAY_WRITE)).toBe(true);
    expect(hasAccess(file(0o400), alice, MAY_READ | MAY_WRITE)).toBe(false);
  });

  it('lets root read and write anything, execute only when some x bit is set, search any directory', () => {
    expect(hasAccess(file(0o000, 5, 5), ROOT_CALLER, MAY_READ | MAY_WRITE)).toBe(true);
    expect(hasAccess(file(0o644, 5, 5), ROOT_CALLER, MAY_EXEC)).toBe(false);
    expect(hasAccess(file(0o001, 5, 5), ROOT_CALLER, MAY_EXEC)).toBe(true);
    expect(hasAccess(dir(0o000, 5, 5), ROOT_CALLER, MAY_EXEC)).toBe(true);
  });
});

describe('path walk and directory entries', () => {
  it('needs search permission to pass through a directory and ENOTDIR for a non-directory', () => {
    expect(codeOf(() => checkSearch(dir(0o755), bob, '/d'))).toBeUndefined();
    expect(codeOf(() => checkSearch(dir(0o750), bob, '/d'))).toBe('EACCES');
    expect(codeOf(() => checkSearch(file(0o777), bob, '/f'))).toBe('ENOTDIR');
  });

  it('needs write and search on the parent to add an entry', () => {
    expect(codeOf(() => checkCanAddEntry(dir(0o755), alice, '/d'))).toBeUndefined();
    expect(codeOf(() => checkCanAddEntry(dir(0o755), bob, '/d'))).toBe('EACCES');
    expect(codeOf(() => checkCanAddEntry(dir(0o666), bob, '/d'))).toBe('EACCES');
    expect(codeOf(() => checkCanAddEntry(dir(0o777), bob, '/d'))).toBeUndefined();
  });

  it('in a sticky directory lets only the entry owner, the directory owner or root remove', () => {
    const tmp = dir(0o1777, 0, 0);
    expect(codeOf(() => checkCanRemoveEntry(tmp, file(0o644, 1000), alice, '/tmp'))).toBeUndefined();
    expect(codeOf(() => checkCanRemoveEntry(tmp, file(0o644, 1000), bob, '/tmp'))).toBe('EPERM');
    expect(codeOf(() => checkCanRemoveEntry(tmp, file(0o644, 1000), ROOT_CALLER, '/tmp'))).toBeUndefined();
    const bobsTmp = dir(0o1777, 1001, 1001);
    expect(codeOf(() => checkCanRemoveEntry(bobsTmp, file(0o644, 1000), bob, '/t'))).toBeUndefined();
    expect(codeOf(() => checkCanRemoveEntry(dir(0o777), file(0o644, 1000), bob, '/d'))).toBeUndefined();
  });

  it('wants write permission on a directory moved to another parent', () => {
    expect(codeOf(() => checkCanReparent(dir(0o555), alice, '/d'))).toBe('EACCES');
    expect(codeOf(() => checkCanReparent(file(0o444), alice, '/f'))).toBeUndefined();
  });
});

describe('checkOpen', () => {
  it('checks read, write or both by the access mode, and write for O_TRUNC', () => {
    expect(codeOf(() => checkOpen(file(0o400), alice, O_RDONLY, 'f'))).toBeUndefined();
    expect(codeOf(() => checkOpen(file(0o400), alice, O_WRONLY, 'f'))).toBe('EACCES');
    expect(codeOf(() => checkOpen(file(0o200), alice, O_WRONLY, 'f'))).toBeUndefined();
    expect(codeOf(() => checkOpen(file(0o200), alice, O_RDWR, 'f'))).toBe('EACCES');
    expect(codeOf(() => checkOpen(file(0o400), alice, O_RDONLY | O_TRUNC, 'f'))).toBe('EACCES');
  });
});

describe('planSetattr', () => {
  it('lets only the owner or root chmod', () => {
    expect(planSetattr(file(0o644), alice, { mode: 0o600 }, 'f')).toEqual({ mode: 0o600 });
    expect(codeOf(() => planSetattr(file(0o644), bob, { mode: 0o600 }, 'f'))).toBe('EPERM');
    expect(planSetattr(file(0o644), ROOT_CALLER, { mode: 0o600 }, 'f')).toEqual({ mode: 0o600 });
  });

  it('drops set-group-id when the owner is outside the file group', () => {
    expect(planSetattr(file(0o644, 1000, 7), alice, { mode: 0o2755 }, 'f')).toEqual({ mode: 0o755 });
    expect(planSetattr(file(0o644, 1000, 50), alice, { mode: 0o2755 }, 'f')).toEqual({ mode: 0o2755 });
  });

  it('lets only root give a file away, and the owner change the group to one of their groups', () => {
    expect(codeOf(() => planSetattr(file(0o644), alice, { uid: 1001 }, 'f'))).toBe('EPERM');
    expect(codeOf(() => planSetattr(file(0o644), alice, { uid: 1000 }, 'f'))).toBeUndefined();
    expect(codeOf(() => planSetattr(file(0o644), alice, { gid: 50 }, 'f'))).toBeUndefined();
    expect(codeOf(() => planSetattr(file(0o644), alice, { gid: 51 }, 'f'))).toBe('EPERM');
    expect(codeOf(() => planSetattr(file(0o644, 1001), alice, { gid: 50 }, 'f'))).toBe('EPERM');
    expect(codeOf(() => planSetattr(file(0o644), ROOT_CALLER, { uid: 5, gid: 5 }, 'f'))).toBeUndefined();
  });

  it('drops set-user-id (and group-executable set-group-id) on chown of a non-directory', () => {
    expect(planSetattr(file(0o6755), ROOT_CALLER, { uid: 5 }, 'f')).toEqual({ uid: 5, mode: 0o755 });
    expect(planSetattr(file(0o6745), ROOT_CALLER, { gid: 5 }, 'f')).toEqual({ gid: 5, mode: 0o2745 });
    expect(planSetattr(dir(0o2755), ROOT_CALLER, { gid: 5 }, 'd')).toEqual({ gid: 5 });
    expect(planSetattr(file(0o644), ROOT_CALLER, { uid: 5 }, 'f')).toEqual({ uid: 5 });
  });

  it('needs write permission to truncate by path, not through a writable handle', () => {
    expect(codeOf(() => planSetattr(file(0o444), alice, { size: 0 }, 'f'))).toBe('EACCES');
    expect(codeOf(() => planSetattr(file(0o444), alice, { size: 0 }, 'f', true))).toBeUndefined();
  });

  it('lets the owner set chosen times, and anyone with write permission set them to now', () => {
    const t = { sec: 1, nsec: 0 };
    expect(codeOf(() => planSetattr(file(0o666), bob, { mtime: t }, 'f'))).toBe('EPERM');
    expect(codeOf(() => planSetattr(file(0o666), bob, { mtime: 'now', atime: 'now' }, 'f'))).toBeUndefined();
    expect(codeOf(() => planSetattr(file(0o644), bob, { mtime: 'now' }, 'f'))).toBe('EACCES');
    expect(codeOf(() => planSetattr(file(0o444), alice, { mtime: t }, 'f'))).toBeUndefined();
  });
});

describe('xattrs', () => {
  it('keeps trusted.* to root, also out of listings', () => {
    expect(codeOf(() => checkXattr(file(0o644), alice, 'trusted.x', false, 'f'))).toBe('EPERM');
    expect(codeOf(() => checkXattr(file(0o644), ROOT_CALLER, 'trusted.x', true, 'f'))).toBeUndefined();
    expect(visibleXattrNames(['user.a', 'trusted.b'], alice)).toEqual(['user.a']);
    expect(visibleXattrNames(['user.a', 'trusted.b'], ROOT_CALLER)).toEqual(['user.a', 'trusted.b']);
  });

  it('checks read/write permission for user.*, which only files and directories carry', () => {
    expect(codeOf(() => checkXattr(file(0o644), bob, 'user.a', false, 'f'))).toBeUndefined();
    expect(codeOf(() => checkXattr(file(0o644), bob, 'user.a', true, 'f'))).toBe('EACCES');
    const link = { mode: S_IFLNK | 0o777, uid: 1000, gid: 1000 };
    expect(codeOf(() => checkXattr(link, alice, 'user.a', true, 'l'))).toBe('EPERM');
    expect(codeOf(() => checkXattr(link, alice, 'user.a', false, 'l'))).toBe('ENODATA');
    expect(codeOf(() => checkXattr(dir(0o1777, 0, 0), alice, 'user.a', true, 'd'))).toBe('EPERM');
  });

  it('refuses unknown namespaces with ENOTSUP', () => {
    expect(codeOf(() => checkXattr(file(0o644), ROOT_CALLER, 'bogus.a', false, 'f'))).toBe('ENOTSUP');
  });
});

describe('newInodeOwnership', () => {
  it("gives a new inode the caller's ids", () => {
    expect(newInodeOwnership(dir(0o777, 0, 0), alice, S_IFREG | 0o644)).toEqual({
      uid: 1000,
      gid: 1000,
      mode: S_IFREG | 0o644,
    });
  });

  it('takes the group of a set-group-id parent, and keeps new subdirectories set-group-id', () => {
    const shared = dir(0o2775, 0, 50);
    expect(newInodeOwnership(shared, alice, S_IFREG | 0o644)).toEqual({
      uid: 1000,
      gid: 50,
      mode: S_IFREG | 0o644,
    });
    expect(newInodeOwnership(shared, alice, S_IFDIR | 0o755)).toEqual({
      uid: 1000,
      gid: 50,
      mode: S_IFDIR | 0o2755,
    });
  });

  it('drops set-group-id on a file whose group the caller is not in', () => {
    expect(newInodeOwnership(dir(0o2777, 0, 7), bob, S_IFREG | 0o2755).mode).toBe(S_IFREG | 0o755);
    expect(newInodeOwnership(dir(0o777), bob, S_IFREG | 0o2755).mode).toBe(S_IFREG | 0o2755);
  });
});
