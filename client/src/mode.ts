import { constants } from 'node:fs';

import { S_IFDIR, S_IFLNK, S_IFMT, S_IFREG } from '@kubelustre/protocol/mode-bits.ts';

export { S_IFDIR, S_IFLNK, S_IFMT, S_IFREG };
/** Permission bits beyond rwx: set-user-id, set-group-id, sticky. */
export const S_ISUID = 0o4000;
export const S_ISGID = 0o2000;
export const S_ISVTX = 0o1000;
export const PERMISSION_BITS = 0o7777;

export const isDir = (mode: number): boolean => (mode & S_IFMT) === S_IFDIR;
export const isReg = (mode: number): boolean => (mode & S_IFMT) === S_IFREG;
export const isLnk = (mode: number): boolean => (mode & S_IFMT) === S_IFLNK;

/** open(2) flags, Linux values (Node's `fs.constants` carries them on Linux). */
export const O_RDONLY = constants.O_RDONLY;
export const O_WRONLY = constants.O_WRONLY;
export const O_RDWR = constants.O_RDWR;
export const O_ACCMODE = 3;
export const O_CREAT = constants.O_CREAT;
export const O_EXCL = constants.O_EXCL;
export const O_TRUNC = constants.O_TRUNC;
export const O_APPEND = constants.O_APPEND;
export const O_DIRECTORY = constants.O_DIRECTORY;
export const O_NOFOLLOW = constants.O_NOFOLLOW;

export const canReadWith = (flags: number): boolean => (flags & O_ACCMODE) !== O_WRONLY;
export const canWriteWith = (flags: number): boolean => (flags & O_ACCMODE) !== O_RDONLY;
