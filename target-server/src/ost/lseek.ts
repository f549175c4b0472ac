import { codeOfErrno, KlError } from '@kubelustre/protocol/errors.ts';
import koffi from 'koffi';

/**
 * lseek(2) with SEEK_DATA / SEEK_HOLE, which Node's fs does not offer. Called synchronously: it only
 * consults the file's extent map, and the file position it moves is never used because every read and
 * write is positioned (pread/pwrite).
 */
const libc = koffi.load('libc.so.6');
const lseekNative = libc.func('int64_t lseek(int fd, int64_t offset, int whence)') as (
  fd: number,
  offset: number,
  whence: number,
) => number | bigint;

// Linux values (unistd.h); the same on every Linux architecture.
const SEEK_DATA = 3;
const SEEK_HOLE = 4;

export type SeekWhence = 'data' | 'hole';

/**
 * The next data (or hole) offset at or after `offset`; ENXIO when `offset` is at or past the end.
 * `what` names the operation in the error.
 */
export function seekDataOrHole(fd: number, offset: number, whence: SeekWhence, what: string): number {
  const result = Number(lseekNative(fd, offset, whence === 'data' ? SEEK_DATA : SEEK_HOLE));
  if (result < 0) {
    const code = codeOfErrno(koffi.errno());
    throw new KlError(code, `${what}: lseek(SEEK_${whence.toUpperCase()}) failed with ${code}`);
  }
  return result;
}
