import type { FsConfigValue } from '@kubelustre/protocol/config-watcher.ts';
import { KlError } from '@kubelustre/protocol/errors.ts';
import type { Logger } from '@kubelustre/protocol/log.ts';
import { RpcClient } from '@kubelustre/protocol/wire/rpc-client.ts';

export interface TargetConnectionOptions {
  key: Buffer;
  /** Fetches the configuration now: a layout may name an OST the MDT learned of before we did. */
  refreshConfig?: () => Promise<FsConfigValue>;
  /** This client's identity on every target, so resends after a reconnect are recognised. */
  clientUuid: string;
  log: Logger;
  requestTimeoutMs?: number;
}

/**
 * One RpcClient per MDT and OST the configuration names, kept in step with it: a new target gets a
 * connection (which connects on first use), a moved one is pointed at its new address. Targets that leave
 * the configuration keep their connection: files may still hold objects on them.
 */
export class TargetConnections {
  readonly #opts: TargetConnectionOptions;
  readonly #mdts = new Map<number, RpcClient>();
  readonly #osts = new Map<number, RpcClient>();
  #closed = false;

  constructor(opts: TargetConnectionOptions) {
    this.#opts = opts;
  }

  apply(config: FsConfigValue): void {
    if (this.#closed) return;
    for (const t of config.targets) {
      const byIndex = t.role === 'mdt' ? this.#mdts : this.#osts;
      const existing = byIndex.get(t.index);
      if (existing) {
        existing.setAddress(t.address);
        continue;
      }
      byIndex.set(t.index, this.#connect(t.address, `${t.role}${t.index}`));
      this.#opts.log.info({ role: t.role, index: t.index, address: t.address }, 'Added target connection');
    }
  }

  /** The MDT. Only index 0 exists until the namespace is distributed over several (DNE). */
  mdt(index = 0): RpcClient {
    const c = this.#mdts.get(index);
    if (!c) throw new KlError('EIO', `MDT${index} is not in the filesystem configuration`);
    return c;
  }

  /** The OST; an index we do not know yet makes us fetch the configuration once before giving up. */
  async ost(index: number): Promise<RpcClient> {
    const known = this.#osts.get(index);
    if (known) return known;
    if (this.#opts.refreshConfig) this.apply(await this.#opts.refreshConfig());
    const c = this.#osts.get(index);
    if (!c) throw new KlError('EIO', `OST${index} is not in the filesystem configuration`);
    return c;
  }

  ostIndexes(): number[] {
    return [...this.#osts.keys()].sort((a, b) => a - b);
  }

  mdtIndexes(): number[] {
    return [...this.#mdts.keys()].sort((a, b) => a - b);
  }

  close(): void {
    this.#closed = true;
    for (const c of [...this.#mdts.values(), ...this.#osts.values()]) c.close();
  }

  #connect(address: string, name: string): RpcClient {
    return new RpcClient({
      address,
      key: this.#opts.key,
      clientUuid: this.#opts.clientUuid,
      log: this.#opts.log.child({ target: name }),
      ...(this.#opts.requestTimeoutMs !== undefined && { requestTimeoutMs: this.#opts.requestTimeoutMs }),
    });
  }
}
