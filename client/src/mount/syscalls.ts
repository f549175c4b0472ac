import { codeOfErrno, KlError } from '@kubelustre/protocol/errors.ts';
import koffi from 'koffi';

/**
 * The system calls Node lacks, through koffi (libc): mount(2), umount2(2) and ioctl(2). They are called
 * synchronously, which is safe even from the process serving the FUSE mount: mount(2) only queues
 * FUSE_INIT (answered later, asynchronously), and unmounting a plain `fuse` filesystem sends no
 * request the caller would wait for (DESTROY and SYNCFS are only sent for fuseblk and virtiofs).
 */
const libc = koffi.load('libc.so.6');
const mountNative = libc.func(
  'int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)',
) as (source: string, target: string, fstype: string, flags: number, data: string) => number;
const umount2Native = libc.func('int umount2(const char *target, int flags)') as (
  target: string,
  flags: number,
) => number;
const ioctlNative = libc.func('int ioctl(int fd, unsigned long request, ...)') as (
  fd: number,
  request: number,
  ...typedArgs: unknown[]
) => number;

const getxattrNative = libc.func(
  'long getxattr(const char *path, const char *name, _Out_ uint8_t *value, size_t size)',
) as (path: string, name: string, value: Buffer | null, size: number) => number;
const setxattrNative = libc.func(
  'int setxattr(const char *path, const char *name, const uint8_t *value, size_t size, int flags)',
) as (path: string, name: string, value: Buffer, size: number, flags: number) => number;

/** mount(2) flags (Linux values). */
export const MS_RDONLY = 1;
export const MS_NOSUID = 2;
export const MS_NODEV = 4;
/** umount2(2) flags. */
export const MNT_FORCE = 1;
export const MNT_DETACH = 2;

const ERANGE = 34;

function check(result: number, what: string): void {
  if (result >= 0) return;
  const code = codeOfErrno(koffi.errno());
  throw new KlError(code, `${what} failed with ${code}`);
}

export function mountSyscall(
  source: string,
  target: string,
  fstype: string,
  flags: number,
  data: string,
): void {
  check(mountNative(source, target, fstype, flags, data), `mount(${fstype} on ${target})`);
}

export function umount2Syscall(target: string, flags: number): void {
  check(umount2Native(target, flags), `umount2(${target}, ${flags})`);
}

/** ioctl(fd, request, &value) with a 32-bit argument, as FUSE_DEV_IOC_CLONE takes the fd to clone. */
export function ioctlU32(fd: number, request: number, value: number, what: string): void {
  check(ioctlNative(fd, request, 'uint32_t *', [value]), what);
}

/** getxattr(2): the whole value (asks its size first; a value growing in between is ERANGE, retried). */
export function getxattrSyscall(path: string, name: string): Buffer {
  for (;;) {
    const size = getxattrNative(path, name, null, 0);
    check(size, `getxattr(${path}, ${name})`);
    const value = Buffer.alloc(size);
    const n = getxattrNative(path, name, value, size);
    if (n < 0 && koffi.errno() === ERANGE) continue;
    check(n, `getxattr(${path}, ${name})`);
    return value.subarray(0, n);
  }
}

export function setxattrSyscall(path: string, name: string, value: Buffer): void {
  check(setxattrNative(path, name, value, value.length, 0), `setxattr(${path}, ${name})`);
}
