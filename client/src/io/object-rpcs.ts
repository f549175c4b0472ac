import type { IoExtent } from '@kubelustre/protocol/layout/math.ts';
import type { OstObject } from '@kubelustre/protocol/layout/types.ts';

/** The most bytes one data RPC carries (Lustre's default max_pages_per_rpc of 4 MiB). */
export const RPC_BYTES_MAX = 4 * 1024 * 1024;

/** A piece of the caller's range: `length` bytes at `fileOffset`, stored at `rpcOffset` within an RPC. */
export interface FileSlice {
  fileOffset: number;
  length: number;
  rpcOffset: number;
}

/** One data RPC: a contiguous run of one object (an OST object, or the file's DoM data when `object` is undefined). */
export interface ObjectRpc {
  kind: 'ost' | 'mdt';
  object: OstObject | undefined;
  objOffset: number;
  length: number;
  /** Where the RPC's bytes belong in the file, in object order. */
  slices: FileSlice[];
}

/**
 * Turns a plan's pieces into RPCs, as Lustre's OSC builds BRW RPCs from the pages of one object: pieces
 * of the same object that are contiguous in the object (consecutive stripes of a wide file) share an
 * RPC, and no RPC carries more than `rpcBytesMax`. Holes make no RPC.
 */
export function objectRpcs(extents: readonly IoExtent[], rpcBytesMax = RPC_BYTES_MAX): ObjectRpc[] {
  const byObject = new Map<string, IoExtent[]>();
  for (const e of extents) {
    if (e.kind === 'hole' || e.length === 0) continue;
    const key = e.kind === 'mdt' ? 'mdt' : `${e.object!.ostIdx}:${e.object!.objId}`;
    const list = byObject.get(key) ?? [];
    list.push(e);
    byObject.set(key, list);
  }
  const rpcs: ObjectRpc[] = [];
  for (const pieces of byObject.values()) {
    pieces.sort((a, b) => a.objOffset - b.objOffset);
    let current: ObjectRpc | undefined;
    for (const p of pieces) {
      for (let done = 0; done < p.length; ) {
        const contiguous = current !== undefined && current.objOffset + current.length === p.objOffset + done;
        if (!contiguous || current!.length === rpcBytesMax) {
          current = {
            kind: p.kind as 'ost' | 'mdt',
            object: p.object,
            objOffset: p.objOffset + done,
            length: 0,
            slices: [],
          };
          rpcs.push(current);
        }
        const take = Math.min(p.length - done, rpcBytesMax - current!.length);
        current!.slices.push({ fileOffset: p.fileOffset + done, length: take, rpcOffset: current!.length });
        current!.length += take;
        done += take;
      }
    }
  }
  return rpcs;
}
