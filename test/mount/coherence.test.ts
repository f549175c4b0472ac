import { chmod, mkdir, open, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCluster, type TestCluster } from '../harness/cluster.ts';
import { canMount, startTestMount, type TestMount } from './mount-harness.ts';

/** The mounts' entry and attribute timeout: the window in which the other mount may not see a change. */
const TIMEOUT_S = 1;
const POLL_MS = 20;
/** Slack on top of the timeout for the polling and a loaded machine. */
const SLACK_MS = 700;

/**
 * How long until `probe` answers true, polled; fails past the entry timeout plus slack. Answers the
 * time it took so a test can say the change was seen within the promise.
 */
async function seenWithin(probe: () => Promise<boolean>): Promise<number> {
  const t0 = performance.now();
  const deadline = t0 + TIMEOUT_S * 1000 + SLACK_MS;
  while (!(await probe())) {
    if (performance.now() > deadline) throw new Error(`not seen within ${TIMEOUT_S} s + ${SLACK_MS} ms`);
    await sleep(POLL_MS);
  }
  return performance.now() - t0;
}

const exists = (p: string) =>
  stat(p).then(
    () => true,
    () => false,
  );

/**
 * Two mounts of one filesystem, as two nodes would have: what one changes, the other sees at its next
 * open (close-to-open) for data and size, and within the entry/attribute timeout for names and
 * attributes. The test process drives both mounts; each is served by its own process.
 */
describe.skipIf(!canMount())('coherence between two mounts', () => {
  let tc: TestCluster;
  let a: TestMount;
  let b: TestMount;
  const options = `entry_timeout=${TIMEOUT_S},attr_timeout=${TIMEOUT_S}`;

  beforeAll(async () => {
    tc = await startTestCluster({ osts: 2 });
    [a, b] = await Promise.all([
      startTestMount(tc.cluster, join(tc.dir, 'a'), { options }),
      startTestMount(tc.cluster, join(tc.dir, 'b'), { options }),
    ]);
  }, 120_000);

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await tc?.[Symbol.asyncDispose]();
  }, 60_000);

  const inA = (p: string) => join(a.mountpoint, p);
  const inB = (p: string) => join(b.mountpoint, p);

  it('shows data closed on one mount at the next open on the other, also a same-size rewrite', async () => {
    await writeFile(inA('data'), 'first version');
    expect(await readFile(inB('data'), 'utf8')).toBe('first version'); // now cached by B's kernel
    await writeFile(inA('data'), 'other version'); // same size: only mtime tells
    expect(await readFile(inB('data'), 'utf8')).toBe('other version');
    await writeFile(inA('data'), 'grown to a longer version');
    expect(await readFile(inB('data'), 'utf8')).toBe('grown to a longer version');
  });

  it('publishes data and size at fsync, before close', async () => {
    const fh = await open(inA('synced'), 'w');
    try {
      await fh.write(Buffer.alloc(100_000, 1), 0, 100_000, 0);
      await fh.sync();
      const seen = await readFile(inB('synced'));
      expect([seen.length, seen.every((x) => x === 1)]).toEqual([100_000, true]);
    } finally {
      await fh.close();
    }
  });

  it('shows created, renamed and removed names within the entry timeout', async () => {
    await mkdir(inA('dir'));
    expect(await exists(inB('dir/f'))).toBe(false);
    await writeFile(inA('dir/f'), 'x');
    await seenWithin(() => exists(inB('dir/f')));
    await rename(inA('dir/f'), inA('dir/g'));
    await seenWithin(async () => (await exists(inB('dir/g'))) && !(await exists(inB('dir/f'))));
    await unlink(inA('dir/g'));
    await seenWithin(async () => !(await exists(inB('dir/g'))));
  });

  it('shows attribute changes within the attribute timeout', async () => {
    await writeFile(inA('attrs'), 'x');
    expect((await stat(inB('attrs'))).mode & 0o777).toBe(0o644);
    await chmod(inA('attrs'), 0o600);
    await seenWithin(async () => ((await stat(inB('attrs'))).mode & 0o777) === 0o600);
  });
});
