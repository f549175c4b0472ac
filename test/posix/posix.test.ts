import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCluster, type TestCluster } from '../harness/cluster.ts';
import { canMount, startTestMount, type TestMount } from '../mount/mount-harness.ts';
import type { Observations } from './recorder.ts';

const RUNNER = fileURLToPath(new URL('./run-scenarios.ts', import.meta.url));
const GROUP_TIMEOUT_MS = 60_000;
const execFileAsync = promisify(execFile);

/** Runs a scenario group in a child process (which may drop privileges) with `dir` as its root. */
async function observe(group: string, dir: string): Promise<Observations> {
  const { stdout } = await execFileAsync(process.execPath, [RUNNER, group, dir], {
    timeout: GROUP_TIMEOUT_MS,
  });
  return JSON.parse(stdout) as Observations;
}

/**
 * POSIX behaviour through the kernel on the FUSE mount, against the same scenarios on a local ext4
 * directory: every return value, errno, compared stat field and timestamp effect must be the same.
 * Differences that are the filesystem's own business are left out by the recorder (directory sizes,
 * hole granularity below 64 KiB), and so is atime on read and readdir: FUSE marks its inodes S_NOATIME
 * (the server owns atime) and kubelustre, as Lustre, does not update it on access, so the mount behaves
 * as `noatime` where ext4 is `relatime`. Each group also pins a few values so an empty record cannot pass.
 */
describe.skipIf(!canMount())('POSIX on the mount equals a local directory', () => {
  let tc: TestCluster;
  let mount: TestMount;
  let local: string;

  beforeAll(async () => {
    tc = await startTestCluster({ osts: 2 });
    local = mkdtempSync(join(tmpdir(), 'kl-posix-'));
    // mkdtemp makes 0700 directories: the unprivileged user must be able to reach both roots.
    chmodSync(local, 0o755);
    chmodSync(tc.dir, 0o755);
    mount = await startTestMount(tc.cluster, join(tc.dir, 'mnt'));
  }, 120_000);

  afterAll(async () => {
    await mount?.stop();
    await tc?.[Symbol.asyncDispose]();
    if (local) rmSync(local, { recursive: true, force: true });
  }, 60_000);

  async function compare(group: string): Promise<Observations> {
    const [want, got] = await Promise.all([
      observe(group, join(local, group)),
      observe(group, join(mount.mountpoint, group)),
    ]);
    expect(got).toEqual(want);
    return want;
  }

  it('as root: creation, modes, names, links, renames, sizes, O_APPEND, O_EXCL, timestamps', async () => {
    const o = await compare('root');
    expect(o).toMatchObject({
      'names.create-256': 'ENAMETOOLONG',
      'rename.noreplace-existing': 'EEXIST',
      'rename.exchanged': ['A', 'B'],
      'append.content': 'abcDEFxyG',
      'links.after-link': expect.objectContaining({ nlink: 2 }),
      'times.write': ['mc'],
    });
    expect(Object.keys(o).filter((k) => k.endsWith('.threw'))).toEqual([]);
  }, 120_000);

  it('as an unprivileged user: permissions, ownership, sticky and set-group-id directories', async () => {
    const o = await compare('user');
    expect(o).toMatchObject({
      'perm.read-0600': 'EACCES',
      'perm.chown-others': 'EPERM',
      'sticky.unlink-roots': 'EPERM',
      'setgid-dir.file': expect.objectContaining({ uid: 65534, gid: 1234 }),
    });
  }, 120_000);

  it('mmap: shared-mapping reads, and writes seen through another descriptor after msync', async () => {
    const o = await compare('mmap');
    expect(o['mmap.read-matches']).toBe(true);
  }, 120_000);

  it('keeps an unlinked file readable and writable until its last close', async () => {
    const o = await compare('open-unlink');
    expect(o['open-unlink.fstat']).toMatchObject({ nlink: 0 });
  }, 120_000);

  it('holes, SEEK_DATA/SEEK_HOLE and fallocate at 64 KiB granularity', async () => {
    const o = await compare('sparse');
    expect(o['holes.hole@0']).toBe(65536);
  }, 120_000);
});
