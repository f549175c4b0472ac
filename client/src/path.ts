import { KlError } from '@kubelustre/protocol/errors.ts';

/** Linux's NAME_MAX and PATH_MAX (the latter counts the terminating NUL). */
export const NAME_BYTES_MAX = 255;
export const PATH_BYTES_MAX = 4096;

/** A path cut into the names a walk looks up; "." already dropped, ".." kept (the walk pops). */
export interface SplitPath {
  components: string[];
  /** "a/b/" names a directory: the last component must be one (and a symlink there is followed). */
  trailingSlash: boolean;
}

/**
 * Splits a path inside the filesystem. Absolute and relative paths both start at the filesystem's root
 * (the library has no working directory). Empty paths are ENOENT, over-long ones ENAMETOOLONG, as POSIX.
 */
export function splitPath(path: string): SplitPath {
  if (path.length === 0) throw new KlError('ENOENT', 'the empty path names nothing');
  if (Buffer.byteLength(path) >= PATH_BYTES_MAX) {
    throw new KlError(
      'ENAMETOOLONG',
      `path of ${Buffer.byteLength(path)} bytes exceeds ${PATH_BYTES_MAX - 1}`,
    );
  }
  if (path.includes('\0')) throw new KlError('EINVAL', 'a path holds no NUL byte');
  const components = path.split('/').filter((c) => c !== '' && c !== '.');
  for (const c of components) checkName(c);
  return { components, trailingSlash: /\/\.?$/.test(path) && components.length > 0 };
}

/** One directory entry name: 1 to 255 bytes, no slash, no NUL. */
export function checkName(name: string): void {
  if (name.length === 0) throw new KlError('ENOENT', 'an entry name is not empty');
  if (name.includes('/') || name.includes('\0'))
    throw new KlError('EINVAL', `"${name}" is not one entry name`);
  const bytes = Buffer.byteLength(name);
  if (bytes > NAME_BYTES_MAX) {
    throw new KlError(
      'ENAMETOOLONG',
      `name of ${bytes} bytes exceeds ${NAME_BYTES_MAX}: ${name.slice(0, 40)}...`,
    );
  }
}

/** Prints components back as an absolute path, for messages. */
export function joinPath(components: readonly string[]): string {
  return `/${components.join('/')}`;
}
