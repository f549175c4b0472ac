import { readFileSync } from 'node:fs';
import { FSTYPE } from '@kubelustre/client/mount/mount-command.ts';
import {
  MNT_DETACH,
  MS_NODEV,
  MS_NOSUID,
  mountSyscall,
  umount2Syscall,
} from '@kubelustre/client/mount/syscalls.ts';
import { isKlError } from '@kubelustre/protocol/errors.ts';
import type { Logger } from '@kubelustre/protocol/log.ts';
import { fsSpec, type VolumeRef } from './volume-id.ts';

/** One line of /proc/self/mountinfo, with what the node server decides on. */
export interface MountRecord {
  mountpoint: string;
  /** The directory of the filesystem this mount shows: `/volumes/pvc-1` for a bind of that volume. */
  root: string;
  fstype: string;
  source: string;
  readOnly: boolean;
}

/** mount(2) flags (Linux values) for bind mounts. */
const MS_RDONLY = 1;
const MS_REMOUNT = 32;
const MS_BIND = 4096;
/** Stacked mounts unpublish removes at most, so a path that keeps getting mounts cannot loop us forever. */
const UNMOUNT_LAYERS_MAX = 8;

const unescapeOctal = (s: string): string =>
  s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));

/** Parses mountinfo (proc(5)): `id parent major:minor root mountpoint opts [tags] - fstype source superopts`. */
export function parseMountinfo(text: string): MountRecord[] {
  const mounts: MountRecord[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    const sep = f.indexOf('-');
    if (sep < 6 || f.length < sep + 3) continue;
    mounts.push({
      root: unescapeOctal(f[3]!),
      mountpoint: unescapeOctal(f[4]!),
      readOnly: f[5]!.split(',').includes('ro'),
      fstype: f[sep + 1]!,
      source: unescapeOctal(f[sep + 2]!),
    });
  }
  return mounts;
}

/** The mount table as the kernel shows it to this process now. */
export function readMounts(): MountRecord[] {
  return parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'));
}

/** The topmost mount on `path` (an absolute, resolved path), read without touching the path itself. */
export function mountAt(path: string, mounts = readMounts()): MountRecord | undefined {
  return mounts.findLast((m) => m.mountpoint === path);
}

/** Whether `m` shows exactly volume `ref`: our filesystem type, its filesystem, its directory. */
export function isMountOf(m: MountRecord, ref: VolumeRef): boolean {
  return m.fstype === FSTYPE && m.source === fsSpec(ref) && m.root === ref.path;
}

/**
 * Bind-mounts `source` on `target`; read-only takes a second call, as the kernel ignores MS_RDONLY on
 * a new bind. The remount names nosuid and nodev again because it sets the bind's flags to exactly
 * those given. If the remount fails, the writable bind is removed: never leave it writable.
 */
export function bindMount(source: string, target: string, readOnly: boolean): void {
  mountSyscall(source, target, '', MS_BIND, '');
  if (!readOnly) return;
  try {
    mountSyscall('', target, '', MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, '');
  } catch (e) {
    umount2Syscall(target, MNT_DETACH);
    throw e;
  }
}

/**
 * Unmounts every mount stacked on `path`. A busy or dead one is detached (MNT_DETACH): the CO unmounts
 * only once no container uses the path, and a dead FUSE connection cannot be unmounted otherwise.
 */
export function unmountAll(path: string, log: Logger): void {
  for (let i = 0; i < UNMOUNT_LAYERS_MAX && mountAt(path); i++) {
    try {
      umount2Syscall(path, 0);
    } catch (e) {
      if (isKlError(e, 'EINVAL')) return; // not a mount point after all
      log.warn({ path, err: (e as Error).message }, 'Detached a mount that would not unmount');
      umount2Syscall(path, MNT_DETACH);
    }
  }
}
