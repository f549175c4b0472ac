import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { KlError } from '../errors.ts';

/**
 * Mutual authentication with the filesystem's shared key, in the spirit of Lustre's shared-secret keys
 * (SSK): each side proves it holds the key by a HMAC-SHA256 over both sides' fresh nonces, so neither a
 * replayed handshake nor a peer without the key gets through. The key itself never crosses the wire.
 *
 *   server → hello  { nonce_s }
 *   client → auth   { clientUuid, nonce_c, mac = HMAC(key, "kl-client|nonce_s|nonce_c|clientUuid") }
 *   server → authOk { mac = HMAC(key, "kl-server|nonce_c|nonce_s|clientUuid") }   (or closes)
 */
export const KEY_BYTES_MIN = 32;

export function newNonce(): string {
  return randomBytes(16).toString('hex');
}

export function clientMac(key: Buffer, serverNonce: string, clientNonce: string, clientUuid: string): string {
  return createHmac('sha256', key)
    .update(`kl-client|${serverNonce}|${clientNonce}|${clientUuid}`)
    .digest('hex');
}

export function serverMac(key: Buffer, serverNonce: string, clientNonce: string, clientUuid: string): string {
  return createHmac('sha256', key)
    .update(`kl-server|${clientNonce}|${serverNonce}|${clientUuid}`)
    .digest('hex');
}

export function macsEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

/** Reads a key file: at least 32 bytes of secret (binary, or hex text as `kubelustre` writes it). */
export function readKeyFile(path: string): Buffer {
  let raw: Buffer;
  try {
    raw = readFileSync(path);
  } catch (e) {
    throw new KlError('ENOENT', `cannot read shared key file ${path}: ${(e as Error).message}`);
  }
  const text = raw.toString('utf8').trim();
  const key = /^[0-9a-f]+$/i.test(text) && text.length % 2 === 0 ? Buffer.from(text, 'hex') : raw;
  if (key.length < KEY_BYTES_MIN) {
    throw new KlError(
      'EINVAL',
      `shared key in ${path} is ${key.length} bytes; at least ${KEY_BYTES_MIN} are required`,
    );
  }
  return key;
}

export function newKeyHex(): string {
  return randomBytes(32).toString('hex');
}
