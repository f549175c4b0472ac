import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { FSTYPE } from '@kubelustre/client/mount/mount-command.ts';
import { readJsonIfExists, writeFileAtomic } from './atomic-file.ts';
import type { MountRecord } from './kernel-mounts.ts';

/** A filesystem mounted on this node and the staged volumes that hold it there (its reference count). */
export interface MountedFs {
  spec: string;
  mountpoint: string;
  /** Staging path by volume id. */
  volumes: Record<string, string>;
  /** The PCCClass the mount was made with (a mount of volumes with a `pccClass`). */
  pccClass?: string;
  /** The unix socket its mount process serves Prometheus metrics on (`-o metrics=`), if any. */
  metricsSocket?: string;
}

/** By filesystem key (`fsKey`). */
export type NodeStateData = Record<string, MountedFs>;

const FILE_NAME = 'node-state.json';

/** A file-name-safe key per filesystem: its name for people, a hash of its mount source for uniqueness. */
export function fsKey(spec: string, fsName: string): string {
  return `${fsName}-${createHash('sha256').update(spec).digest('hex').slice(0, 12)}`;
}

export function addVolume(
  s: NodeStateData,
  key: string,
  fs: Omit<MountedFs, 'volumes'>,
  volumeId: string,
  stagingPath: string,
): NodeStateData {
  const volumes = { ...s[key]?.volumes, [volumeId]: stagingPath };
  const { pccClass, metricsSocket } = { ...s[key], ...fs };
  const mounted: MountedFs = { spec: fs.spec, mountpoint: fs.mountpoint, volumes };
  if (pccClass !== undefined) mounted.pccClass = pccClass;
  if (metricsSocket !== undefined) mounted.metricsSocket = metricsSocket;
  return { ...s, [key]: mounted };
}

/** The key of the filesystem mount holding `volumeId`, if one does. */
export function keyOfVolume(s: NodeStateData, volumeId: string): string | undefined {
  return Object.keys(s).find((k) => s[k]!.volumes[volumeId] !== undefined);
}

/** The state without `volumeId`, and the filesystem it held if no staged volume holds it any more. */
export function removeVolume(
  s: NodeStateData,
  volumeId: string,
): { state: NodeStateData; released?: MountedFs } {
  const key = keyOfVolume(s, volumeId);
  if (key === undefined) return { state: s };
  const { [volumeId]: _gone, ...volumes } = s[key]!.volumes;
  if (Object.keys(volumes).length > 0) return { state: { ...s, [key]: { ...s[key]!, volumes } } };
  const { [key]: released, ...rest } = s;
  return { state: rest, released: released! };
}

/**
 * The state as the kernel's mount table shows it after a restart: a volume whose staging path no
 * longer shows our filesystem is not staged (unstaged while we were down, or never bound before a
 * crash), and a filesystem no staged volume holds is released.
 */
export function reconcile(
  s: NodeStateData,
  mounts: readonly MountRecord[],
): { state: NodeStateData; released: MountedFs[] } {
  const ours = new Set(mounts.filter((m) => m.fstype === FSTYPE).map((m) => m.mountpoint));
  let state = s;
  const released: MountedFs[] = [];
  for (const fs of Object.values(s)) {
    for (const [volumeId, stagingPath] of Object.entries(fs.volumes)) {
      if (ours.has(stagingPath)) continue;
      const next = removeVolume(state, volumeId);
      state = next.state;
      if (next.released) released.push(next.released);
    }
  }
  return { state, released };
}

/** The node's state file in the plugin's state directory; every change is written before it counts. */
export class NodeState {
  readonly #path: string;
  #data: NodeStateData;

  private constructor(path: string, data: NodeStateData) {
    this.#path = path;
    this.#data = data;
  }

  static async load(stateDir: string): Promise<NodeState> {
    const path = join(stateDir, FILE_NAME);
    return new NodeState(path, ((await readJsonIfExists(path)) as NodeStateData | undefined) ?? {});
  }

  get data(): NodeStateData {
    return this.#data;
  }

  async save(next: NodeStateData): Promise<void> {
    await writeFileAtomic(this.#path, JSON.stringify(next, null, 2));
    this.#data = next;
  }
}
