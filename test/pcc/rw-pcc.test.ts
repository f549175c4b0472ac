import { mkdir, open, readdir, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { PccStateValue } from '@kubelustre/client/pcc/pcc-state.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCluster, type TestCluster } from '../harness/cluster.ts';
import { cliOk, runCli } from '../harness/integration.ts';
import { canMount, exited, startTestMount, type TestMount } from '../mount/mount-harness.ts';

async function pccState(path: string): Promise<PccStateValue> {
  return JSON.parse((await cliOk(['lfs', 'pcc', 'state', '--json', path])).stdout) as PccStateValue;
}

async function attachRw(path: string, log: () => string): Promise<void> {
  const r = await runCli(['lfs', 'pcc', 'attach', '-w', '-i', '3', path]);
  expect(r.code, r.stderr + log()).toBe(0);
  expect((await pccState(path)).type).toBe('readwrite');
}

/** Writes `data` at `offset` through a handle kept open, optionally fsyncing, then closes it. */
async function writeAt(path: string, data: string, offset: number, fsync: boolean): Promise<void> {
  const f = await open(path, 'r+');
  try {
    await f.write(data, offset);
    if (fsync) await f.sync();
  } finally {
    await f.close();
  }
}

/**
 * Read-write PCC (docs/pcc.md) on real mounts: A caches read-write into its directory, B is another
 * client of the same filesystem whose opens make A write the data back.
 */
describe.skipIf(!canMount())('read-write PCC', () => {
  let tc: TestCluster;
  let a: TestMount;
  let b: TestMount;

  beforeAll(async () => {
    tc = await startTestCluster({ osts: 2 });
    const cacheA = join(tc.dir, 'cache-a');
    await mkdir(cacheA);
    [a, b] = await Promise.all([
      startTestMount(tc.cluster, join(tc.dir, 'a'), { options: `pcc=${cacheA}` }),
      // No attribute caching on B: its stat shows what the MDT has at once.
      startTestMount(tc.cluster, join(tc.dir, 'b'), { options: 'attr_timeout=0,entry_timeout=0' }),
    ]);
  }, 120_000);

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await tc?.[Symbol.asyncDispose]();
  }, 60_000);

  it('keeps writes in the cache; fsync writes them back and the file stays attached', {
    timeout: 60_000,
  }, async () => {
    const inA = join(a.mountpoint, 'fsync');
    await writeFile(inA, 'base');
    await attachRw(inA, a.log);
    const cacheFile = (await pccState(inA)).path!;

    await writeAt(inA, '+more', 4, false);
    expect(await readFile(inA, 'utf8')).toBe('base+more'); // through A: the cache file
    expect(await readFile(cacheFile, 'utf8')).toBe('base+more');
    expect((await stat(join(b.mountpoint, 'fsync'))).size).toBe(4); // not on the OSTs yet

    const before = (await pccState(inA)).counters!.writebacks;
    await writeAt(inA, '!', 9, true);
    expect((await stat(join(b.mountpoint, 'fsync'))).size).toBe(10); // fsync wrote it back
    const s = await pccState(inA);
    expect(s.type).toBe('readwrite');
    expect(s.counters!.writebacks).toBe(before + 1);

    // Truncates and O_TRUNC opens stay in the cache too.
    await truncate(inA, 2);
    expect((await stat(inA)).size).toBe(2);
    expect((await stat(join(b.mountpoint, 'fsync'))).size).toBe(10);
    await writeFile(inA, 'rewritten'); // O_TRUNC
    expect(await readFile(inA, 'utf8')).toBe('rewritten');
    expect((await pccState(inA)).type).toBe('readwrite');
    expect(await readFile(join(b.mountpoint, 'fsync'), 'utf8')).toBe('rewritten'); // restored for B
  });

  it('writes back and detaches when another client opens the file; that open waits for it', {
    timeout: 60_000,
  }, async () => {
    const inA = join(a.mountpoint, 'remote-open');
    await writeFile(inA, 'v1');
    await attachRw(inA, a.log);
    const cacheFile = (await pccState(inA)).path!;
    await writeAt(inA, 'v2 written in the cache only', 0, false); // closed, never fsynced

    expect(await readFile(join(b.mountpoint, 'remote-open'), 'utf8')).toBe('v2 written in the cache only');
    expect((await pccState(inA)).type).toBe('none');
    await expect(stat(cacheFile)).rejects.toMatchObject({ code: 'ENOENT' });
    // A now reads and writes the OSTs like any client.
    await writeAt(inA, 'v3', 0, false);
    expect((await readFile(join(b.mountpoint, 'remote-open'), 'utf8')).slice(0, 2)).toBe('v3');
  });

  it('writes back at lfs pcc detach', { timeout: 60_000 }, async () => {
    const inA = join(a.mountpoint, 'detach');
    await writeFile(inA, 'old');
    await attachRw(inA, a.log);
    await writeAt(inA, 'new data', 0, false);
    expect((await stat(join(b.mountpoint, 'detach'))).size).toBe(3);
    const r = await runCli(['lfs', 'pcc', 'detach', inA]);
    expect(r.code, r.stderr).toBe(0);
    expect((await pccState(inA)).type).toBe('none');
    expect((await stat(join(b.mountpoint, 'detach'))).size).toBe(8);
    expect(await readFile(join(b.mountpoint, 'detach'), 'utf8')).toBe('new data');
  });

  it('refuses to attach read-write a file another client has open', { timeout: 30_000 }, async () => {
    await writeFile(join(a.mountpoint, 'busy-rw'), 'x');
    const f = await open(join(b.mountpoint, 'busy-rw'), 'r');
    try {
      const r = await runCli(['lfs', 'pcc', 'attach', '-w', join(a.mountpoint, 'busy-rw')]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('cannot attach');
    } finally {
      await f.close();
    }
  });

  it('writes read-write files back at unmount', { timeout: 60_000 }, async () => {
    const cache = join(tc.dir, 'cache-u');
    await mkdir(cache);
    const u = await startTestMount(tc.cluster, join(tc.dir, 'u'), { options: `pcc=${cache}` });
    const inU = join(u.mountpoint, 'unmount');
    try {
      await writeFile(inU, '');
      await attachRw(inU, u.log);
      await writeAt(inU, 'kept at unmount', 0, false);
    } finally {
      await u.stop(); // SIGTERM: a graceful unmount
    }
    const started = Date.now();
    expect(await readFile(join(b.mountpoint, 'unmount'), 'utf8')).toBe('kept at unmount');
    expect(Date.now() - started).toBeLessThan(5000); // nobody had to restore it
    expect((await readdir(cache)).filter((n) => n.startsWith('0x'))).toHaveLength(0);
  });

  it('recovers after kill -9 of the caching mount: nothing fsynced is lost', {
    timeout: 90_000,
  }, async () => {
    const cache = join(tc.dir, 'cache-c');
    await mkdir(cache);
    const c = await startTestMount(tc.cluster, join(tc.dir, 'c'), { options: `pcc=${cache}` });
    const inC = join(c.mountpoint, 'crash');
    try {
      await writeFile(inC, '');
      await attachRw(inC, c.log);
      await writeAt(inC, 'fsynced', 0, true);
      expect((await stat(join(b.mountpoint, 'crash'))).size).toBe(7); // on the OSTs
      await writeAt(inC, ' and more', 7, false);
    } finally {
      c.child.kill('SIGKILL');
      await exited(c.child);
      await c.stop(); // the dead mount is detached
    }
    expect((await readdir(cache)).filter((n) => n.startsWith('0x'))).toHaveLength(1);

    // A new mount over the same cache directory writes the file back before it serves.
    const c2 = await startTestMount(tc.cluster, join(tc.dir, 'c2'), { options: `pcc=${cache}` });
    try {
      const text = await readFile(join(b.mountpoint, 'crash'), 'utf8');
      expect(text.startsWith('fsynced'), text + c2.log()).toBe(true);
      expect(text).toBe('fsynced and more'); // the cache file held the rest: written back too
      expect((await readdir(cache)).filter((n) => n.startsWith('0x'))).toHaveLength(0);
      expect((await pccState(join(c2.mountpoint, 'crash'))).type).toBe('none');
    } finally {
      await c2.stop();
    }
  });

  it("attaches by Lustre's rules: read-only at open, read-write at create", { timeout: 60_000 }, async () => {
    const cache = join(tc.dir, 'cache-r');
    await mkdir(cache);
    const rules = 'pcc_rule=fname={*.h5} roid=4,pcc_rule=fname={*.out}&uid={0}|gid={4242} rwid=2';
    await using r = await startTestMount(tc.cluster, join(tc.dir, 'r'), { options: `pcc=${cache},${rules}` });
    await writeFile(join(b.mountpoint, 'data.h5'), 'hdf5');
    await writeFile(join(b.mountpoint, 'data.txt'), 'text');
    expect(await readFile(join(r.mountpoint, 'data.h5'), 'utf8')).toBe('hdf5');
    expect(await readFile(join(r.mountpoint, 'data.txt'), 'utf8')).toBe('text');
    const deadline = Date.now() + 10_000;
    while ((await pccState(join(r.mountpoint, 'data.h5'))).type !== 'readonly') {
      expect(Date.now(), r.log()).toBeLessThan(deadline);
      await new Promise((res) => setTimeout(res, 50));
    }
    expect((await pccState(join(r.mountpoint, 'data.h5'))).archiveId).toBe(4);
    expect((await pccState(join(r.mountpoint, 'data.txt'))).type).toBe('none');

    const out = join(r.mountpoint, 'run.out');
    await writeFile(out, 'written into the cache');
    expect((await pccState(out)).type).toBe('readwrite');
    expect((await stat(join(b.mountpoint, 'run.out'))).size).toBe(0); // not on the OSTs yet
    expect(await readFile(join(b.mountpoint, 'run.out'), 'utf8')).toBe('written into the cache');
  });

  it('mounts without PCC when a rule does not parse', { timeout: 60_000 }, async () => {
    const cache = join(tc.dir, 'cache-bad');
    await mkdir(cache);
    await using m = await startTestMount(tc.cluster, join(tc.dir, 'bad'), {
      options: `pcc=${cache},pcc_rule=fname=*.h5`,
    });
    expect(m.log()).toContain('PCC settings are invalid; mounted without PCC');
    await writeFile(join(m.mountpoint, 'works'), 'yes');
    expect(await readFile(join(m.mountpoint, 'works'), 'utf8')).toBe('yes');
    expect((await pccState(join(m.mountpoint, 'works'))).enabled).toBe(false);
    // A rules file (as the CSI driver writes it) is read at mount, and refused the same way.
    const rulesFile = join(tc.dir, 'bad.rules');
    await writeFile(rulesFile, '# from a PCCClass\nfname={*.h5}\nuid={x}\n');
    await using f = await startTestMount(tc.cluster, join(tc.dir, 'bad-file'), {
      options: `pcc=${cache},pcc_rules_file=${rulesFile}`,
    });
    expect(f.log()).toContain('PCC settings are invalid; mounted without PCC');
    expect(f.log()).toContain('is not a uid');
  });

  it('attaches and detaches by FID on a mount (lfs pcc attach_fid / detach_fid)', {
    timeout: 60_000,
  }, async () => {
    const inA = join(a.mountpoint, 'by-fid');
    await writeFile(inA, 'fid');
    expect((await runCli(['lfs', 'pcc', 'attach', inA])).code).toBe(0);
    const fid = basename((await pccState(inA)).path!); // cache files are named by FID
    expect((await runCli(['lfs', 'pcc', 'detach', inA])).code).toBe(0);

    const r = await runCli(['lfs', 'pcc', 'attach_fid', '-i', '5', '-w', '-m', a.mountpoint, `[${fid}]`]);
    expect(r.code, r.stderr + a.log()).toBe(0);
    expect(await pccState(inA)).toMatchObject({ type: 'readwrite', archiveId: 5 });
    const out = (await runCli(['lfs', 'pcc', 'state', inA])).stdout;
    expect(out).toBe(
      `file: ${inA}, type: readwrite, PCC file: ${join(tc.dir, 'cache-a', fid)}, user number: 0, flags: 0\n`,
    );
    expect((await runCli(['lfs', 'pcc', 'detach_fid', a.mountpoint, fid])).code).toBe(0);
    expect((await pccState(inA)).type).toBe('none');
    const bad = await runCli(['lfs', 'pcc', 'attach_fid', '-m', a.mountpoint, 'nonsense']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('is not a FID');
  });
});
