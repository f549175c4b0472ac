import fs from 'node:fs/promises';

/**
 * Makes the directory's entries (files created, renamed or removed in it) durable: fsync of a file does
 * not cover the name that points to it.
 */
export async function fsyncDirectory(dir: string): Promise<void> {
  const fh = await fs.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
