import { randomBytes } from 'node:crypto';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { KlError, toKlError } from '@kubelustre/protocol/errors.ts';
import { checkMessage } from '@kubelustre/protocol/messages/validate.ts';
import type { Static, TSchema } from '@sinclair/typebox';

/**
 * Replaces `path` with `data` so that a crash at any moment leaves either the old or the new content,
 * never a mix: write a temp file beside it, fsync it, rename it over `path`, then fsync the directory so
 * the rename itself is durable.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    const file = await open(temp, 'wx', 0o600);
    try {
      await file.writeFile(data);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, path);
  } catch (e) {
    await unlink(temp).catch(() => {});
    throw toKlError(e, `writing ${path}`);
  }
  await fsyncDir(dir, path);
}

async function fsyncDir(dir: string, path: string): Promise<void> {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (e) {
    throw toKlError(e, `syncing directory ${dir} after renaming ${path}`);
  }
}

/**
 * Reads a JSON file and checks it against `schema`. Returns undefined when the file does not exist (not
 * created yet); a file that exists but is not valid JSON, or not of the schema, is an error (EIO / EPROTO)
 * rather than silently treated as missing, so damaged state is never overwritten with fresh state.
 */
export async function readJsonFile<S extends TSchema>(
  path: string,
  schema: S,
): Promise<Static<S> | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw toKlError(e, `reading ${path}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new KlError(
      'EIO',
      `${path} is corrupt (not JSON: ${(e as Error).message}); restore it from a backup`,
    );
  }
  return checkMessage(schema, value, path);
}
