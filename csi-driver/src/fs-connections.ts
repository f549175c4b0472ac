import { createHash } from 'node:crypto';
import { KlClient } from '@kubelustre/client/fs-client.ts';
import { KlError } from '@kubelustre/protocol/errors.ts';
import type { Logger } from '@kubelustre/protocol/log.ts';
import { KEY_BYTES_MIN, readKeyFile } from '@kubelustre/protocol/wire/auth.ts';
import { invalidArgument } from './csi-error.ts';
import type { StringMap } from './csi-proto.ts';
import { fsSpec } from './volume-id.ts';

/** The secrets key that holds a filesystem's shared key (the key file's text, hex). */
export const SECRET_KEY = 'key';
/** A filesystem call without a reply by then fails (DEADLINE_EXCEEDED), reconnects included. */
const REQUEST_TIMEOUT_MS = 30_000;
/** How long connecting waits for the filesystem's configuration to name an MDT. */
const MDT_WAIT_MS = 15_000;

/**
 * The shared key for a call: the request's secret (a StorageClass's provisioner or node-stage secret),
 * else the plugin's key file. Decoded as key files are: hex text, else the raw bytes.
 */
export function sharedKey(secrets: StringMap, keyFile: string | undefined): Buffer {
  const text = secrets[SECRET_KEY];
  if (text === undefined) {
    if (keyFile) return readKeyFile(keyFile);
    throw invalidArgument(
      `no shared key: give the secret "${SECRET_KEY}" or start the plugin with --key-file`,
    );
  }
  const trimmed = text.trim();
  const key =
    /^[0-9a-f]+$/i.test(trimmed) && trimmed.length % 2 === 0
      ? Buffer.from(trimmed, 'hex')
      : Buffer.from(text);
  if (key.length < KEY_BYTES_MIN) {
    throw invalidArgument(`the shared key is ${key.length} bytes; at least ${KEY_BYTES_MIN} are required`);
  }
  return key;
}

/**
 * Connected clients by filesystem and key, made on first use and kept: the controller's calls reuse
 * one connection per filesystem instead of a handshake per call. A failed connect is not kept.
 */
export class FsConnections {
  readonly #log: Logger;
  readonly #clients = new Map<string, Promise<KlClient>>();
  /** The last key that connected, by filesystem: what calls without secrets (ListVolumes) use. */
  readonly #keys = new Map<string, Buffer>();

  constructor(log: Logger) {
    this.#log = log;
  }

  get(fs: { mgs: string; fsName: string }, key: Buffer): Promise<KlClient> {
    const spec = fsSpec(fs);
    const id = `${spec}\0${createHash('sha256').update(key).digest('hex')}`;
    let client = this.#clients.get(id);
    if (!client) {
      const log = this.#log.child({ fs: spec });
      const opts = { mgs: fs.mgs, fsName: fs.fsName, key, log, requestTimeoutMs: REQUEST_TIMEOUT_MS };
      client = new KlClient({ ...opts, mdtWaitMs: MDT_WAIT_MS }).connect();
      this.#clients.set(id, client);
      client.then(
        () => this.#keys.set(spec, key),
        () => this.#clients.delete(id),
      );
    }
    return client;
  }

  /** Whether a key has connected to `fs` since the plugin started. */
  knowsKey(fs: { mgs: string; fsName: string }): boolean {
    return this.#keys.has(fsSpec(fs));
  }

  /** A client for `fs` with the last key that worked for it, for calls that carry no secrets. */
  getKnown(fs: { mgs: string; fsName: string }, keyFile: string | undefined): Promise<KlClient> {
    const key = this.#keys.get(fsSpec(fs)) ?? (keyFile ? readKeyFile(keyFile) : undefined);
    if (!key) throw new KlError('ENOTCONN', `no shared key known for ${fsSpec(fs)} since the plugin started`);
    return this.get(fs, key);
  }

  async close(): Promise<void> {
    const clients = [...this.#clients.values()];
    this.#clients.clear();
    await Promise.allSettled(clients.map(async (c) => (await c).close()));
  }
}
