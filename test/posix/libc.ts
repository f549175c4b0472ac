import koffi from 'koffi';

/**
 * The system calls Node lacks, through koffi, for tests that must make exactly these calls: renameat2,
 * lseek's SEEK_DATA/SEEK_HOLE, fallocate, mmap, and the xattr calls (getfattr/setfattr are not always
 * installed). Each answers its result, or throws an Error whose `code` is the errno name, as node:fs does.
 */
const libc = koffi.load('libc.so.6');
const renameat2Native = libc.func(
  'int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags)',
);
const lseekNative = libc.func('int64_t lseek(int fd, int64_t offset, int whence)');
const fallocateNative = libc.func('int fallocate(int fd, int mode, int64_t offset, int64_t len)');
const mmapNative = libc.func('void *mmap(void *addr, size_t len, int prot, int flags, int fd, int64_t off)');
const msyncNative = libc.func('int msync(void *addr, size_t len, int flags)');
const munmapNative = libc.func('int munmap(void *addr, size_t len)');
const getxattrNative = libc.func(
  'int64_t getxattr(const char *path, const char *name, _Out_ uint8_t *value, size_t size)',
);
const setxattrNative = libc.func(
  'int setxattr(const char *path, const char *name, const uint8_t *value, size_t size, int flags)',
);

const AT_FDCWD = -100;
export const RENAME_NOREPLACE = 1;
export const RENAME_EXCHANGE = 2;
export const SEEK_DATA = 3;
export const SEEK_HOLE = 4;
export const FALLOC_FL_KEEP_SIZE = 1;
export const FALLOC_FL_PUNCH_HOLE = 2;
export const FALLOC_FL_ZERO_RANGE = 0x10;
const PROT_READ = 1;
const PROT_WRITE = 2;
const MAP_SHARED = 1;
const MS_SYNC = 4;
const MAP_FAILED = 0xffff_ffff_ffff_ffffn;

/** errno names by number: the ones these calls can answer. */
const ERRNO_NAMES: Record<number, string> = {
  1: 'EPERM',
  2: 'ENOENT',
  5: 'EIO',
  6: 'ENXIO',
  9: 'EBADF',
  13: 'EACCES',
  16: 'EBUSY',
  17: 'EEXIST',
  18: 'EXDEV',
  20: 'ENOTDIR',
  21: 'EISDIR',
  22: 'EINVAL',
  27: 'EFBIG',
  28: 'ENOSPC',
  30: 'EROFS',
  34: 'ERANGE',
  36: 'ENAMETOOLONG',
  38: 'ENOSYS',
  39: 'ENOTEMPTY',
  61: 'ENODATA',
  95: 'EOPNOTSUPP',
};

function fail(what: string): never {
  const errno = koffi.errno();
  const code = ERRNO_NAMES[errno] ?? `ERRNO_${errno}`;
  throw Object.assign(new Error(`${what}: ${code}`), { code, errno });
}

function checked<T extends number | bigint>(result: T, what: string): T {
  if (Number(result) < 0) fail(what);
  return result;
}

export function renameat2(from: string, to: string, flags: number): void {
  checked(renameat2Native(AT_FDCWD, from, AT_FDCWD, to, flags) as number, `renameat2(${from}, ${to})`);
}

/** lseek(2) with SEEK_DATA or SEEK_HOLE: the offset found (ENXIO past the last data / the end). */
export function lseek(fd: number, offset: number, whence: number): number {
  return Number(checked(lseekNative(fd, offset, whence) as number, `lseek(${fd}, ${offset}, ${whence})`));
}

export function fallocate(fd: number, mode: number, offset: number, length: number): void {
  checked(fallocateNative(fd, mode, offset, length) as number, `fallocate(${fd}, ${mode})`);
}

export interface SharedMapping {
  /** The mapped bytes: reading faults pages in through the filesystem, writing dirties them. */
  readonly bytes: Uint8Array;
  /** msync(MS_SYNC): dirty pages are written back through the filesystem before it returns. */
  sync(): void;
  unmap(): void;
}

/** mmap(MAP_SHARED) of [0, length) of `fd`, readable and, if `writable`, writable. */
export function mmapShared(fd: number, length: number, writable: boolean): SharedMapping {
  const prot = PROT_READ | (writable ? PROT_WRITE : 0);
  const ptr = mmapNative(null, length, prot, MAP_SHARED, fd, 0);
  if (ptr === null || koffi.address(ptr) === MAP_FAILED) fail(`mmap(${fd}, ${length})`);
  return {
    bytes: new Uint8Array(koffi.view(ptr, length)),
    sync: () => void checked(msyncNative(ptr, length, MS_SYNC) as number, `msync(${fd})`),
    unmap: () => void checked(munmapNative(ptr, length) as number, `munmap(${fd})`),
  };
}

export function getxattr(path: string, name: string): Buffer {
  const buf = Buffer.alloc(64 * 1024);
  const n = Number(
    checked(getxattrNative(path, name, buf, buf.length) as number, `getxattr(${path}, ${name})`),
  );
  return buf.subarray(0, n);
}

export function setxattr(path: string, name: string, value: Buffer, flags = 0): void {
  checked(setxattrNative(path, name, value, value.length, flags) as number, `setxattr(${path}, ${name})`);
}
