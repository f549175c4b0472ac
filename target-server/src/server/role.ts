import type { Logger } from '@kubelustre/protocol/log.ts';
import type { Statfs } from '@kubelustre/protocol/messages/common.ts';
import type { ReplyCache, RpcServer } from '@kubelustre/protocol/wire/rpc-server.ts';
import type { Static } from '@sinclair/typebox';
import type { Registry } from 'prom-client';

export type StatfsValue = Static<typeof Statfs>;

/** What every role (MGS, MDT, OST) gets from main.ts. */
export interface TargetContext {
  /** Filesystem name (MGS: from --fsname; MDT/OST: learned from the MGS at registration). */
  fsName: string;
  index: number;
  /** The target's own storage directory (the NVMe volume in production). */
  dataDir: string;
  /** The address clients should use to reach this target (`--advertise`, else `--listen`). */
  advertise: string;
  /** `host:port` of the MGS (absent for the MGS itself). */
  mgs?: string;
  key: Buffer;
  log: Logger;
  /** One registry per target instance; roles add their own metrics to it. */
  registry: Registry;
  /** The RPC server, created and listened on by main.ts; roles register their handlers on it. */
  rpc: RpcServer;
}

/** A started role. */
export interface RunningTarget {
  /** Lustre-style target name: `fsname-MDT0000`, `fsname-OST0003`, `MGS`. */
  readonly name: string;
  /** For /readyz: true once the target serves requests (registered, recovered, precreated). */
  ready(): boolean;
  /** Space and inodes (for /metrics gauges and the MGS report). */
  statfs(): Promise<StatfsValue>;
  /**
   * Answers resent mutating requests, for roles whose mutations are not idempotent and are not already
   * deduplicated inside their own handlers (the MDT does that in its transactions).
   */
  readonly replyCache?: ReplyCache;
  /** Stops background work and flushes/closes storage. The RPC server is closed by main.ts first. */
  close(): Promise<void>;
}
