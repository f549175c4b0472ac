import { objectKey } from '../controller/keys.ts';
import type { LustreFileSystem, Secret } from '../k8s/objects.ts';
import { Resources } from '../k8s/resources.ts';
import type { MgsSession } from '../mgs/mgs-connections.ts';
import { type SharedKey, sharedKeyOf } from '../policy/shared-key.ts';
import type { OperatorContext } from './context.ts';

/** The filesystem's shared key, read from its Secret now (Secrets are read, not watched or cached). */
export async function readSharedKey(ctx: OperatorContext, fs: LustreFileSystem): Promise<SharedKey> {
  const secret = await ctx.client.get<Secret>(Resources.Secret, {
    namespace: fs.metadata.namespace,
    name: fs.spec.sharedKeySecretRef.name,
  });
  return sharedKeyOf(fs, secret);
}

/** A session with `fs`'s MGS, or why there cannot be one (no usable shared key). */
export async function mgsSessionFor(
  ctx: OperatorContext,
  fs: LustreFileSystem,
): Promise<{ ok: true; session: MgsSession } | { ok: false; reason: string; message: string }> {
  const key = await readSharedKey(ctx, fs);
  if (!key.ok) return key;
  return { ok: true, session: ctx.mgs.session(objectKey(fs), ctx.mgsAddressOf(fs), key.key) };
}

/** What an MGS call failure says, for a condition's message. */
export function describeMgsFailure(address: string, e: unknown): string {
  const why = e instanceof Error ? e.message : String(e);
  return `the MGS at ${address} did not answer: ${why}`;
}
