import { assignComponentIds, inheritLayout } from './instantiate.ts';
import { parseSetstripeArgs } from './setstripe-args.ts';
import type { Layout } from './types.ts';

/**
 * Test helper: the file layout `lfs setstripe <args>` would give, defaults resolved and ids assigned,
 * with component i instantiated on the OSTs `osts[i]` (object ids counting up from 100).
 */
export function fileLayout(args: string, osts: number[][]): Layout {
  const layout = assignComponentIds(inheritLayout(parseSetstripeArgs(args).layout, undefined));
  let objId = 100;
  osts.forEach((indexes, i) => {
    layout.components[i]!.objects = indexes.map((ostIdx) => ({ ostIdx, objId: objId++ }));
  });
  return layout;
}

/** A deterministic random source (mulberry32) for tests. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
