import fs from 'node:fs/promises';
import path from 'node:path';
import { fsyncDirectory } from './fsync-directory.ts';

/**
 * Where objects live on the target's filesystem: `O/<objId mod 256 as 2 hex>/<objId>`, spread over 256
 * directories (as Lustre spreads them over O/0/d0..d31) so no directory grows huge.
 */
export const OBJECTS_DIR = 'O';
export const BUCKET_COUNT = 256;

export function bucketOf(objId: number): number {
  return objId % BUCKET_COUNT;
}

export function bucketDir(dataDir: string, bucket: number): string {
  return path.join(dataDir, OBJECTS_DIR, bucket.toString(16).padStart(2, '0'));
}

export function objectPath(dataDir: string, objId: number): string {
  return path.join(bucketDir(dataDir, bucketOf(objId)), String(objId));
}

/** Creates the bucket directories (once per target; later starts find them) and makes them durable. */
export async function createBuckets(dataDir: string): Promise<void> {
  for (let b = 0; b < BUCKET_COUNT; b++) await fs.mkdir(bucketDir(dataDir, b), { recursive: true });
  await fsyncDirectory(path.join(dataDir, OBJECTS_DIR));
  await fsyncDirectory(dataDir);
}

/**
 * The smallest `countMax` object ids above `after` present on disk, ascending, and whether there are no
 * more. Each call scans every bucket (directories are unordered) but keeps at most 2 × countMax
 * candidates in memory, so a batch costs one pass over the namespace and bounded memory.
 */
export async function listObjectIds(
  dataDir: string,
  after: number,
  countMax: number,
): Promise<{ objIds: number[]; eof: boolean }> {
  let candidates: number[] = [];
  let found = 0;
  for (let b = 0; b < BUCKET_COUNT; b++) {
    for await (const entry of await fs.opendir(bucketDir(dataDir, b))) {
      const objId = parseObjectName(entry.name, b);
      if (objId === undefined || objId <= after || !entry.isFile()) continue;
      found++;
      candidates.push(objId);
      if (candidates.length >= 2 * countMax) candidates = smallest(candidates, countMax);
    }
  }
  return { objIds: smallest(candidates, countMax), eof: found <= countMax };
}

function smallest(ids: number[], count: number): number[] {
  return ids.sort((a, b) => a - b).slice(0, count);
}

/** The id an object file name stands for; undefined for anything else (temporary or stray files). */
function parseObjectName(name: string, bucket: number): number | undefined {
  if (!/^[1-9][0-9]{0,15}$/.test(name)) return undefined;
  const objId = Number(name);
  return Number.isSafeInteger(objId) && bucketOf(objId) === bucket ? objId : undefined;
}
