import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCluster, type TestCluster } from '../harness/cluster.ts';
import { seedFromEnv } from '../harness/random.ts';
import { runFsx } from './fsx.ts';
import { canMount, startTestMount, type TestMount } from './mount-harness.ts';

const OPS = 3000;
const TIME_MAX_MS = 60_000;

/**
 * The seeded exerciser on the mount: 3000 random operations on 4 files, bounded to 60 s. A failure
 * names the seed; `KL_SEED=N npx vitest run test/mount/fsx.test.ts` replays it exactly.
 */
describe.skipIf(!canMount())('fsx on the mount', () => {
  let tc: TestCluster;
  let mount: TestMount;

  beforeAll(async () => {
    tc = await startTestCluster({ osts: 2 });
    mount = await startTestMount(tc.cluster, join(tc.dir, 'mnt'));
  }, 120_000);

  afterAll(async () => {
    await mount?.stop();
    await tc?.[Symbol.asyncDispose]();
  }, 60_000);

  it(
    'agrees with the model on every read',
    () => {
      const seed = seedFromEnv();
      const dir = join(mount.mountpoint, 'fsx');
      mkdirSync(dir);
      const done = runFsx({ dir, seed, files: 4, ops: OPS, timeMaxMs: TIME_MAX_MS });
      console.log(`fsx: ${done} operations, seed ${seed}`);
      expect(done).toBeGreaterThan(500);
    },
    TIME_MAX_MS + 60_000,
  );
});
