import { KlError } from '@kubelustre/protocol/errors.ts';

/** NAME_MAX, in bytes of UTF-8. */
export const NAME_BYTES_MAX = 255;

/**
 * Checks one path component for a new or existing entry: ENAMETOOLONG over NAME_MAX bytes, EINVAL for
 * a '/' or NUL inside it, and for '.' and '..', which name no dentry the MDT stores (the client's VFS
 * resolves them before asking us).
 */
export function checkName(name: string, parent: string): void {
  if (Buffer.byteLength(name, 'utf8') > NAME_BYTES_MAX) {
    throw new KlError(
      'ENAMETOOLONG',
      `name "${name.slice(0, 32)}…" in ${parent} is longer than ${NAME_BYTES_MAX} bytes`,
    );
  }
  if (name.length === 0 || name.includes('/') || name.includes('\0')) {
    throw new KlError(
      'EINVAL',
      `"${name}" in ${parent} is not a valid name: one path component, no '/' or NUL`,
    );
  }
  if (isDotName(name))
    throw new KlError('EINVAL', `"${name}" in ${parent} cannot be created, linked or renamed`);
}

export function isDotName(name: string): boolean {
  return name === '.' || name === '..';
}

/**
 * What unlink(2) and rmdir(2) answer for '.' and '..' (Linux): unlink gives EISDIR for both, rmdir gives
 * EINVAL for '.' and ENOTEMPTY for '..'.
 */
export function dotRemovalError(name: '.' | '..', dir: boolean, parent: string): KlError {
  if (!dir) return new KlError('EISDIR', `cannot unlink "${name}" in ${parent}: it is a directory`);
  if (name === '.') return new KlError('EINVAL', `cannot remove "." of ${parent}`);
  return new KlError('ENOTEMPTY', `cannot remove ".." of ${parent}: it is not empty`);
}
