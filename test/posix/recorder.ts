import { type BigIntStats, lstatSync } from 'node:fs';

/** What a scenario observed, by key: return values, errno names, stat fields, timestamp effects. */
export type Observations = Record<string, unknown>;

/** Time the clock must move between calls so that "updated" and "not updated" tell apart. */
const TICK_MS = 15;

/** The stat fields both filesystems must agree on (timestamps are compared by effect, see `effect`). */
export function statOf(st: BigIntStats): Record<string, number> {
  return {
    type: Number(st.mode) >> 12,
    mode: Number(st.mode) & 0o7777,
    nlink: Number(st.nlink),
    // A directory's size is the filesystem's own business (ext4: blocks; tmpfs: entries): not compared.
    ...(!st.isDirectory() && { size: Number(st.size) }),
    uid: Number(st.uid),
    gid: Number(st.gid),
  };
}

export class Recorder {
  readonly out: Observations = {};
  #prefix = '';

  /** Runs one scenario under `name`; a throw ends that scenario only, recorded with its errno name. */
  scenario(name: string, fn: () => void): void {
    this.#prefix = `${name}.`;
    try {
      fn();
    } catch (e) {
      this.rec('threw', codeOf(e) ?? String(e));
    }
  }

  rec(key: string, value: unknown): void {
    this.out[this.#prefix + key] = value;
  }

  /** Records what `fn` answered ('ok' for undefined), or the errno name it failed with. */
  attempt(key: string, fn: () => unknown): void {
    try {
      const v = fn();
      this.rec(key, v === undefined ? 'ok' : v);
    } catch (e) {
      const code = codeOf(e);
      if (!code) throw e;
      this.rec(key, code);
    }
  }

  stat(key: string, path: string): void {
    this.attempt(key, () => statOf(lstatSync(path, { bigint: true })));
  }

  /**
   * Which of the inodes' atime, mtime and ctime `fn` moved forward ('a', 'm', 'c' letters per inode),
   * after letting the clock move, so "unchanged" is meaningful on filesystems with coarse timestamps.
   * Each inode is given by its path before and (if renamed) after `fn`: `[before, after]`.
   */
  effect(key: string, paths: Array<string | [string, string]>, fn: () => void): void {
    const pairs = paths.map((p) => (typeof p === 'string' ? [p, p] : p));
    const before = pairs.map(([p]) => lstatSync(p!, { bigint: true }));
    sleepMs(TICK_MS);
    fn();
    const moved = pairs.map(([, p], i) => {
      const [b, a] = [before[i]!, lstatSync(p!, { bigint: true })];
      return (
        (a.atimeNs > b.atimeNs ? 'a' : '') +
        (a.mtimeNs > b.mtimeNs ? 'm' : '') +
        (a.ctimeNs > b.ctimeNs ? 'c' : '')
      );
    });
    this.rec(key, moved);
  }
}

export function codeOf(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

export function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
