import fs, { type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { KlError } from '@kubelustre/protocol/errors.ts';
import type { Logger } from '@kubelustre/protocol/log.ts';
import { writeFileAtomic } from '../server/atomic-file.ts';
import { objectPath } from './object-namespace.ts';

/** Which object belongs to which project: one `objId projid` line per change, the last line winning. */
export const PROJECT_LOG = 'PROJECT_OBJECTS';
const GiB = 1024 ** 3;

interface Charged {
  projid: number;
  /** Allocated bytes (st_blocks × 512) as last measured: what the object adds to its project's usage. */
  bytes: number;
}

/**
 * Lustre's quota slave (QSD) on one OST: the bytes each project has allocated here, and the grants the
 * MDT (the quota master) pushes with `ost.quota_sync`. Only objects of a project (projid ≠ 0) are
 * tracked, so files outside any project cost nothing.
 *
 * Crash safety: the object → project map is an append-only log (appended before the object's first
 * charged I/O, fdatasync'ed with `ost.sync`), and usage is never stored: at startup every mapped object
 * is stat'ed again, so usage is exact after a kill -9 or power loss (one stat per project object).
 *
 * Enforcement: an op is refused with EDQUOT when the project's usage, plus the estimated growth of the
 * ops in flight for it, plus this op's estimate, would pass the grant (the client then asks the MDT to
 * grant this OST more, `mdt.quota_acquire`, and retries once). The estimate is the bytes past the
 * object's allocated size, so a write into a hole of a sparse object may pass the grant by at most its
 * own length (one RPC, ≤ 8 MiB); the measured usage after it refuses the next one.
 */
export class ProjectQuota {
  readonly #targetName: string;
  readonly #objects = new Map<number, Charged>();
  readonly #usage = new Map<number, number>();
  readonly #pending = new Map<number, number>();
  #grants = new Map<number, { allowedBytes: number; limitBytes: number }>();
  readonly #log: FileHandle;
  #logDirty = false;

  private constructor(targetName: string, log: FileHandle) {
    this.#targetName = targetName;
    this.#log = log;
  }

  /** Replays the project log, measures every mapped object again, and rewrites the log compacted. */
  static async open(dataDir: string, targetName: string, logger: Logger): Promise<ProjectQuota> {
    const path = join(dataDir, PROJECT_LOG);
    const map = parseLog(await fs.readFile(path, 'utf8').catch(ignoreMissing));
    const lines: string[] = [];
    const measured: Array<[number, Charged]> = [];
    for (const [objId, projid] of map) {
      const bytes = await allocatedBytes(objectPath(dataDir, objId));
      if (bytes === undefined) continue; // destroyed (or never written) before the log said so
      measured.push([objId, { projid, bytes }]);
      lines.push(`${objId} ${projid}\n`);
    }
    await writeFileAtomic(path, lines.join(''));
    const quota = new ProjectQuota(targetName, await fs.open(path, 'a'));
    for (const [objId, charged] of measured) quota.#track(objId, charged);
    logger.info({ projectObjects: measured.length }, 'Measured project usage');
    return quota;
  }

  /** Bytes allocated per project on this OST, with the estimated growth of the ops in flight. */
  usage(): Array<{ projid: number; bytes: number }> {
    const projids = new Set([...this.#usage.keys(), ...this.#pending.keys()]);
    return [...projids].map((projid) => ({
      projid,
      bytes: (this.#usage.get(projid) ?? 0) + (this.#pending.get(projid) ?? 0),
    }));
  }

  /** Replaces every grant (the MDT sends the whole set each round). */
  setGrants(grants: ReadonlyArray<{ projid: number; allowedBytes: number; limitBytes: number }>): void {
    this.#grants = new Map(grants.map((g) => [g.projid, g]));
  }

  /**
   * Runs `op` on object `objId` of project `projid`, expecting it to allocate at most `growthBytes`
   * (checked against the grant), then charges what it really changed. `measure` answers the object's
   * allocated bytes now (undefined: it does not exist).
   */
  async charge<T>(
    objId: number,
    projid: number,
    growthBytes: number,
    measure: () => Promise<number | undefined>,
    op: () => Promise<T>,
  ): Promise<T> {
    const known = this.#objects.get(objId);
    if (projid === 0 && known === undefined) return op();
    this.#admit(projid, growthBytes);
    this.#addTo(this.#pending, projid, growthBytes);
    try {
      if (known?.projid !== projid) await this.#retag(objId, projid, (await measure()) ?? 0);
      const result = await op();
      this.#remeasure(objId, (await measure()) ?? 0);
      return result;
    } finally {
      this.#addTo(this.#pending, projid, -growthBytes);
    }
  }

  /** Gives a destroyed object's bytes back to its project. */
  async release(objId: number): Promise<void> {
    if (!this.#objects.has(objId)) return;
    this.#untrack(objId);
    await this.#append(`${objId} 0\n`);
  }

  /** The allocated bytes last measured for a tracked object (0 if untracked). */
  trackedBytes(objId: number): number {
    return this.#objects.get(objId)?.bytes ?? 0;
  }

  /** fdatasync of the log, with `ost.sync`: the map survives power loss like the objects' data. */
  async sync(): Promise<void> {
    if (!this.#logDirty) return;
    this.#logDirty = false;
    await this.#log.datasync();
  }

  close(): Promise<void> {
    return this.#log.close();
  }

  #admit(projid: number, growthBytes: number): void {
    const grant = this.#grants.get(projid);
    if (projid === 0 || grant === undefined || growthBytes === 0) return;
    const used = (this.#usage.get(projid) ?? 0) + (this.#pending.get(projid) ?? 0);
    if (used + growthBytes > grant.allowedBytes) {
      throw new KlError(
        'EDQUOT',
        `EDQUOT: project ${projid} over its ${formatBytes(grant.limitBytes)} limit (${used} bytes used on ${this.#targetName}, granted ${grant.allowedBytes}, ${growthBytes} more asked)`,
      );
    }
  }

  /** Moves the object (with its current bytes) to `projid`, logged before any I/O under the new id. */
  async #retag(objId: number, projid: number, bytes: number): Promise<void> {
    this.#untrack(objId);
    await this.#append(`${objId} ${projid}\n`);
    if (projid !== 0) this.#track(objId, { projid, bytes });
  }

  async #append(line: string): Promise<void> {
    this.#logDirty = true;
    await this.#log.appendFile(line);
  }

  #remeasure(objId: number, bytes: number): void {
    const known = this.#objects.get(objId);
    if (!known) return;
    this.#addTo(this.#usage, known.projid, bytes - known.bytes);
    known.bytes = bytes;
  }

  #track(objId: number, charged: Charged): void {
    this.#objects.set(objId, charged);
    this.#addTo(this.#usage, charged.projid, charged.bytes);
  }

  #untrack(objId: number): void {
    const known = this.#objects.get(objId);
    if (!known) return;
    this.#objects.delete(objId);
    this.#addTo(this.#usage, known.projid, -known.bytes);
  }

  #addTo(map: Map<number, number>, projid: number, delta: number): void {
    if (projid === 0 || delta === 0) return;
    const value = (map.get(projid) ?? 0) + delta;
    if (value === 0) map.delete(projid);
    else map.set(projid, value);
  }
}

/** The log's last word per object; a torn last line (a crash mid-append) is skipped. */
export function parseLog(text: string): Map<number, number> {
  const map = new Map<number, number>();
  for (const line of text.split('\n')) {
    const m = /^(\d+) (\d+)$/.exec(line);
    if (!m) continue;
    const [objId, projid] = [Number(m[1]), Number(m[2])];
    if (projid === 0) map.delete(objId);
    else map.set(objId, projid);
  }
  return map;
}

async function allocatedBytes(path: string): Promise<number | undefined> {
  try {
    return (await fs.stat(path)).blocks * 512;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

function ignoreMissing(e: NodeJS.ErrnoException): string {
  if (e.code === 'ENOENT') return '';
  throw e;
}

/** `10 GiB`, `512 MiB`, or bytes: how limits read in EDQUOT messages. */
export function formatBytes(bytes: number): string {
  if (bytes >= GiB && bytes % GiB === 0) return `${bytes / GiB} GiB`;
  if (bytes >= 1024 ** 2 && bytes % 1024 ** 2 === 0) return `${bytes / 1024 ** 2} MiB`;
  return `${bytes} bytes`;
}
