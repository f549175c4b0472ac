import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, open, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { BenchFile, BenchFs } from './bench-fs.ts';

/** Drops the kernel's page cache (root only); says so when it cannot, since reads are then warm. */
export function dropKernelCaches(): boolean {
  try {
    execFileSync('sync');
    writeFileSync('/proc/sys/vm/drop_caches', '3');
    return true;
  } catch {
    return false;
  }
}

/** The baseline: the same operations on a plain directory of this machine's disk. */
export function localFs(parent: string): BenchFs {
  const root = mkdtempSync(join(parent, 'kl-bench-local-'));
  return dirFs(root, 'local directory', async () => {
    dropKernelCaches();
  });
}

/** The operations through node:fs on any directory (a local one, or a mount's). */
export function dirFs(root: string, name: string, dropCaches: () => Promise<void>): BenchFs {
  const wrap = async (path: string, flags: string): Promise<BenchFile> => {
    const fh = await open(join(root, path), flags);
    return {
      write: async (data, position) => {
        await fh.write(data, 0, data.length, position);
      },
      read: async (length, position) =>
        (await fh.read(Buffer.allocUnsafe(length), 0, length, position)).bytesRead,
      sync: () => fh.sync(),
      close: () => fh.close(),
    };
  };
  return {
    name,
    create: (path) => wrap(path, 'w+'),
    open: (path) => wrap(path, 'r'),
    mkdir: async (path) => {
      await mkdir(join(root, path));
    },
    stat: async (path) => {
      await stat(join(root, path));
    },
    unlink: (path) => unlink(join(root, path)),
    dropCaches,
    async [Symbol.asyncDispose]() {
      rmSync(root, { recursive: true, force: true });
    },
  };
}
