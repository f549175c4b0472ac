import { constants } from 'node:os';

/** POSIX error names used on the data path; each maps to its Linux errno value. */
export type ErrnoCode =
  | 'EPERM'
  | 'EINTR'
  | 'EBUSY'
  | 'ENODEV'
  | 'ENOTCONN'
  | 'ENOENT'
  | 'EIO'
  | 'EBADF'
  | 'EAGAIN'
  | 'ENOMEM'
  | 'EACCES'
  | 'EEXIST'
  | 'EXDEV'
  | 'ENOTDIR'
  | 'EISDIR'
  | 'EINVAL'
  | 'EFBIG'
  | 'ENOSPC'
  | 'EROFS'
  | 'EMLINK'
  | 'ERANGE'
  | 'ENAMETOOLONG'
  | 'ENOSYS'
  | 'ENOTEMPTY'
  | 'ELOOP'
  | 'ENODATA'
  | 'ENOTSUP'
  | 'ENXIO'
  | 'ECONNRESET'
  | 'EPROTO'
  | 'EBADMSG'
  | 'EOVERFLOW'
  | 'ETIMEDOUT'
  | 'ECONNREFUSED'
  | 'ESHUTDOWN'
  | 'EDQUOT'
  | 'ESTALE';

// Node's table lacks a few Linux errno values we use; these are Linux's numbers (asm-generic/errno.h).
const errnoByCode = { ESHUTDOWN: 108, ...constants.errno } as Record<string, number>;

/** Linux errno number for a code (positive). */
export function errnoOf(code: ErrnoCode): number {
  const n = errnoByCode[code];
  if (n === undefined) throw new Error(`unknown errno code ${code}`);
  return n;
}

const codeByErrno = new Map<number, ErrnoCode>();
for (const [name, n] of Object.entries(errnoByCode)) {
  if (!codeByErrno.has(n)) codeByErrno.set(n, name as ErrnoCode);
}
// ENOTSUP and EOPNOTSUPP share a number on Linux; we always speak of ENOTSUP.
codeByErrno.set(errnoByCode.ENOTSUP!, 'ENOTSUP');

/** Error code for an errno number; unknown numbers become EIO. */
export function codeOfErrno(n: number): ErrnoCode {
  return codeByErrno.get(n) ?? 'EIO';
}

/**
 * The one error type that crosses kubelustre boundaries. `code` is stable and is what callers branch on;
 * `message` says what failed and why, for people.
 */
export class KlError extends Error {
  readonly code: ErrnoCode;
  /** The message without its code prefix: what travels in an error reply. */
  readonly reason: string;
  constructor(code: ErrnoCode, reason: string, options?: { cause?: unknown }) {
    super(`${code}: ${reason}`, options);
    this.name = 'KlError';
    this.code = code;
    this.reason = reason;
  }

  get errno(): number {
    return errnoOf(this.code);
  }
}

export function isKlError(e: unknown, code?: ErrnoCode): e is KlError {
  return e instanceof KlError && (code === undefined || e.code === code);
}

/** Wraps any thrown value as a KlError, keeping KlErrors and Node system errors' codes. */
export function toKlError(e: unknown, context: string): KlError {
  if (e instanceof KlError) return e;
  const sys = e as NodeJS.ErrnoException;
  if (sys && typeof sys.code === 'string' && sys.code in errnoByCode) {
    return new KlError(sys.code as ErrnoCode, `${context}: ${sys.message}`, { cause: e });
  }
  return new KlError('EIO', `${context}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
}
