import { createHash } from 'node:crypto';
import { existsSync, type StatsFs } from 'node:fs';
import { mkdir, rmdir, stat, statfs } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { status, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { FSTYPE, umount } from '@kubelustre/client/mount/mount-command.ts';
import { startMountProcess } from '@kubelustre/client/mount/mount-process.ts';
import type { Logger } from '@kubelustre/protocol/log.ts';
import { writeFileAtomic } from './atomic-file.ts';
import { CsiError, invalidArgument, notFound } from './csi-error.ts';
import type {
  NodeExpandVolumeRequest,
  NodeGetVolumeStatsRequest,
  NodePublishVolumeRequest,
  NodeStageVolumeRequest,
  NodeUnpublishVolumeRequest,
  NodeUnstageVolumeRequest,
  StringMap,
  VolumeCapability,
} from './csi-proto.ts';
import { type FsConnections, SECRET_KEY, sharedKey } from './fs-connections.ts';
import { bindMount, isMountOf, mountAt, readMounts, unmountAll } from './kernel-mounts.ts';
import {
  addVolume,
  fsKey,
  keyOfVolume,
  type MountedFs,
  type NodeState,
  reconcile,
  removeVolume,
} from './node-state.ts';
import { PCC_CLASS_CONTEXT_KEY, type PccSource, planPccMount } from './pcc-mount.ts';
import { type ProjectUsage, projectUsage } from './quota-api.ts';
import { unary } from './rpc-handler.ts';
import { isReadOnly, requestedCapacity, requireSupported } from './volume-capability.ts';
import { decodeVolumeId, fsSpec, type VolumeRef } from './volume-id.ts';
import { KeyedMutex, VolumeLocks } from './volume-locks.ts';
import { readRecord } from './volume-store.ts';

export interface NodeDeps {
  nodeId: string;
  /** Filesystem clients, for what the mount cannot tell: a volume's usage from its project quota. */
  connections: FsConnections;
  /** Holds the filesystem mounts (`mounts/`), their keys and logs, and the state file. */
  stateDir: string;
  keyFile: string | undefined;
  state: NodeState;
  /** Where volumes with a `pccClass` find it; undefined: they mount without PCC (logged). */
  pcc?: PccSource;
}

/** Which filesystem mount a volume uses: its key, and the `-o` options it is made with if new. */
interface MountChoice {
  key: string;
  /** The key of the shared key file (the filesystem's, whatever PCC mount). */
  fsKey: string;
  options?: string[];
  /** For a mount with PCC: its class, and the socket its mount process serves metrics on. */
  pccClass?: string;
  metricsSocket?: string;
}

/** A stat of a mount that does not answer by then counts as dead (its FUSE server is gone or hung). */
const ALIVE_PROBE_MS = 2_000;
const STATS_TIMEOUT_MS = 10_000;

/**
 * The CSI Node service. Each filesystem is FUSE-mounted once per node under the state directory by a
 * detached mount process (it outlives this plugin: restarting the plugin leaves every mount working);
 * NodeStage bind-mounts the volume's directory of it on the staging path and counts the volume as a
 * reference to the filesystem mount; NodePublish bind-mounts the staging path on the pod's path.
 * Handlers run validate, lock, "done already?", act, record.
 */
export class NodeServer {
  readonly #deps: NodeDeps;
  readonly #locks = new VolumeLocks();
  /** Mounting, counting and releasing a filesystem happen one at a time per filesystem. */
  readonly #fsMutex = new KeyedMutex();

  private constructor(deps: NodeDeps) {
    this.#deps = deps;
  }

  /** Re-adopts the mounts a previous plugin process left (state file + mount table), then serves. */
  static async start(deps: NodeDeps, log: Logger): Promise<NodeServer> {
    const mounts = readMounts();
    const { state, released } = reconcile(deps.state.data, mounts);
    for (const fs of released) await unmountFs(fs, log);
    await deps.state.save(state);
    for (const fs of Object.values(state)) {
      const live = mountAt(fs.mountpoint, mounts)?.fstype === FSTYPE;
      const volumes = Object.keys(fs.volumes).length;
      if (live) log.info({ spec: fs.spec, mountpoint: fs.mountpoint, volumes }, 'Adopted filesystem mount');
      else
        log.error(
          { spec: fs.spec, mountpoint: fs.mountpoint, volumes },
          'Staged volumes lost their filesystem mount',
        );
    }
    return new NodeServer(deps);
  }

  handlers(log: Logger): UntypedServiceImplementation {
    return {
      NodeStageVolume: unary('NodeStageVolume', log, (r: NodeStageVolumeRequest, l) => this.stage(r, l)),
      NodeUnstageVolume: unary('NodeUnstageVolume', log, (r: NodeUnstageVolumeRequest, l) =>
        this.unstage(r, l),
      ),
      NodePublishVolume: unary('NodePublishVolume', log, (r: NodePublishVolumeRequest, l) =>
        this.publish(r, l),
      ),
      NodeUnpublishVolume: unary('NodeUnpublishVolume', log, (r: NodeUnpublishVolumeRequest, l) =>
        this.unpublish(r, l),
      ),
      NodeGetVolumeStats: unary('NodeGetVolumeStats', log, (r: NodeGetVolumeStatsRequest) =>
        this.volumeStats(r),
      ),
      NodeGetCapabilities: unary('NodeGetCapabilities', log, async () => ({
        capabilities: ['STAGE_UNSTAGE_VOLUME', 'GET_VOLUME_STATS', 'EXPAND_VOLUME'].map((type) => ({
          rpc: { type },
        })),
      })),
      NodeExpandVolume: unary('NodeExpandVolume', log, (r: NodeExpandVolumeRequest) => this.expand(r)),
      // No volume limit: a volume is a bind mount of the one FUSE mount of its filesystem.
      NodeGetInfo: unary('NodeGetInfo', log, async () => ({
        nodeId: this.#deps.nodeId,
        maxVolumesPerNode: 0,
      })),
    };
  }

  async stage(req: NodeStageVolumeRequest, log: Logger): Promise<object> {
    const ref = validated(req.volumeId, req.stagingTargetPath, 'staging target path', req.volumeCapability);
    using _lock = this.#locks.acquire(req.volumeId);
    const staging = resolve(req.stagingTargetPath);
    const current = mountAt(staging);
    if (current && isMountOf(current, ref)) return {};
    if (current)
      throw new CsiError(status.ALREADY_EXISTS, `${staging} has ${current.source}${current.root} mounted`);
    const choice = await this.#mountChoice(ref, req.volumeContext, log);
    const key = choice.key;
    // Counted before the bind: from here on the filesystem mount cannot be released under us, and a
    // crash before the bind leaves a count that the restart reconciles away (no mount on the path).
    const fsMount = await this.#fsMutex.run(key, async () => {
      const mountpoint = await this.#ensureFsMounted(choice, ref, req.secrets, log);
      const { pccClass, metricsSocket } = choice;
      const fs = {
        spec: fsSpec(ref),
        mountpoint,
        ...(pccClass && { pccClass }),
        ...(metricsSocket && { metricsSocket }),
      };
      await this.#deps.state.save(addVolume(this.#deps.state.data, key, fs, req.volumeId, staging));
      return mountpoint;
    });
    try {
      await mkdir(staging, { recursive: true });
      bindMount(join(fsMount, ref.path), staging, false);
    } catch (e) {
      await this.#release(key, req.volumeId, log);
      throw e;
    }
    log.info({ staging }, 'Staged volume');
    return {};
  }

  async unstage(req: NodeUnstageVolumeRequest, log: Logger): Promise<object> {
    if (!req.volumeId) throw invalidArgument('volume id is required');
    if (!req.stagingTargetPath) throw invalidArgument('staging target path is required');
    using _lock = this.#locks.acquire(req.volumeId);
    const staging = resolve(req.stagingTargetPath);
    if (mountAt(staging)?.fstype === FSTYPE) unmountAll(staging, log);
    const ref = decodeVolumeId(req.volumeId);
    const key = keyOfVolume(this.#deps.state.data, req.volumeId) ?? (ref && fsKey(fsSpec(ref), ref.fsName));
    if (key) await this.#release(key, req.volumeId, log);
    log.info({ staging }, 'Unstaged volume');
    return {};
  }

  async publish(req: NodePublishVolumeRequest, log: Logger): Promise<object> {
    const ref = validated(req.volumeId, req.targetPath, 'target path', req.volumeCapability);
    if (!req.stagingTargetPath)
      throw invalidArgument('staging target path is required (the volume is staged first)');
    using _lock = this.#locks.acquire(req.volumeId);
    const target = resolve(req.targetPath);
    const staging = resolve(req.stagingTargetPath);
    const readOnly = isReadOnly(req.volumeCapability!, req.readonly);
    const current = mountAt(target);
    if (current && isMountOf(current, ref) && current.readOnly === readOnly) return {};
    if (current)
      throw new CsiError(status.ALREADY_EXISTS, `${target} has another mount (or another read-only mode)`);
    const staged = mountAt(staging);
    if (!staged || !isMountOf(staged, ref)) {
      throw new CsiError(status.FAILED_PRECONDITION, `volume ${req.volumeId} is not staged at ${staging}`);
    }
    await mkdir(target, { recursive: true });
    bindMount(staging, target, readOnly);
    log.info({ target, readOnly }, 'Published volume');
    return {};
  }

  async unpublish(req: NodeUnpublishVolumeRequest, log: Logger): Promise<object> {
    if (!req.volumeId) throw invalidArgument('volume id is required');
    if (!req.targetPath) throw invalidArgument('target path is required');
    using _lock = this.#locks.acquire(req.volumeId);
    const target = resolve(req.targetPath);
    unmountAll(target, log);
    // The target is ours to remove (we created it at publish); gone already is fine.
    await rmdir(target).catch((e: NodeJS.ErrnoException) =>
      e.code === 'ENOENT' ? undefined : Promise.reject(e),
    );
    log.info({ target }, 'Unpublished volume');
    return {};
  }

  /**
   * Nothing to do on the node: the capacity is the project quota, which ControllerExpandVolume raised
   * and every mount sees at once. Answers the capacity asked for once the volume is found mounted.
   */
  async expand(req: NodeExpandVolumeRequest): Promise<object> {
    mountedVolume(req.volumeId, req.volumePath);
    const capacityBytes = requestedCapacity(req.capacityRange);
    return capacityBytes > 0 ? { capacityBytes } : {};
  }

  /**
   * Bytes and inodes of the volume: its project's usage against its limits; the filesystem's statfs
   * for a volume without a project (or for a dimension without a limit).
   */
  async volumeStats(req: NodeGetVolumeStatsRequest): Promise<object> {
    const { ref, path } = mountedVolume(req.volumeId, req.volumePath);
    const s = await withTimeout(statfs(path), STATS_TIMEOUT_MS, `statfs of ${path}`);
    const quota = await withTimeout(this.#projectUsage(ref), STATS_TIMEOUT_MS, `quota of ${ref.path}`);
    if (quota) return quotaStats(quota, s);
    return {
      usage: [
        {
          unit: 'BYTES',
          total: s.blocks * s.bsize,
          available: s.bavail * s.bsize,
          used: (s.blocks - s.bfree) * s.bsize,
        },
        { unit: 'INODES', total: s.files, available: s.ffree, used: s.files - s.ffree },
      ],
    };
  }

  /** The usage of the volume's project; undefined when the driver gave it none. */
  async #projectUsage(ref: VolumeRef): Promise<ProjectUsage | undefined> {
    const stored = join(this.#deps.stateDir, 'keys', `${fsKey(fsSpec(ref), ref.fsName)}.key`);
    const keyFile = existsSync(stored) ? stored : this.#deps.keyFile;
    const client = await this.#deps.connections.get(ref, sharedKey({}, keyFile));
    const projectId = (await readRecord(client, ref.path))?.projectId;
    return projectId === undefined ? undefined : projectUsage(client, projectId);
  }

  /**
   * The filesystem mount for a volume: the filesystem's plain one, or for a volume whose context names a
   * `pccClass`, a mount of its own with that class's PCC (one cache directory per mount process). When
   * the class cannot be used here the volume goes on the plain mount, and the plugin logs why: PCC is
   * an optimization, never a reason to fail a pod's volume.
   */
  async #mountChoice(ref: VolumeRef, context: StringMap, log: Logger): Promise<MountChoice> {
    const plain = fsKey(fsSpec(ref), ref.fsName);
    const className = context[PCC_CLASS_CONTEXT_KEY];
    if (!className) return { key: plain, fsKey: plain };
    const key = pccMountKey(plain, className);
    // A live mount keeps what it was made with; its socket is where this plugin puts it, if it has one.
    if (await this.#liveMount(key, ref)) return { key, fsKey: plain, pccClass: className };
    const d = await planPccMount({
      source: this.#deps.pcc,
      className,
      nodeName: this.#deps.nodeId,
      mountKey: key,
      stateDir: this.#deps.stateDir,
    });
    if ('skipped' in d) {
      log.warn({ pccClass: className, reason: d.skipped }, 'Mounting the volume without PCC');
      return { key: plain, fsKey: plain };
    }
    if (d.plan.dropped.length > 0) {
      log.warn(
        { pccClass: className, dropped: d.plan.dropped },
        "Left out PCC options this node's mount refuses",
      );
    }
    const { metricsSocket } = d.plan;
    return {
      key,
      fsKey: plain,
      options: d.plan.options,
      pccClass: className,
      ...(metricsSocket && { metricsSocket }),
    };
  }

  async #liveMount(key: string, ref: VolumeRef): Promise<boolean> {
    const mountpoint = join(this.#deps.stateDir, 'mounts', key);
    const current = mountAt(mountpoint);
    return current?.fstype === FSTYPE && current.source === fsSpec(ref) && (await isAlive(mountpoint));
  }

  /** The filesystem's mount point, mounted by a new detached mount process unless a live mount is there. */
  async #ensureFsMounted(choice: MountChoice, ref: VolumeRef, secrets: StringMap, log: Logger) {
    const { key } = choice;
    const mountpoint = join(this.#deps.stateDir, 'mounts', key);
    if (await this.#liveMount(key, ref)) return mountpoint;
    // startMountProcess takes any kubelustre mount on the path for its own: clear a dead one first.
    if (mountAt(mountpoint)) await umount(mountpoint, { log, lazy: true });
    const keyFile = await this.#keyFileFor(choice.fsKey, secrets);
    const logPath = join(this.#deps.stateDir, 'logs', `${key}.log`);
    const options = choice.options?.join(',');
    const pid = await startMountProcess({
      spec: fsSpec(ref),
      mountpoint,
      keyFile,
      logPath,
      ...(options && { options }),
    });
    log.info({ spec: fsSpec(ref), mountpoint, pid, options }, 'Mounted filesystem');
    return mountpoint;
  }

  /** The key file the mount process reads: the node-stage secret written to the state dir, else --key-file. */
  async #keyFileFor(key: string, secrets: StringMap): Promise<string> {
    const text = secrets[SECRET_KEY];
    if (text === undefined) {
      if (this.#deps.keyFile) return this.#deps.keyFile;
      throw invalidArgument(
        `no shared key: give the secret "${SECRET_KEY}" or start the plugin with --key-file`,
      );
    }
    const path = join(this.#deps.stateDir, 'keys', `${key}.key`);
    await mkdir(join(this.#deps.stateDir, 'keys'), { recursive: true, mode: 0o700 });
    await writeFileAtomic(path, text);
    return path;
  }

  /** Drops the volume's reference; the last one unmounts the filesystem (its mount process then exits). */
  async #release(key: string, volumeId: string, log: Logger): Promise<void> {
    await this.#fsMutex.run(key, async () => {
      const { state, released } = removeVolume(this.#deps.state.data, volumeId);
      if (released) await unmountFs(released, log);
      if (state !== this.#deps.state.data) await this.#deps.state.save(state);
    });
  }
}

/** The key of a filesystem mount with PCCClass `className`: the class name, shortened if long. */
function pccMountKey(plain: string, className: string): string {
  if (className.length <= 64) return `${plain}-pcc-${className}`;
  const hash = createHash('sha256').update(className).digest('hex').slice(0, 12);
  return `${plain}-pcc-${className.slice(0, 48)}-${hash}`;
}

/** The volume `volumeId` as mounted at `volumePath`: NOT_FOUND unless it is. */
function mountedVolume(volumeId: string, volumePath: string): { ref: VolumeRef; path: string } {
  if (!volumeId) throw invalidArgument('volume id is required');
  if (!volumePath) throw invalidArgument('volume path is required');
  const ref = decodeVolumeId(volumeId);
  if (!ref) throw notFound(`no volume has id ${volumeId}`);
  const path = resolve(volumePath);
  const m = mountAt(path);
  if (!m || !isMountOf(m, ref)) throw notFound(`volume ${volumeId} is not mounted at ${path}`);
  return { ref, path };
}

/** NodeGetVolumeStats from a project: each dimension with a limit reads against it, else as statfs. */
function quotaStats(q: ProjectUsage, s: StatsFs): object {
  const bytes =
    q.limitBytes > 0
      ? { total: q.limitBytes, used: q.usedBytes, available: Math.max(0, q.limitBytes - q.usedBytes) }
      : { total: s.blocks * s.bsize, used: q.usedBytes, available: s.bavail * s.bsize };
  const inodes =
    q.limitInodes > 0
      ? { total: q.limitInodes, used: q.usedInodes, available: Math.max(0, q.limitInodes - q.usedInodes) }
      : { total: s.files, used: q.usedInodes, available: s.ffree };
  return {
    usage: [
      { unit: 'BYTES', ...bytes },
      { unit: 'INODES', ...inodes },
    ],
  };
}

function validated(volumeId: string, path: string, what: string, cap: VolumeCapability | null): VolumeRef {
  if (!volumeId) throw invalidArgument('volume id is required');
  if (!path) throw invalidArgument(`${what} is required`);
  if (!cap) throw invalidArgument('volume capability is required');
  requireSupported([cap]);
  const ref = decodeVolumeId(volumeId);
  if (!ref) throw notFound(`no volume has id ${volumeId}`);
  return ref;
}

async function unmountFs(fs: MountedFs, log: Logger): Promise<void> {
  if (mountAt(fs.mountpoint)?.fstype !== FSTYPE) return;
  await umount(fs.mountpoint, { log });
  log.info({ spec: fs.spec, mountpoint: fs.mountpoint }, 'Released filesystem mount (no staged volume left)');
}

async function isAlive(mountpoint: string): Promise<boolean> {
  return withTimeout(stat(mountpoint), ALIVE_PROBE_MS, 'stat').then(
    () => true,
    () => false,
  );
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new CsiError(status.DEADLINE_EXCEEDED, `no ${what} within ${ms} ms`)),
      ms,
    );
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
