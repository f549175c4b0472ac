import { execFileSync } from 'node:child_process';
import { appendFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCluster, type TestCluster } from '../harness/cluster.ts';
import { runCli } from '../harness/integration.ts';
import { canMount, startTestMount, type TestMount } from '../mount/mount-harness.ts';

const CACHE_KIB = 256;
/** What the filler leaves free on the cache: room for the mount's probe, not for a file. */
const LEFT_FREE_KIB = 8;

/**
 * A cache on a tmpfs that is nearly full: an attach that does not fit must fail (ENOSPC) and keep
 * nothing, never record a short copy as the file (reads would then return too little).
 */
describe.skipIf(!canMount())('PCC on a cache that runs out of room', () => {
  let tc: TestCluster;
  let m: TestMount;
  let cache: string;
  let tmpfsMounted = false;

  beforeAll(async () => {
    tc = await startTestCluster({ osts: 2 });
    cache = join(tc.dir, 'cache');
    await mkdir(cache);
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${CACHE_KIB}k`, 'tmpfs', cache]);
    tmpfsMounted = true;
    await writeFile(join(cache, 'filler'), Buffer.alloc((CACHE_KIB - LEFT_FREE_KIB) * 1024));
    m = await startTestMount(tc.cluster, join(tc.dir, 'm'), { options: `pcc=${cache},nopcc_passthrough` });
  }, 120_000);

  afterAll(async () => {
    await m?.stop();
    if (tmpfsMounted) execFileSync('umount', [cache]);
    await tc?.[Symbol.asyncDispose]();
  }, 60_000);

  it.each([['-r'], ['-w']])(
    'refuses attach %s of a file that does not fit, and keeps serving it whole',
    async (mode) => {
      const path = join(m.mountpoint, `big${mode}`);
      const data = Buffer.alloc(1024 * 1024, mode === '-r' ? 0x11 : 0x22);
      await writeFile(path, data);
      const attached = await runCli(['lfs', 'pcc', 'attach', mode, path]);
      expect(attached.code, m.log()).not.toBe(0);
      expect((await runCli(['lfs', 'pcc', 'state', path])).stdout).toBe(`file: ${path}, type: none\n`);
      expect((await readFile(path)).equals(data)).toBe(true);
      // Nothing left behind in the cache but the filler (and the mount's own bookkeeping files).
      expect((await readdir(cache)).filter((f) => !f.startsWith('.') && f !== 'filler')).toEqual([]);
    },
  );

  it('mounts without PCC on a cache with no room left, and the mount works', {
    timeout: 60_000,
  }, async () => {
    // Fill the cache to the last byte.
    const block = Buffer.alloc(4096);
    for (;;) {
      try {
        await appendFile(join(cache, 'filler'), block);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOSPC') break;
        throw e;
      }
    }
    await using full = await startTestMount(tc.cluster, join(tc.dir, 'full'), { options: `pcc=${cache}` });
    expect(full.log()).toContain('PCC cache directory is unusable; mounted without PCC');
    const path = join(full.mountpoint, 'plain');
    await writeFile(path, 'still a filesystem');
    expect(await readFile(path, 'utf8')).toBe('still a filesystem');
    const attach = await runCli(['lfs', 'pcc', 'attach', path]);
    expect(attach.code).not.toBe(0);
    expect(attach.stderr).toContain('the mount has no PCC');
  });
});
