import { statfs } from 'node:fs/promises';
import { toKlError } from '@kubelustre/protocol/errors.ts';
import type { StatfsValue } from './role.ts';

/** Space and inodes of the filesystem holding `dir` (a target's data volume), in the wire's units. */
export async function dirStatfs(dir: string): Promise<StatfsValue> {
  try {
    const s = await statfs(dir);
    return {
      totalBytes: s.blocks * s.bsize,
      freeBytes: s.bfree * s.bsize,
      availBytes: s.bavail * s.bsize,
      files: s.files,
      filesFree: s.ffree,
    };
  } catch (e) {
    throw toKlError(e, `statfs of ${dir}`);
  }
}
