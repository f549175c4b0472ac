import { KEY_BYTES_MIN } from '@kubelustre/protocol/wire/auth.ts';
import type { LustreFileSystem, Secret } from '../k8s/objects.ts';

/** The shared key, or why the filesystem cannot have one yet. */
export type SharedKey = { ok: true; key: Buffer } | { ok: false; reason: string; message: string };

/**
 * The key from the Secret, read as targets read their key file (protocol's readKeyFile): hex text, as
 * `kubelustre` and `openssl rand -hex 32` write it, or raw bytes; at least 32 bytes of key either way.
 */
export function sharedKeyOf(fs: LustreFileSystem, secret: Secret | undefined): SharedKey {
  const { name } = fs.spec.sharedKeySecretRef;
  const field = fs.spec.sharedKeySecretRef.key ?? 'key';
  if (secret === undefined) {
    return { ok: false, reason: 'SharedKeyMissing', message: `Secret ${name} does not exist` };
  }
  const encoded = secret.data?.[field];
  if (encoded === undefined) {
    return { ok: false, reason: 'SharedKeyMissing', message: `Secret ${name} has no key "${field}"` };
  }
  const raw = Buffer.from(encoded, 'base64');
  const text = raw.toString('utf8').trim();
  const key = /^[0-9a-f]+$/i.test(text) && text.length % 2 === 0 ? Buffer.from(text, 'hex') : raw;
  if (key.length < KEY_BYTES_MIN) {
    return {
      ok: false,
      reason: 'SharedKeyInvalid',
      message: `Secret ${name} key "${field}" holds ${key.length} bytes of key; at least ${KEY_BYTES_MIN} are required`,
    };
  }
  return { ok: true, key };
}
