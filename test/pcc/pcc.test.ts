import { constants } from 'node:fs';
import { mkdir, open, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PccStateValue } from '@kubelustre/client/pcc/pcc-state.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCluster, type TestCluster } from '../harness/cluster.ts';
import { cliOk, runCli } from '../harness/integration.ts';
import { canMount, startTestMount, type TestMount } from '../mount/mount-harness.ts';

/** A function answering the MDT's request counts by op (its Prometheus kubelustre_target_requests_total). */
async function mdtRequestCounter(tc: TestCluster): Promise<() => Promise<Map<string, number>>> {
  const url = `http://${tc.cluster.target('mdt', 0).http}/metrics`;
  return async () => {
    const counts = new Map<string, number>();
    const text = await (await fetch(url)).text();
    for (const m of text.matchAll(/^kubelustre_target_requests_total\{([^}]*)\} (\S+)$/gm)) {
      const op = /op="([^"]+)"/.exec(m[1]!)?.[1];
      if (op !== undefined) counts.set(op, (counts.get(op) ?? 0) + Number(m[2]));
    }
    return counts;
  };
}

/** The mounts' revalidation bound for cached reads (`-o pcc_revalidate_ms`). */
const REVALIDATE_MS = 200;

/** Buffer equality without vitest's deep comparison, which takes seconds on megabytes. */
const same = (a: Buffer, b: Buffer): boolean => a.equals(b);

/** The file's PCC state as its mount reports it (`lfs pcc state --json`, in a child process). */
async function pccState(path: string): Promise<PccStateValue> {
  return JSON.parse((await cliOk(['lfs', 'pcc', 'state', '--json', path])).stdout) as PccStateValue;
}

/**
 * Runs `kubelustre lfs pcc ARGS` in a child process: its xattr calls block the calling thread, and this
 * process serves the cluster the mount needs to answer them.
 */
async function lfsPcc(...args: string[]): Promise<{ status: number; out: string; err: string }> {
  const r = await runCli(['lfs', 'pcc', ...args]);
  return { status: r.code, out: r.stdout, err: r.stderr };
}

/**
 * Read-only PCC (docs/pcc.md) on real mounts: A and B each cache into their own directory; C is
 * started with a cache directory it cannot use.
 */
describe.skipIf(!canMount())('read-only PCC', () => {
  let tc: TestCluster;
  let a: TestMount;
  let b: TestMount;
  const data = Buffer.alloc(3 * 1024 * 1024 + 123);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7 + (i >> 12)) & 0xff;

  beforeAll(async () => {
    tc = await startTestCluster({ osts: 2 });
    const [cacheA, cacheB] = [join(tc.dir, 'cache-a'), join(tc.dir, 'cache-b')];
    await Promise.all([mkdir(cacheA), mkdir(cacheB)]);
    // Without FUSE passthrough: every read reaches the mount process, which counts it (see the
    // passthrough test below for the default).
    const opts = (dir: string) => ({
      options: `pcc=${dir},pcc_ro,pcc_revalidate_ms=${REVALIDATE_MS},nopcc_passthrough`,
    });
    [a, b] = await Promise.all([
      startTestMount(tc.cluster, join(tc.dir, 'a'), opts(cacheA)),
      startTestMount(tc.cluster, join(tc.dir, 'b'), opts(cacheB)),
    ]);
  }, 120_000);

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await tc?.[Symbol.asyncDispose]();
  }, 60_000);

  it('attaches a file, serves reads from the cache copy, and detaches it', { timeout: 60_000 }, async () => {
    const path = join(a.mountpoint, 'attach-read');
    await writeFile(path, data);
    expect((await lfsPcc('state', path)).out).toBe(`file: ${path}, type: none\n`);

    const attached = await lfsPcc('attach', '-r', '-i', '2', path);
    expect(attached.status, attached.err + a.log()).toBe(0);
    const s = await pccState(path);
    expect(s).toMatchObject({ enabled: true, type: 'readonly', archiveId: 2 });
    expect(same(await readFile(s.path!), data)).toBe(true); // the cache file holds the whole file
    const state = await lfsPcc('state', path);
    expect(state.out).toBe(`file: ${path}, type: readonly, PCC file: ${s.path}, user number: 0, flags: 0\n`);

    expect(same(await readFile(path), data)).toBe(true);
    const after = await pccState(path);
    expect(after.counters!.hits).toBeGreaterThan(s.counters!.hits);
    expect(after.counters!.bytesFromCache - s.counters!.bytesFromCache).toBe(data.length);

    expect((await lfsPcc('detach', path)).status).toBe(0);
    expect((await pccState(path)).type).toBe('none');
    await expect(stat(s.path!)).rejects.toMatchObject({ code: 'ENOENT' });
    const hits = (await pccState(path)).counters!.hits;
    expect(same(await readFile(path), data)).toBe(true); // from the OSTs now
    expect((await pccState(path)).counters!.hits).toBe(hits);
  });

  it('detaches everywhere when another mount writes; the reader then sees the new data', {
    timeout: 60_000,
  }, async () => {
    const name = 'coherent';
    await writeFile(join(b.mountpoint, name), data);
    const inA = join(a.mountpoint, name);
    expect((await lfsPcc('attach', inA)).status).toBe(0);
    expect(same(await readFile(inA), data)).toBe(true);

    // A reader holding the file open across the other mount's write (O_DIRECT: every read reaches the
    // mount process rather than the kernel's page cache, whose coherence is close-to-open as ever).
    const reader = await open(inA, constants.O_RDONLY | constants.O_DIRECT);
    const changed = Buffer.from('written through B');
    try {
      const head = Buffer.alloc(4096);
      await reader.read(head, 0, head.length, 0);
      expect(head).toEqual(data.subarray(0, 4096));
      expect((await pccState(inA)).counters!.hits).toBeGreaterThan(0);

      // Counted before the write: `lfs pcc state` asks the MDT itself, which would detach the copy
      // ahead of the reader's own revalidation that this checks.
      const hits = (await pccState(inA)).counters!.hits;
      const w = await open(join(b.mountpoint, name), 'r+');
      try {
        await w.write(changed, 0, changed.length, 0);
        await w.sync(); // acknowledged
        await new Promise((r) => setTimeout(r, REVALIDATE_MS + 50));
        // Past the bound, the open reader gets the new data, not the copy.
        await reader.read(head, 0, head.length, 0);
        expect(head.subarray(0, changed.length)).toEqual(changed);
        expect((await pccState(inA)).counters!.hits).toBe(hits);
        expect((await pccState(inA)).type).toBe('none');
      } finally {
        await w.close();
      }
    } finally {
      await reader.close();
    }
    const expected = Buffer.from(data);
    changed.copy(expected, 0);
    expect(same(await readFile(inA), expected)).toBe(true);
    // Attaching again works once the writer has closed, and caches the new data.
    expect((await lfsPcc('attach', inA)).status).toBe(0);
    expect(same(await readFile((await pccState(inA)).path!), expected)).toBe(true);
    // `lfs pcc state` shows a copy revoked by another mount's write as detached, with no open between.
    await writeFile(join(b.mountpoint, name), 'again');
    expect((await pccState(inA)).type).toBe('none');
  });

  it('refuses an archive ID that is not a whole number of 32 bits', async () => {
    const path = join(a.mountpoint, 'bad-id');
    await writeFile(path, 'x');
    for (const id of ['1e3', '0', '4294967296', 'x']) {
      const r = await lfsPcc('attach', '-i', id, path);
      expect(r.status, id).not.toBe(0);
      expect(r.err, id).toContain(`bad archive ID "${id}"`);
    }
    expect((await lfsPcc('attach', '--id=-1', path)).err).toContain('bad archive ID "-1"');
    expect((await pccState(path)).type).toBe('none');
  });

  it('refuses to attach a file open for write anywhere', { timeout: 30_000 }, async () => {
    const name = 'busy';
    await writeFile(join(a.mountpoint, name), 'x');
    const w = await open(join(b.mountpoint, name), 'r+');
    try {
      await w.write('y', 0);
      const r = await lfsPcc('attach', join(a.mountpoint, name));
      expect(r.status).toBe(1);
      expect(r.err).toContain('open for write');
    } finally {
      await w.close();
    }
  });

  it('costs no write announcement for files nobody caches; create is one MDT round trip', {
    timeout: 30_000,
  }, async () => {
    const ops = await mdtRequestCounter(tc);
    const before = await ops();
    const path = join(b.mountpoint, 'never-attached');
    await writeFile(path, 'first'); // create (O_CREAT|O_TRUNC) and write
    await writeFile(path, 'second, longer'); // O_TRUNC of an existing file, and a write
    const w = await open(path, 'r+');
    try {
      await w.write('S', 0);
      await w.truncate(3);
    } finally {
      await w.close();
    }
    expect(await readFile(join(a.mountpoint, 'never-attached'), 'utf8')).toBe('Sec');
    const after = await ops();
    const delta = (op: string) => (after.get(op) ?? 0) - (before.get(op) ?? 0);
    expect(delta('mdt.pcc_write_open')).toBe(0);
    expect(delta('mdt.pcc_write_close')).toBe(0);
    expect(delta('mdt.create_open2')).toBe(1);
    expect(delta('mdt.create')).toBe(0);
  });

  it('refuses to attach a file while another mount holds it open for write, written or not', {
    timeout: 60_000,
  }, async () => {
    const name = 'open-for-write';
    await writeFile(join(a.mountpoint, name), 'old');
    const inA = join(a.mountpoint, name);
    // B opens for write while nobody caches the file: its writes will not be announced, so no attach
    // may happen until B closes (the MDT counts the open as a writer).
    const w = await open(join(b.mountpoint, name), 'r+');
    try {
      const r = await lfsPcc('attach', inA);
      expect(r.status).toBe(1);
      expect(r.err).toContain('open for write');
      await w.write('new', 0);
      await w.sync();
      expect((await lfsPcc('attach', inA)).status).toBe(1);
    } finally {
      await w.close();
    }
    await expect.poll(async () => (await lfsPcc('attach', inA)).status, { timeout: 10_000 }).toBe(0);
    expect(await readFile((await pccState(inA)).path!, 'utf8')).toBe('new');
    // Attached now: a later writer's open finds the file tracked and announces, revoking the copy.
    const ops = await mdtRequestCounter(tc);
    const before = (await ops()).get('mdt.pcc_write_open') ?? 0;
    await writeFile(join(b.mountpoint, name), 'newer');
    expect(((await ops()).get('mdt.pcc_write_open') ?? 0) - before).toBe(1);
    expect(await readFile(inA, 'utf8')).toBe('newer');
    expect((await pccState(inA)).type).toBe('none');
  });

  it('answers a clear error for files not under a PCC mount', { timeout: 30_000 }, async () => {
    const outside = join(tc.dir, 'not-mounted');
    await writeFile(outside, 'x');
    const r = await lfsPcc('attach', outside);
    expect(r.status).toBe(1);
    expect(r.err).toContain('not a file under a kubelustre mount');
  });

  it('mounts without PCC when the cache directory is unusable', async () => {
    // A regular file where the directory should be (root may write into any directory, whatever its mode).
    const notADir = join(tc.dir, 'cache-file');
    await writeFile(notADir, '');
    for (const dir of [join(tc.dir, 'missing-cache'), notADir]) {
      await using c = await startTestMount(tc.cluster, join(tc.dir, 'c'), { options: `pcc=${dir}` });
      expect(c.log()).toContain('PCC cache directory is unusable; mounted without PCC');
      const path = join(c.mountpoint, 'plain');
      await writeFile(path, 'works');
      expect(await readFile(path, 'utf8')).toBe('works');
      const r = await lfsPcc('attach', path);
      expect(r.status).toBe(1);
      expect(r.err).toContain('the mount has no PCC');
      expect((await lfsPcc('state', path)).out).toBe(`file: ${path}, type: none\n`);
    }
  }, 60_000);

  it('lets the kernel read a current copy itself (FUSE passthrough) until close', {
    timeout: 60_000,
  }, async () => {
    const cache = join(tc.dir, 'cache-p');
    await mkdir(cache);
    await using p = await startTestMount(tc.cluster, join(tc.dir, 'p'), { options: `pcc=${cache}` });
    const path = join(p.mountpoint, 'passthrough');
    await writeFile(path, data);
    expect((await lfsPcc('attach', path)).status).toBe(0);
    const copy = (await pccState(path)).path!;
    // Mark the copy (as root, behind the mount's back) to tell where reads come from.
    const marked = Buffer.from(data);
    marked.write('COPY', 0);
    await writeFile(copy, marked);
    const { hits, passthroughOpens } = (await pccState(path)).counters!;
    const read = await readFile(path);
    expect(same(read.subarray(0, 4), Buffer.from('COPY'))).toBe(true);
    // The kernel here speaks passthrough (test/mount/passthrough.test.ts): the open was handed to it,
    // and no read reached the mount process.
    const after = (await pccState(path)).counters!;
    expect(after.passthroughOpens, p.log()).toBe(passthroughOpens + 1);
    expect(after.hits).toBe(hits);
    // O_DIRECT never passes through: the mount process serves it (and counts it).
    const f = await open(path, constants.O_RDONLY | constants.O_DIRECT);
    try {
      const head = Buffer.alloc(4096);
      await f.read(head, 0, head.length, 0);
      expect(head.subarray(0, 4).toString()).toBe('COPY');
    } finally {
      await f.close();
    }
    expect((await pccState(path)).counters!.hits).toBeGreaterThan(hits);
  });

  it('evicts the least recently used copy above the high watermark', { timeout: 60_000 }, async () => {
    const cache = join(tc.dir, 'cache-e');
    await mkdir(cache);
    // 1000 bytes of cache: eviction above 800, down to 600.
    const options = `pcc=${cache},pcc_size=1000,pcc_hwm=80,pcc_lwm=60`;
    await using e = await startTestMount(tc.cluster, join(tc.dir, 'e'), { options });
    const [first, second, third] = ['first', 'second', 'third'].map((n) => join(e.mountpoint, n)) as [
      string,
      string,
      string,
    ];
    for (const [i, f] of [first, second, third].entries()) await writeFile(f, Buffer.alloc(300, i + 1));
    expect((await lfsPcc('attach', first)).status).toBe(0);
    await new Promise((r) => setTimeout(r, 20));
    expect((await lfsPcc('attach', second)).status).toBe(0); // 600 bytes: under the high watermark
    await new Promise((r) => setTimeout(r, 20));
    expect(same(await readFile(first), Buffer.alloc(300, 1))).toBe(true); // first is now the most recent
    expect((await lfsPcc('attach', third)).status).toBe(0); // 900 > 800: the least recently used goes
    const deadline = Date.now() + 10_000;
    while ((await pccState(second)).type !== 'none') {
      expect(Date.now(), e.log()).toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 50));
    }
    // LRU, not first in first out: the first attached stays, having been read since.
    expect((await pccState(first)).type).toBe('readonly');
    const s = await pccState(third);
    expect(s.type).toBe('readonly');
    expect(s.counters).toMatchObject({ evictions: 1, cacheBytesUsed: 600 });
  });
});
