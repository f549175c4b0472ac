import { join } from 'node:path';
import { readJsonIfExists, writeFileAtomic } from './atomic-file.ts';
import type { ObjectRef } from './parameters.ts';

/** A directory that holds volumes: a StorageClass's filesystem and base directory. */
export interface VolumeLocation {
  mgs: string;
  fsName: string;
  baseDir: string;
  /** The LustreFileSystem the StorageClass named, whose Secret holds the key after a restart. */
  filesystem?: ObjectRef;
}

const FILE_NAME = 'controller-locations.json';

/**
 * Every place this controller has created volumes in, remembered in its state directory: ListVolumes
 * carries no parameters, so this is how it knows which filesystems and directories to list. Keys are
 * never stored; a location is listable once a call brought its key (or with --key-file).
 */
export class VolumeLocations {
  readonly #path: string;
  readonly #locations: VolumeLocation[];

  private constructor(path: string, locations: VolumeLocation[]) {
    this.#path = path;
    this.#locations = locations;
  }

  static async load(stateDir: string): Promise<VolumeLocations> {
    const path = join(stateDir, FILE_NAME);
    const stored = (await readJsonIfExists(path)) as VolumeLocation[] | undefined;
    return new VolumeLocations(path, stored ?? []);
  }

  list(): readonly VolumeLocation[] {
    return this.#locations;
  }

  /** Remembers `loc` (persisted before this resolves) unless it is known already. */
  async add(loc: VolumeLocation): Promise<void> {
    const same = (l: VolumeLocation) =>
      l.mgs === loc.mgs && l.fsName === loc.fsName && l.baseDir === loc.baseDir;
    if (this.#locations.some(same)) return;
    const { mgs, fsName, baseDir, filesystem } = loc;
    this.#locations.push({ mgs, fsName, baseDir, ...(filesystem && { filesystem }) });
    await writeFileAtomic(this.#path, JSON.stringify(this.#locations));
  }
}
