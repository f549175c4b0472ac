import { status } from '@grpc/grpc-js';
import { KlError } from '@kubelustre/protocol/errors.ts';
import { describe, expect, it } from 'vitest';
import { CsiError, mapError } from './csi-error.ts';

describe('mapError', () => {
  it('keeps the status of a CsiError', () => {
    expect(mapError(new CsiError(status.ABORTED, 'busy'))).toEqual({
      code: status.ABORTED,
      message: 'busy',
      unexpected: false,
    });
  });

  it.each([
    ['EINVAL', status.INVALID_ARGUMENT],
    ['ENOENT', status.NOT_FOUND],
    ['EEXIST', status.ALREADY_EXISTS],
    ['ENOSPC', status.RESOURCE_EXHAUSTED],
    ['EDQUOT', status.RESOURCE_EXHAUSTED],
    ['EACCES', status.PERMISSION_DENIED],
    ['ETIMEDOUT', status.DEADLINE_EXCEEDED],
    ['ECONNREFUSED', status.UNAVAILABLE],
    ['EROFS', status.FAILED_PRECONDITION],
  ] as const)('maps KlError %s to %s', (code, expected) => {
    const mapped = mapError(new KlError(code, 'why'));
    expect(mapped.code).toBe(expected);
    expect(mapped.message).toBe(`${code}: why`);
    expect(mapped.unexpected).toBe(false);
  });

  it('maps a Node system error by its errno code', () => {
    const e = Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' });
    expect(mapError(e).code).toBe(status.NOT_FOUND);
  });

  it('answers INTERNAL for anything else and marks it unexpected (its stack gets logged)', () => {
    expect(mapError(new TypeError('x is undefined'))).toEqual({
      code: status.INTERNAL,
      message: 'x is undefined',
      unexpected: true,
    });
    expect(mapError(new KlError('EIO', 'disk')).unexpected).toBe(true);
    expect(mapError('thrown string').code).toBe(status.INTERNAL);
  });
});
