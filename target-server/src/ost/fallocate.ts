import { codeOfErrno, KlError } from '@kubelustre/protocol/errors.ts';
import koffi from 'koffi';

/**
 * fallocate(2), which Node's fs does not offer. Called synchronously, like lseek.ts: allocating or
 * punching only edits the file's extent map (unwritten extents; no data is written), so it returns in
 * microseconds, and a synchronous call keeps errno ours (an asynchronous koffi call would run it on a
 * worker thread whose errno we cannot read).
 */
const libc = koffi.load('libc.so.6');
const fallocateNative = libc.func('int fallocate(int fd, int mode, int64_t offset, int64_t len)') as (
  fd: number,
  mode: number,
  offset: number,
  length: number,
) => number;

/** fallocate(2) on `fd`; `what` names the operation in the error. */
export function fallocateFd(fd: number, mode: number, offset: number, length: number, what: string): void {
  if (fallocateNative(fd, mode, offset, length) === 0) return;
  const code = codeOfErrno(koffi.errno());
  throw new KlError(code, `${what}: fallocate(mode ${mode}) failed with ${code}`);
}
