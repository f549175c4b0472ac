import { randomUUID } from 'node:crypto';
import { ConfigWatcher, type FsConfigValue } from '@kubelustre/protocol/config-watcher.ts';
import { KlError } from '@kubelustre/protocol/errors.ts';
import type { Logger } from '@kubelustre/protocol/log.ts';
import { RpcClient } from '@kubelustre/protocol/wire/rpc-client.ts';
import { ROOT_FID } from './attr.ts';
import { InodeApi } from './inode-api.ts';
import { LustreApi } from './lustre-api.ts';
import { MdtOpens } from './mdt-opens.ts';
import { DEFAULT_IO_SETTINGS, type IoSettings, newBudgets, OpenFileTable } from './open-file.ts';
import { PathApi } from './path-api.ts';
import { PathResolver } from './path-resolver.ts';
import { type Caller, ROOT_CALLER } from './permissions.ts';
import { TargetConnections } from './targets.ts';

export interface KlClientOptions {
  /** `host:port` of the MGS. */
  mgs: string;
  /** When given, connecting fails unless the MGS serves this filesystem. */
  fsName?: string;
  key: Buffer;
  log: Logger;
  /** Whose permissions apply to calls that name no caller (default root). */
  caller?: Caller;
  io?: Partial<IoSettings>;
  /** A call without a reply by then fails with ETIMEDOUT (reconnects included). */
  requestTimeoutMs?: number;
  /** How long one MGS config long poll waits for a change. */
  configPollWaitMs?: number;
  /** How long connect() waits for the configuration to name an MDT (targets may register after us). */
  mdtWaitMs?: number;
}

/**
 * A kubelustre client (Lustre's llite + lmv/lov/mdc/osc): one connection to the MGS whose configuration
 * it keeps following (new OSTs and pools show up without reconnecting), one to each MDT and OST, and
 * three APIs over them: `inodes` (FID level, for FUSE), `paths` (path level), `lustre` (lfs).
 */
export class KlClient {
  readonly #opts: KlClientOptions;
  readonly #clientUuid = randomUUID();
  readonly #mgs: RpcClient;
  readonly #watcher: ConfigWatcher;
  readonly #targets: TargetConnections;
  readonly #files: OpenFileTable;
  readonly #opens: MdtOpens;
  readonly inodes: InodeApi;
  readonly paths: PathApi;
  readonly lustre: LustreApi;
  #config: FsConfigValue | undefined;
  #closed = false;

  constructor(opts: KlClientOptions) {
    this.#opts = opts;
    const log = opts.log;
    const timeout = opts.requestTimeoutMs !== undefined ? { requestTimeoutMs: opts.requestTimeoutMs } : {};
    this.#mgs = new RpcClient({
      address: opts.mgs,
      key: opts.key,
      clientUuid: this.#clientUuid,
      log: log.child({ target: 'mgs' }),
      ...timeout,
    });
    this.#watcher = new ConfigWatcher(this.#mgs, log, opts.configPollWaitMs);
    this.#targets = new TargetConnections({
      key: opts.key,
      clientUuid: this.#clientUuid,
      log,
      refreshConfig: () => this.#watcher.refresh(),
      ...timeout,
    });
    const settings = { ...DEFAULT_IO_SETTINGS, ...opts.io };
    this.#files = new OpenFileTable({ targets: this.#targets, log, settings, ...newBudgets(settings) });
    this.#opens = new MdtOpens({
      targets: this.#targets,
      log,
      onOpenLost: (fid, e) => this.#files.find(fid)?.fail(e),
    });
    const defaultCaller = opts.caller ?? ROOT_CALLER;
    const files = this.#files;
    this.inodes = new InodeApi({ targets: this.#targets, files, opens: this.#opens, defaultCaller, log });
    const resolver = new PathResolver(this.inodes, ROOT_FID);
    this.paths = new PathApi(this.inodes, resolver, defaultCaller);
    const config = () => this.config;
    this.lustre = new LustreApi({
      inodes: this.inodes,
      resolver,
      targets: this.#targets,
      config,
      defaultCaller,
    });
  }

  /** The configuration as last received from the MGS. */
  get config(): FsConfigValue {
    if (!this.#config) throw new KlError('ENXIO', 'the client is not connected; call connect() first');
    return this.#config;
  }

  get clientUuid(): string {
    return this.#clientUuid;
  }

  /** The MDT's connection, for features layered over the library (PCC's mdt.pcc_* calls). */
  mdt(): RpcClient {
    return this.#targets.mdt();
  }

  /**
   * Whether this client holds `fid` open for write on the MDT since a time no client cached it (PCC):
   * its changes through an open handle need no mdt.pcc_write_open (docs/pcc.md, Coherence).
   */
  writeUntracked(fid: string): boolean {
    return this.#opens.writeUntracked(fid);
  }

  /** Fetches the configuration, connects to its targets and keeps following it. */
  async connect(): Promise<this> {
    this.#watcher.onChange((c) => this.#apply(c));
    const first = await this.#watcher.start();
    if (this.#opts.fsName !== undefined && first.fsName !== this.#opts.fsName) {
      this.#closeConnections();
      throw new KlError(
        'EINVAL',
        `MGS ${this.#opts.mgs} serves filesystem ${first.fsName}, not ${this.#opts.fsName}`,
      );
    }
    this.#apply(first);
    await this.#waitForMdt(this.#opts.mdtWaitMs ?? 30_000).catch((e: unknown) => {
      this.#closeConnections();
      throw e;
    });
    this.#opts.log.info({ fsName: first.fsName, version: first.version }, 'Connected to filesystem');
    return this;
  }

  /** Calls `listener` with every new configuration (after the client applied it). */
  onConfigChange(listener: (c: FsConfigValue) => void): () => void {
    return this.#watcher.onChange(listener);
  }

  /**
   * Flushes every file still open (errors logged: their handles were never closed to report them),
   * closes them on the MDT (an orphan only we kept open is destroyed now, not at our eviction), waits for
   * every close in flight, and closes every connection; calls still waiting fail with ESHUTDOWN.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#files.flushAll((fid, e) =>
      this.#opts.log.warn({ fid, err: e.message }, 'Flush of a file left open failed at client close'),
    );
    await this.#opens.closeAll();
    this.#closeConnections();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #waitForMdt(timeoutMs: number): Promise<void> {
    const hasMdt = (c: FsConfigValue) => c.targets.some((t) => t.role === 'mdt' && t.index === 0);
    if (hasMdt(this.config)) return;
    let stop = () => {};
    let timer: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        stop = this.#watcher.onChange((c) => hasMdt(c) && resolve());
        timer = setTimeout(
          () =>
            reject(
              new KlError('ETIMEDOUT', `no MDT registered with ${this.#opts.mgs} within ${timeoutMs} ms`),
            ),
          timeoutMs,
        );
      });
    } finally {
      stop();
      clearTimeout(timer);
    }
  }

  #apply(c: FsConfigValue): void {
    this.#config = c;
    this.#targets.apply(c);
  }

  #closeConnections(): void {
    this.#watcher.stop();
    this.#mgs.close();
    this.#targets.close();
  }
}
