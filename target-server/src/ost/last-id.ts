import fs from 'node:fs/promises';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { KlError, toKlError } from '@kubelustre/protocol/errors.ts';
import type { Logger } from '@kubelustre/protocol/log.ts';
import { Type } from '@sinclair/typebox';
import { readJsonFile, writeFileAtomic } from '../server/atomic-file.ts';
import { OBJECTS_DIR } from './object-namespace.ts';

/** On-disk LAST_ID: the highest object id ever handed out, with a checksum of its decimal digits. */
const LastIdFile = Type.Object({ lastId: Type.Integer({ minimum: 0 }), crc32: Type.Integer({ minimum: 0 }) });

export const LAST_ID_FILE = 'LAST_ID';

/**
 * The OST's object id allocator (Lustre's LAST_ID). Ids are unique on this OST across all MDTs and are
 * never handed out twice: the new high-water mark is on stable storage before any id in a range is
 * returned, so even a power loss right after the reply cannot bring an id back. A range lost that way
 * (persisted, reply never delivered) only wastes ids.
 */
export class LastIdStore {
  readonly #file: string;
  readonly #targetName: string;
  readonly #log: Logger;
  #lastId: number;
  /** Reservations run one at a time so two callers never compute the same range. */
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(file: string, lastId: number, targetName: string, log: Logger) {
    this.#file = file;
    this.#lastId = lastId;
    this.#targetName = targetName;
    this.#log = log;
  }

  /** Loads LAST_ID from `dataDir`, creating it (at 0) for a new target. */
  static async open(dataDir: string, targetName: string, log: Logger): Promise<LastIdStore> {
    const file = path.join(dataDir, LAST_ID_FILE);
    const stored = await readJsonFile(file, LastIdFile);
    if (stored === undefined) {
      await refuseIfObjectsExist(dataDir, file);
      await writeFileAtomic(file, encodeLastId(0));
      return new LastIdStore(file, 0, targetName, log);
    }
    if (crc32(String(stored.lastId)) !== stored.crc32)
      throw new KlError('EIO', `${file} fails its checksum: LAST_ID ${stored.lastId} is damaged`);
    return new LastIdStore(file, stored.lastId, targetName, log);
  }

  /** Highest id reserved so far; ids 1..lastId may have objects, larger ones never existed. */
  get lastId(): number {
    return this.#lastId;
  }

  /** Reserves `count` consecutive new ids for MDT `mdtIndex`, durably. */
  reserve(count: number, mdtIndex: number): Promise<{ first: number; last: number }> {
    const next = this.#queue.then(() => this.#reserveNow(count, mdtIndex));
    this.#queue = next.catch(() => undefined);
    return next;
  }

  async #reserveNow(count: number, mdtIndex: number): Promise<{ first: number; last: number }> {
    const first = this.#lastId + 1;
    const last = this.#lastId + count;
    if (!Number.isSafeInteger(last))
      throw new KlError('EOVERFLOW', `object ids on ${this.#targetName} exhausted at ${this.#lastId}`);
    await writeFileAtomic(this.#file, encodeLastId(last));
    this.#lastId = last;
    this.#log.debug({ mdtIndex, first, last }, 'Reserved object ids');
    return { first, last };
  }
}

/**
 * A new target writes LAST_ID before its object directories, so objects without a LAST_ID mean it was
 * lost; starting again at 0 would hand out ids of live objects and mix two files' data.
 */
async function refuseIfObjectsExist(dataDir: string, file: string): Promise<void> {
  const objects = path.join(dataDir, OBJECTS_DIR);
  const exists = await fs.stat(objects).then(
    () => true,
    (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return false;
      throw toKlError(e, `checking ${objects}`);
    },
  );
  if (exists)
    throw new KlError('EIO', `${file} is missing but ${objects} exists: refusing to reuse object ids`);
}

function encodeLastId(lastId: number): string {
  return `${JSON.stringify({ lastId, crc32: crc32(String(lastId)) })}\n`;
}
