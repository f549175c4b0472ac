import { isKlError, KlError } from '@kubelustre/protocol/errors.ts';
import { componentsFor, objectSizeForFileSize, planIo } from '@kubelustre/protocol/layout/math.ts';
import { EOF_EXTENT, type Layout } from '@kubelustre/protocol/layout/types.ts';
import * as mdtOps from '@kubelustre/protocol/messages/mdt.ts';
import * as ostOps from '@kubelustre/protocol/messages/ost.ts';
import { FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE } from '@kubelustre/protocol/messages/ost.ts';
import type { TargetConnections } from '../targets.ts';
import type { Limiter } from './limiter.ts';
import { type ObjectRpc, objectRpcs } from './object-rpcs.ts';
import { type SeekWhence, seekInLayout } from './seek.ts';
import { type ObjectRange, objectRanges } from './stripe-ranges.ts';

/** The most object ids one ost.sync names (the message's limit). */
const SYNC_IDS_MAX = 4096;
/** Zeros one mdt.dom_write carries when a hole is punched in DoM data (frames carry up to 8 MiB). */
const DOM_ZERO_BYTES_MAX = 4 * 1024 * 1024;

/**
 * Moves one file's bytes between the caller and where its layout puts them: OST objects, the MDT (DoM),
 * or nowhere (holes read as zeros). Every request is planned with the layout engine, cut into per-object
 * RPCs, and sent in parallel within the file's RPC limiter. Remembers which objects it wrote so fsync
 * can make exactly those stable.
 */
export class StripedIo {
  readonly #fid: string;
  readonly #targets: TargetConnections;
  readonly #limiter: Limiter;
  /** The file's project id now (it may change while open): what the OSTs charge its objects to. */
  readonly #projid: () => number;
  #layout: Layout | undefined;
  /** OST index → object ids written or punched since the last sync. */
  readonly #unsynced = new Map<number, Set<number>>();
  #domUnsynced = false;
  #intents: Promise<unknown> = Promise.resolve();

  constructor(
    fid: string,
    targets: TargetConnections,
    limiter: Limiter,
    layout: Layout | undefined,
    projid: () => number,
  ) {
    this.#fid = fid;
    this.#projid = projid;
    this.#targets = targets;
    this.#limiter = limiter;
    this.#layout = layout;
  }

  get layout(): Layout | undefined {
    return this.#layout;
  }

  /** Takes a layout the MDT returned, unless ours is newer (an intent may have answered first). */
  adoptLayout(layout: Layout | undefined): void {
    if (!layout) return;
    if (!this.#layout || layout.generation >= this.#layout.generation) this.#layout = layout;
  }

  /** Reads exactly `length` bytes; whatever no object holds reads as zeros. */
  async read(offset: number, length: number): Promise<Buffer> {
    const out = Buffer.alloc(length);
    if (!this.#layout || length === 0) return out;
    const rpcs = objectRpcs(planIo(this.#layout, offset, length));
    await Promise.all(
      rpcs.map((rpc) =>
        this.#limiter.run(async () => {
          const data = await this.#readRpc(rpc);
          // Data shorter than asked ends where the object ends: the rest stays zeros.
          for (const s of rpc.slices) {
            if (s.rpcOffset >= data.length) break;
            data.copy(out, s.fileOffset - offset, s.rpcOffset, Math.min(s.rpcOffset + s.length, data.length));
          }
        }),
      ),
    );
    return out;
  }

  async write(offset: number, data: Buffer): Promise<void> {
    if (data.length === 0) return;
    const layout = await this.instantiate(offset, data.length);
    const rpcs = objectRpcs(planIo(layout, offset, data.length));
    await Promise.all(
      rpcs.map((rpc) => {
        const parts = rpc.slices.map((s) =>
          data.subarray(s.fileOffset - offset, s.fileOffset - offset + s.length),
        );
        const payload = parts.length === 1 ? parts[0]! : Buffer.concat(parts, rpc.length);
        return this.#limiter.run(() => this.#writeRpc(rpc, payload));
      }),
    );
  }

  /**
   * Cuts every OST object to the size it has in a file of `size` bytes (Lustre's truncate punches each
   * stripe before the MDT records the size). Objects of components wholly past `size` become empty;
   * DoM data is the MDT's to trim.
   */
  async punchTo(size: number): Promise<void> {
    const punches: Array<{ ostIdx: number; objId: number; size: number }> = [];
    for (const c of this.#layout?.components ?? []) {
      if (c.pattern !== 'raid0' || !c.objects || (c.end !== EOF_EXTENT && c.end <= size)) continue;
      c.objects.forEach((o, stripe) => {
        const objSize = size <= c.start ? 0 : objectSizeForFileSize(c, stripe, size);
        punches.push({ ostIdx: o.ostIdx, objId: o.objId, size: objSize });
      });
    }
    await Promise.all(
      punches.map((p) =>
        this.#limiter.run(async () => {
          const ost = await this.#targets.ost(p.ostIdx);
          await ost.call(ostOps.punch, { objId: p.objId, size: p.size, projid: this.#projid() });
          this.#noteUnsynced(p.ostIdx, p.objId);
        }),
      ),
    );
  }

  /**
   * SEEK_DATA / SEEK_HOLE from `offset` in a file of `size` bytes as its objects and DoM data see it
   * (seekInLayout: one ost.seek per stripe object of a component, in parallel within the RPC limit).
   */
  seek(offset: number, whence: SeekWhence, size: number): Promise<number | undefined> {
    return seekInLayout(this.#layout, size, offset, whence, (object, objOffset, w) =>
      this.#limiter.run(async () => {
        const ost = await this.#targets.ost(object.ostIdx);
        try {
          const req = { objId: object.objId, offset: objOffset, whence: w };
          return (await ost.call(ostOps.seek, req)).reply.offset;
        } catch (e) {
          // Past the object's end (or an object never written): no data there, and a hole.
          if (isKlError(e, 'ENXIO')) return undefined;
          throw e;
        }
      }),
    );
  }

  /**
   * fallocate(2) without FALLOC_FL_PUNCH_HOLE: instantiates the components [offset, offset + length)
   * overlaps (as a write would), then reserves each OST object's share with one ost.fallocate. `mode`
   * (0 or FALLOC_FL_KEEP_SIZE) goes to the objects as is, so they grow as writes would grow them. DoM
   * bytes live in the MDT's database: there is nothing to reserve.
   */
  async allocate(offset: number, length: number, mode: number): Promise<void> {
    const layout = await this.instantiate(offset, length);
    await this.#fallocateObjects(objectRanges(layout, offset, length), mode);
  }

  /**
   * FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE over [offset, offset + length) of a file of `size` bytes:
   * each instantiated object's share is punched; uninstantiated components are holes already; DoM bytes
   * below the size are overwritten with zeros (mdt.dom_write), the MDT keeping no sparse map of them.
   */
  async punchHole(offset: number, length: number, size: number): Promise<void> {
    if (!this.#layout) return;
    const mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
    await Promise.all([
      this.#fallocateObjects(objectRanges(this.#layout, offset, length), mode),
      this.#zeroDom(offset, Math.min(offset + length, size)),
    ]);
  }

  async #fallocateObjects(ranges: readonly ObjectRange[], mode: number): Promise<void> {
    await Promise.all(
      ranges.map((r) =>
        this.#limiter.run(async () => {
          const ost = await this.#targets.ost(r.object.ostIdx);
          const req = {
            objId: r.object.objId,
            mode,
            offset: r.objOffset,
            length: r.length,
            projid: this.#projid(),
          };
          await this.#withQuotaAcquire(r.object.ostIdx, req.projid, () => ost.call(ostOps.fallocate, req));
          this.#noteUnsynced(r.object.ostIdx, r.object.objId);
        }),
      ),
    );
  }

  /** Writes zeros over the DoM bytes in [from, to), in RPCs of at most DOM_ZERO_BYTES_MAX. */
  async #zeroDom(from: number, to: number): Promise<void> {
    const dom = this.#layout?.components[0];
    if (dom?.pattern !== 'mdt') return;
    const end = Math.min(to, dom.end);
    const zeros = Buffer.alloc(Math.max(0, Math.min(DOM_ZERO_BYTES_MAX, end - from)));
    for (let at = from; at < end; at += zeros.length) {
      const piece = zeros.subarray(0, Math.min(zeros.length, end - at));
      await this.#targets.mdt().call(mdtOps.domWrite, { fid: this.#fid, offset: at, sync: false }, piece);
      this.#domUnsynced = true;
    }
  }

  /**
   * fdatasync of every object written since the last sync; answers whether DoM data was written (which
   * the caller makes stable with mdt.sync). Objects stay listed until their OST confirms.
   */
  async syncData(): Promise<{ domWritten: boolean }> {
    const domWritten = this.#domUnsynced;
    const batches: Array<{ ostIdx: number; objIds: number[] }> = [];
    for (const [ostIdx, ids] of this.#unsynced) {
      const all = [...ids];
      for (let i = 0; i < all.length; i += SYNC_IDS_MAX)
        batches.push({ ostIdx, objIds: all.slice(i, i + SYNC_IDS_MAX) });
    }
    await Promise.all(
      batches.map(async (b) => {
        const ost = await this.#targets.ost(b.ostIdx);
        await ost.call(ostOps.sync, { objIds: b.objIds });
        for (const id of b.objIds) this.#unsynced.get(b.ostIdx)?.delete(id);
      }),
    );
    this.#domUnsynced = false;
    return { domWritten };
  }

  /**
   * The layout with every component under [offset, offset + length) instantiated: the MDT is asked with
   * a layout intent when some are not (one intent at a time; a second writer reuses the first's answer).
   */
  async instantiate(offset: number, length: number): Promise<Layout> {
    const layout = this.#layout;
    if (!layout) throw new KlError('EIO', `file ${this.#fid} has no layout to write through`);
    if (componentsFor(layout, offset, length).length === 0) return layout;
    const next = this.#intents.then(async () => {
      if (componentsFor(this.#layout!, offset, length).length === 0) return;
      const req = { fid: this.#fid, start: offset, end: offset + length };
      const { reply } = await this.#targets.mdt().call(mdtOps.layoutIntent, req);
      this.adoptLayout(reply.layout);
    });
    this.#intents = next.catch(() => undefined);
    await next;
    if (componentsFor(this.#layout!, offset, length).length > 0) {
      throw new KlError('EIO', `MDT left [${offset}, ${offset + length}) of ${this.#fid} uninstantiated`);
    }
    return this.#layout!;
  }

  async #readRpc(rpc: ObjectRpc): Promise<Buffer> {
    if (rpc.kind === 'mdt') {
      const req = { fid: this.#fid, offset: rpc.objOffset, length: rpc.length };
      return (await this.#targets.mdt().call(mdtOps.domRead, req)).data;
    }
    const { ostIdx, objId } = rpc.object!;
    const req = { objId, offset: rpc.objOffset, length: rpc.length };
    const ost = await this.#targets.ost(ostIdx);
    return (await ost.call(ostOps.read, req)).data;
  }

  async #writeRpc(rpc: ObjectRpc, payload: Buffer): Promise<void> {
    if (rpc.kind === 'mdt') {
      await this.#targets
        .mdt()
        .call(mdtOps.domWrite, { fid: this.#fid, offset: rpc.objOffset, sync: false }, payload);
      this.#domUnsynced = true;
      return;
    }
    const { ostIdx, objId } = rpc.object!;
    const ost = await this.#targets.ost(ostIdx);
    const req = { objId, offset: rpc.objOffset, sync: false, projid: this.#projid() };
    await this.#withQuotaAcquire(ostIdx, req.projid, () => ost.call(ostOps.write, req, payload));
    this.#noteUnsynced(ostIdx, objId);
  }

  /**
   * Runs an OST op that allocates; when the OST answers EDQUOT, its grant of the project may just be
   * spent while the limit has room elsewhere: ask the MDT (the quota master) for more and retry once.
   */
  async #withQuotaAcquire<T>(ostIdx: number, projid: number, op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (e) {
      if (projid === 0 || !isKlError(e, 'EDQUOT')) throw e;
      await this.#targets.mdt().call(mdtOps.quotaAcquire, { projid, ost: ostIdx });
      return op();
    }
  }

  #noteUnsynced(ostIdx: number, objId: number): void {
    const ids = this.#unsynced.get(ostIdx) ?? new Set<number>();
    ids.add(objId);
    this.#unsynced.set(ostIdx, ids);
  }
}
