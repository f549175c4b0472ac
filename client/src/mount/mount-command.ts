import { readFile, stat, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { isKlError, KlError, toKlError } from '@kubelustre/protocol/errors.ts';
import type { Logger } from '@kubelustre/protocol/log.ts';
import { ROOT_FID } from '../attr.ts';
import { KlClient, type KlClientOptions } from '../fs-client.ts';
import { FuseDevice } from '../fuse/device.ts';
import { DEFAULT_INIT_LIMITS } from '../fuse/init.ts';
import { KlFuseOps } from '../fuse/kl-fuse-ops.ts';
import { FuseSession } from '../fuse/session.ts';
import {
  DEFAULT_HIGH_WATERMARK_PERCENT,
  DEFAULT_LOW_WATERMARK_PERCENT,
  watermarkProblem,
} from '../pcc/eviction.ts';
import { PccCache, type PccCacheOptions, pccLibraryOf } from '../pcc/pcc-cache.ts';
import { type PccRule, parsePccRule, parsePccRules } from '../pcc/pcc-rules.ts';
import type { PccCounters } from '../pcc/pcc-state.ts';
import { mountAt } from './mountinfo.ts';
import type { ParsedMountOptions } from './options.ts';
import { parseMountSpec } from './spec.ts';
import {
  MNT_DETACH,
  MNT_FORCE,
  MS_NODEV,
  MS_NOSUID,
  MS_RDONLY,
  mountSyscall,
  umount2Syscall,
} from './syscalls.ts';
import { affordableReaders } from './threadpool.ts';

export const FSTYPE = 'fuse.kubelustre';
const INIT_TIMEOUT_MS = 10_000;
const PROBE_TIMEOUT_MS = 2_000;
const UMOUNT_RETRY_MS = 200;

/** What `mount` takes: the `-o` options as parsed (options.ts, which documents each) and the process's own. */
export interface MountOptions extends Partial<Omit<ParsedMountOptions, 'metrics'>> {
  key: Buffer;
  log: Logger;
  /** Device fds reading requests in parallel (default 4; fewer if the threadpool is small). */
  readers?: number;
  /** Kernel readahead per file, in KiB (the bdi's read_ahead_kb); up to 1 MiB per READ request. */
  readAheadKb?: number;
  client?: Partial<Omit<KlClientOptions, 'mgs' | 'fsName' | 'key' | 'log'>>;
}

export interface MountedFs {
  readonly mountpoint: string;
  /** Settles when the mount is gone (unmounted by anyone) and the client closed. */
  readonly done: Promise<void>;
  /**
   * The PCC's counters now (hits, misses, bytesFromCache, attaches, detaches, evictions,
   * cacheBytesUsed, writebacks: docs/pcc.md), for a metrics endpoint; undefined without PCC.
   */
  pccMetrics(): PccCounters | undefined;
  /**
   * Graceful unmount (SIGTERM): unmounts, retrying while files are open for up to `drainTimeoutMs`,
   * then aborts the connection (users then see ENOTCONN); in-flight requests finish; the client is
   * closed (flushing what is still dirty).
   */
  unmount(opts?: { drainTimeoutMs?: number }): Promise<void>;
}

/**
 * Mounts filesystem `spec` (MGS_HOST:PORT:/FSNAME) on `mountpoint`, served by this process until
 * unmounted. A dead kubelustre mount left there (its process gone) is cleared first.
 */
export async function mount(spec: string, mountpoint: string, opts: MountOptions): Promise<MountedFs> {
  const { mgs, fsName } = parseMountSpec(spec);
  const log = opts.log.child({ mountpoint });
  await clearDeadMount(mountpoint, log);
  const client = await new KlClient({ ...opts.client, mgs, fsName, key: opts.key, log }).connect();
  try {
    return await serve(spec, mountpoint, client, opts, log);
  } catch (e) {
    await client.close();
    throw e;
  }
}

async function serve(
  spec: string,
  mountpoint: string,
  client: KlClient,
  opts: MountOptions,
  log: Logger,
): Promise<MountedFs> {
  const pcc = opts.pccDir === undefined ? undefined : await openPcc(opts.pccDir, client, opts, log);
  const ops = new KlFuseOps({
    client,
    rootFid: ROOT_FID,
    log,
    ...timeouts(opts),
    ...(pcc && { pcc }),
    ...(opts.pccPassthrough !== undefined && { pccPassthrough: opts.pccPassthrough }),
  });
  const device = FuseDevice.open();
  try {
    mountSyscall(spec, mountpoint, FSTYPE, mountFlags(opts), mountData(device.fd));
  } catch (e) {
    device.close();
    throw e;
  }
  const readers = affordableReaders(opts.readers ?? 4);
  const session = new FuseSession({ device, ops, log, readers });
  const running = session.run();
  const done = running.finally(() => client.close());
  done.catch((e: unknown) => log.error({ err: (e as Error).message }, 'FUSE session failed'));
  try {
    await withTimeout(session.initialized, INIT_TIMEOUT_MS, 'FUSE INIT from the kernel');
  } catch (e) {
    detach(mountpoint, log);
    throw e;
  }
  await setReadahead(mountpoint, opts.readAheadKb ?? 4096, log);
  log.info({ spec, readers }, 'Mounted filesystem');
  return {
    mountpoint,
    done,
    pccMetrics: () => pcc?.metrics(),
    unmount: async ({ drainTimeoutMs = 10_000 } = {}) => {
      await unmountServed(mountpoint, drainTimeoutMs, log);
      await withTimeout(done, drainTimeoutMs, 'in-flight FUSE requests to finish').catch((e: unknown) =>
        log.warn({ err: (e as Error).message }, 'Gave up waiting for the FUSE session to end'),
      );
    },
  };
}

/**
 * `default_permissions`: the kernel checks mode bits, ownership, sticky directories and xattr
 * namespaces with the caller's full credentials (supplementary groups included, which FUSE does not
 * send us), exactly as for a local filesystem; the client then runs calls as root. `allow_other`: pods
 * other than the mounting one use the mount. rootmode/user_id/group_id are required by the kernel.
 */
function mountData(fd: number): string {
  const maxRead = DEFAULT_INIT_LIMITS.maxWriteBytes;
  return `fd=${fd},rootmode=40000,user_id=0,group_id=0,allow_other,default_permissions,max_read=${maxRead}`;
}

/**
 * The mount's PCC, or undefined (logged) when its directory is unusable or its rules or watermarks are
 * wrong: the mount then works without PCC.
 */
async function openPcc(dir: string, client: KlClient, opts: MountOptions, log: Logger) {
  let settings: Pick<PccCacheOptions, 'rules' | 'watermarks'>;
  try {
    settings = await pccSettings(opts);
  } catch (e) {
    log.error({ pcc: dir, err: (e as Error).message }, 'PCC settings are invalid; mounted without PCC');
    return undefined;
  }
  const revalidate = opts.pccRevalidateMs === undefined ? {} : { revalidateMs: opts.pccRevalidateMs };
  return PccCache.open({ dir, lib: pccLibraryOf(client), log, ...revalidate, ...settings });
}

/** Auto-attach rules (files read now) and watermarks; throws saying what is wrong. */
async function pccSettings(opts: MountOptions): Promise<Pick<PccCacheOptions, 'rules' | 'watermarks'>> {
  const defaults = opts.pccReadWrite ? { rwid: 1 } : { roid: 1 };
  const rules: PccRule[] = (opts.pccRules ?? []).map((r) => parsePccRule(r, defaults));
  if (opts.pccRulesFile !== undefined) {
    const text = await readFile(opts.pccRulesFile, 'utf8').catch((e: unknown) => {
      throw toKlError(e, `PCC rules file ${opts.pccRulesFile}`);
    });
    rules.push(...parsePccRules(text, defaults));
  }
  const evicting = [opts.pccSizeBytes, opts.pccHighWatermarkPercent, opts.pccLowWatermarkPercent].some(
    (v) => v !== undefined,
  );
  if (!evicting) return { rules }; // no eviction unless asked for (as Lustre, whose lpcc does it)
  const highPercent = opts.pccHighWatermarkPercent ?? DEFAULT_HIGH_WATERMARK_PERCENT;
  const lowPercent = opts.pccLowWatermarkPercent ?? DEFAULT_LOW_WATERMARK_PERCENT;
  const problem = watermarkProblem(highPercent, lowPercent);
  if (problem) throw new KlError('EINVAL', problem);
  return { rules, watermarks: { capacityBytes: opts.pccSizeBytes, highPercent, lowPercent } };
}

function mountFlags(opts: MountOptions): number {
  return (opts.readOnly ? MS_RDONLY : 0) | (opts.suid ? 0 : MS_NOSUID) | (opts.dev ? 0 : MS_NODEV);
}

function timeouts(opts: MountOptions) {
  return {
    ...(opts.entryTimeoutMs !== undefined && { entryTimeoutMs: opts.entryTimeoutMs }),
    ...(opts.attrTimeoutMs !== undefined && { attrTimeoutMs: opts.attrTimeoutMs }),
  };
}

/** Unmounts a mount this process serves; open files delay it up to the deadline, then it is forced. */
async function unmountServed(mountpoint: string, drainTimeoutMs: number, log: Logger): Promise<void> {
  const deadline = Date.now() + drainTimeoutMs;
  for (;;) {
    try {
      umount2Syscall(mountpoint, 0);
      log.info({}, 'Unmounted filesystem');
      return;
    } catch (e) {
      if (isKlError(e, 'EINVAL') || isKlError(e, 'ENOENT')) return; // unmounted by someone else already
      if (errnoName(e) !== 'EBUSY') throw e;
    }
    if (Date.now() >= deadline) break;
    await sleep(UMOUNT_RETRY_MS);
  }
  log.warn({ drainTimeoutMs }, 'Files still open at unmount; aborting the FUSE connection');
  // MNT_FORCE on FUSE aborts the connection (fuse_umount_begin); the detach then removes the mount.
  try {
    umount2Syscall(mountpoint, MNT_FORCE);
  } catch {
    // Still busy: the connection is aborted all the same.
  }
  detach(mountpoint, log);
}

/**
 * `kubelustre umount`: unmounts `mountpoint`, served by whichever process. A dead mount ("Transport
 * endpoint is not connected": its server is gone) or a hung one is detached (MNT_DETACH) so a new mount
 * can take its place at once; `lazy` detaches a busy one.
 */
export async function umount(mountpoint: string, opts: { log: Logger; lazy?: boolean }): Promise<void> {
  const entry = mountAt(mountpoint);
  if (!entry) throw new KlError('EINVAL', `nothing is mounted on ${mountpoint}`);
  if (opts.lazy || (await isDeadMount(mountpoint))) detach(mountpoint, opts.log);
  else umount2Syscall(mountpoint, 0);
  opts.log.info({ mountpoint, source: entry.source }, 'Unmounted filesystem');
}

async function clearDeadMount(mountpoint: string, log: Logger): Promise<void> {
  const entry = mountAt(mountpoint);
  if (!entry) return;
  if (entry.fstype !== FSTYPE || !(await isDeadMount(mountpoint))) {
    throw new KlError('EEXIST', `${mountpoint} already has ${entry.fstype} ${entry.source} mounted`);
  }
  detach(mountpoint, log);
  log.warn({ source: entry.source }, 'Cleared a dead mount before mounting');
}

/** ENOTCONN on stat: the FUSE server is gone; no answer within the bound: it is hung. */
async function isDeadMount(mountpoint: string): Promise<boolean> {
  try {
    await withTimeout(stat(mountpoint), PROBE_TIMEOUT_MS, `stat of ${mountpoint}`);
    return false;
  } catch (e) {
    return ['ENOTCONN', 'ECONNABORTED', 'ETIMEDOUT'].includes(errnoName(e) ?? '');
  }
}

/** The errno name of a failure, also for codes outside ErrnoCode (EBUSY, ENOTCONN). */
function errnoName(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

function detach(mountpoint: string, log: Logger): void {
  try {
    umount2Syscall(mountpoint, MNT_DETACH);
  } catch (e) {
    log.warn({ err: (e as Error).message }, 'Lazy unmount failed');
  }
}

/** Kernel readahead of the mount's bdi (0:N): READs of up to max_read while reading sequentially. */
async function setReadahead(mountpoint: string, kb: number, log: Logger): Promise<void> {
  const device = mountAt(mountpoint)?.device;
  try {
    await writeFile(`/sys/class/bdi/${device}/read_ahead_kb`, String(kb));
  } catch (e) {
    log.warn({ device, err: (e as Error).message }, 'Could not set the mount readahead');
  }
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  const timer = Promise.withResolvers<never>();
  const t = setTimeout(() => timer.reject(new KlError('ETIMEDOUT', `no ${what} within ${ms} ms`)), ms);
  try {
    return await Promise.race([p.catch((e: unknown) => Promise.reject(toKlError(e, what))), timer.promise]);
  } finally {
    clearTimeout(t);
  }
}
