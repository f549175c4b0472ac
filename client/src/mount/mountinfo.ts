import { readFileSync, realpathSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

export interface MountEntry {
  mountpoint: string;
  /** `major:minor` of the filesystem; for FUSE the minor is the connection's number. */
  device: string;
  fstype: string;
  source: string;
}

/** /proc/self/mountinfo escapes space, tab, newline and backslash as octal. */
const unescapeOctal = (s: string): string =>
  s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));

/** Parses mountinfo text (proc(5)): `id parent major:minor root mountpoint opts [tags] - fstype source superopts`. */
export function parseMountinfo(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    const sep = fields.indexOf('-');
    if (sep < 6 || fields.length < sep + 3) continue;
    entries.push({
      mountpoint: unescapeOctal(fields[4]!),
      device: fields[2]!,
      fstype: fields[sep + 1]!,
      source: unescapeOctal(fields[sep + 2]!),
    });
  }
  return entries;
}

/**
 * The filesystem mounted on `path` (the topmost, if several are stacked), read without touching the
 * path itself: a stat of a dead or hung FUSE mount would fail or block.
 */
export function mountAt(path: string): MountEntry | undefined {
  const target = resolve(path);
  return parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8')).findLast(
    (e) => e.mountpoint === target,
  );
}

/**
 * The mount of filesystem type `fstype` that `path` lies under (the deepest one), or undefined. The path
 * is made absolute and its symlinks resolved (its last component may not exist yet: lfs setstripe
 * creates it).
 */
export function mountUnder(path: string, fstype: string): MountEntry | undefined {
  const target = physicalPath(resolve(path));
  const under = (e: MountEntry) =>
    target === e.mountpoint || target.startsWith(`${e.mountpoint.replace(/\/$/, '')}/`);
  return parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'))
    .filter((e) => e.fstype === fstype && under(e))
    .sort((a, b) => a.mountpoint.length - b.mountpoint.length)
    .at(-1);
}

function physicalPath(abs: string): string {
  try {
    return realpathSync(abs);
  } catch {
    try {
      return join(realpathSync(dirname(abs)), basename(abs));
    } catch {
      return abs;
    }
  }
}
