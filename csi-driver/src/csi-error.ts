import { status } from '@grpc/grpc-js';
import { type ErrnoCode, isKlError, KlError } from '@kubelustre/protocol/errors.ts';

/** An error that already says which gRPC status it answers with: what handlers throw for CSI rules. */
export class CsiError extends Error {
  readonly code: status;
  constructor(code: status, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CsiError';
    this.code = code;
  }
}

export const invalidArgument = (message: string) => new CsiError(status.INVALID_ARGUMENT, message);
export const notFound = (message: string) => new CsiError(status.NOT_FOUND, message);

/**
 * The gRPC status of each filesystem error: the one place errno meets CSI. What a CO may retry
 * (connection trouble, timeouts) is UNAVAILABLE or DEADLINE_EXCEEDED; what the caller got wrong is
 * INVALID_ARGUMENT; space and quota are RESOURCE_EXHAUSTED (the CO reports them to the user).
 */
const STATUS_OF_ERRNO: Partial<Record<ErrnoCode, status>> = {
  EINVAL: status.INVALID_ARGUMENT,
  ENAMETOOLONG: status.INVALID_ARGUMENT,
  ENOENT: status.NOT_FOUND,
  ESTALE: status.NOT_FOUND,
  EEXIST: status.ALREADY_EXISTS,
  ENOTEMPTY: status.FAILED_PRECONDITION,
  ENOTDIR: status.FAILED_PRECONDITION,
  EISDIR: status.FAILED_PRECONDITION,
  EROFS: status.FAILED_PRECONDITION,
  ENOSPC: status.RESOURCE_EXHAUSTED,
  EDQUOT: status.RESOURCE_EXHAUSTED,
  EFBIG: status.RESOURCE_EXHAUSTED,
  EPERM: status.PERMISSION_DENIED,
  EACCES: status.PERMISSION_DENIED,
  ETIMEDOUT: status.DEADLINE_EXCEEDED,
  EAGAIN: status.UNAVAILABLE,
  EBUSY: status.UNAVAILABLE,
  ENOTCONN: status.UNAVAILABLE,
  ECONNREFUSED: status.UNAVAILABLE,
  ECONNRESET: status.UNAVAILABLE,
  ESHUTDOWN: status.UNAVAILABLE,
  ENXIO: status.UNAVAILABLE,
  ENOSYS: status.UNIMPLEMENTED,
  ENOTSUP: status.UNIMPLEMENTED,
  ERANGE: status.OUT_OF_RANGE,
};

export interface MappedError {
  code: status;
  message: string;
  /** Not an error we expected (no CsiError, no KlError): log its stack. */
  unexpected: boolean;
}

/**
 * What an error thrown by a handler answers: a CsiError its own status, a KlError (or a Node system
 * error, whose errno code we keep) the status of its errno, anything else INTERNAL.
 */
export function mapError(e: unknown): MappedError {
  if (e instanceof CsiError) return { code: e.code, message: e.message, unexpected: false };
  const kl = isKlError(e) ? e : fromSystemError(e);
  if (kl) {
    const code = STATUS_OF_ERRNO[kl.code] ?? status.INTERNAL;
    return { code, message: kl.message, unexpected: code === status.INTERNAL };
  }
  return { code: status.INTERNAL, message: e instanceof Error ? e.message : String(e), unexpected: true };
}

function fromSystemError(e: unknown): KlError | undefined {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code !== 'string' || !(code in STATUS_OF_ERRNO)) return undefined;
  return new KlError(code as ErrnoCode, (e as Error).message, { cause: e });
}
