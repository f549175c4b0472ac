import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort } from '@kubelustre/protocol/free-ports.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCluster, type TestCluster } from '../harness/cluster.ts';
import { runCli } from '../harness/integration.ts';
import { canMount, startTestMount, type TestMount } from '../mount/mount-harness.ts';

/** One sample's value from Prometheus text format. */
function sample(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  if (line === undefined) throw new Error(`no ${name} in:\n${text}`);
  return Number(line.slice(name.length + 1));
}

/** `-o metrics=HOST:PORT`: the mount process's own Prometheus endpoint, scraped while it serves. */
describe.skipIf(!canMount())('PCC metrics of a mount process', () => {
  let tc: TestCluster;
  let m: TestMount;
  let port: number;

  beforeAll(async () => {
    tc = await startTestCluster({ osts: 2 });
    const cache = join(tc.dir, 'cache');
    await mkdir(cache);
    port = await freePort();
    m = await startTestMount(tc.cluster, join(tc.dir, 'm'), {
      options: `pcc=${cache},nopcc_passthrough,metrics=127.0.0.1:${port}`,
    });
  }, 120_000);

  afterAll(async () => {
    await m?.stop();
    await tc?.[Symbol.asyncDispose]();
  }, 60_000);

  it('counts attaches, hits and the bytes read from the cache', { timeout: 60_000 }, async () => {
    const scrape = async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const before = await scrape();
    expect(sample(before, 'kubelustre_pcc_attaches_total')).toBe(0);

    const path = join(m.mountpoint, 'model.bin');
    const data = Buffer.alloc(1024 * 1024 + 17, 0x5a);
    await writeFile(path, data);
    const attached = await runCli(['lfs', 'pcc', 'attach', path]);
    expect(attached.code, attached.stderr + m.log()).toBe(0);
    expect((await readFile(path)).equals(data)).toBe(true);

    const after = await scrape();
    expect(sample(after, 'kubelustre_pcc_attaches_total')).toBe(1);
    expect(sample(after, 'kubelustre_pcc_hits_total')).toBeGreaterThan(0);
    expect(sample(after, 'kubelustre_pcc_bytes_from_cache_total')).toBe(data.length);
    expect(sample(after, 'kubelustre_pcc_cache_bytes')).toBe(data.length);
  });
});
