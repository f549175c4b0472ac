import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalCluster } from '@kubelustre/client/local/cluster.ts';
import { parseSetstripeArgs } from '@kubelustre/protocol/layout/setstripe-args.ts';
import { afterAll, describe, expect, it } from 'vitest';
import { cliOk, connectClient, freeBasePort, runCli, sha256 } from '../harness/integration.ts';
import { randomBytes, seededRandom, seedFromEnv } from '../harness/random.ts';

/** `kubelustre local up|status|down` as child processes, and data surviving a down/up cycle. */

const OSTS = 2;
const TARGETS = 2 + OSTS;
const FS = 'klcli';
const seed = seedFromEnv();
const rand = seededRandom(seed);
const dir = mkdtempSync(join(tmpdir(), 'kl-cli-'));

afterAll(async () => {
  // Whatever happened above: stop exactly the processes this directory's cluster.json records.
  await LocalCluster.load(dir)?.down();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

const mountpoint = join(dir, 'mnt');
const local = (...args: string[]) => runCli(['local', ...args, '--dir', dir]);
/** `local up` mounts the filesystem (FUSE) too: inside the test's directory, never the default ./mnt. */
const localUp = (...args: string[]) => local('up', '--mount', mountpoint, ...args);

/** The pids cluster.json records: every target's, and the mount process's when there is one. */
function recordedPids(): number[] {
  const state = JSON.parse(readFileSync(LocalCluster.statePath(dir), 'utf8')) as {
    targets: Array<{ pid?: number }>;
    mount?: { pid: number };
  };
  return [...state.targets.map((t) => t.pid ?? -1), ...(state.mount ? [state.mount.pid] : [])];
}

/** The rows of `local status`'s target table (after its TARGET header). */
function targetRows(stdout: string): string[] {
  const lines = stdout.trim().split('\n');
  return lines.slice(lines.findIndex((l) => l.startsWith('TARGET')) + 1);
}

/** True when `pid` is a live process of this cluster (its command line names our directory). */
function isOurProcess(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir) && !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

describe('kubelustre local', { timeout: 180_000 }, () => {
  it('starts, reports status, stops without leftovers, and keeps the data across down/up', async () => {
    const port = await freeBasePort(TARGETS);
    const ctx = `(seed ${seed}, dir ${dir}, port ${port})`;
    const up = await localUp('--port', String(port), '--osts', String(OSTS), '--fsname', FS);
    expect(up.code, `${up.command} ${ctx}: ${up.stderr}`).toBe(0);
    expect(up.stdout).toContain(`Started filesystem ${FS}`);

    const status = await local('status');
    const lines = targetRows(status.stdout);
    expect(status.code, `${status.command} ${ctx}:\n${status.stdout}`).toBe(0);
    expect(lines.length, status.stdout).toBe(TARGETS);
    expect(
      lines.map((l) => l.trim().split(/\s+/)[0]),
      status.stdout,
    ).toEqual(['MGS', `${FS}-MDT0000`, `${FS}-OST0000`, `${FS}-OST0001`]);
    expect(
      lines.every((l) => l.endsWith(' ready')),
      `${ctx} every target ready:\n${status.stdout}`,
    ).toBe(true);
    const cluster = LocalCluster.load(dir)!;
    expect(cluster.mgsAddress, `the MGS listens on --port ${ctx}`).toBe(`127.0.0.1:${port}`);

    const df = await cliOk(['lfs', 'df', '--dir', dir]);
    expect(df.stdout.match(/OST[0-9a-f]{4}_UUID/g)?.length, df.stdout).toBe(OSTS);

    const files = new Map<string, Buffer>();
    {
      const client = await connectClient(cluster);
      try {
        await client.paths.mkdir('/keep');
        for (const [i, size] of [0, 1, 999_999, 3 << 20].entries()) {
          const path = `/keep/f${i}`;
          const data = randomBytes(rand, size);
          await client.lustre.setstripe(path, parseSetstripeArgs(['-c', '2', '-S', '64K']).layout!);
          await client.paths.writeFile(path, data);
          files.set(path, data);
        }
        await client.paths.symlink('f3', '/keep/link');
      } finally {
        await client.close();
      }
    }

    const pidsBefore = recordedPids();
    expect(
      pidsBefore.every((p) => p > 0 && isOurProcess(p)),
      `${ctx} pids ${pidsBefore} running`,
    ).toBe(true);
    const down = await local('down');
    expect(down.code, `${down.command} ${ctx}: ${down.stderr}`).toBe(0);
    expect(pidsBefore.filter(isOurProcess), `${ctx} processes still running after local down`).toEqual([]);
    const stopped = await local('status');
    expect(stopped.code, `${stopped.command} after down ${ctx}:\n${stopped.stdout}`).toBe(1);
    expect(
      targetRows(stopped.stdout).every((l) => l.endsWith(' stopped')),
      stopped.stdout,
    ).toBe(true);
    expect(existsSync(join(dir, 'fs.key')), 'the key stays for the next up').toBe(true);

    const again = await localUp();
    expect(again.code, `${again.command} ${ctx}: ${again.stderr}`).toBe(0);
    const pidsAfter = recordedPids();
    expect(
      pidsAfter.every((p) => p > 0 && isOurProcess(p) && !pidsBefore.includes(p)),
      `${ctx} new pids`,
    ).toBe(true);
    {
      const client = await connectClient(LocalCluster.load(dir)!);
      try {
        expect((await client.paths.readdir('/keep')).filter((n) => n !== 'striped').sort(), ctx).toEqual([
          'f0',
          'f1',
          'f2',
          'f3',
          'link',
        ]);
        for (const [path, data] of files) {
          expect((await client.paths.stat(path)).size, `${path} size after down/up ${ctx}`).toBe(data.length);
          expect(sha256(await client.paths.readFile(path)), `${path} data after down/up ${ctx}`).toBe(
            sha256(data),
          );
        }
        expect(sha256(await client.paths.readFile('/keep/link')), `/keep/link ${ctx}`).toBe(
          sha256(files.get('/keep/f3')!),
        );
        expect(LocalCluster.load(dir)!.state.mount, `local up mounted ${ctx}`).toBeDefined();
        const viaMount = readFileSync(join(mountpoint, 'keep', 'f2'));
        expect(sha256(viaMount), `${mountpoint}/keep/f2 read through the FUSE mount ${ctx}`).toBe(
          sha256(files.get('/keep/f2')!),
        );
        // lfs takes a path relative to the working directory, under the mount, as Lustre's lfs does.
        const striped = await runCli(
          ['lfs', 'setstripe', '-c', '2', '-S', '128K', 'mnt/keep/striped'],
          undefined,
          dir,
        );
        expect(striped.code, `${striped.command} ${ctx}: ${striped.stderr}`).toBe(0);
        const count = await runCli(['lfs', 'getstripe', '-c', 'mnt/keep/striped'], undefined, dir);
        expect(count.stdout.trim(), `${count.command} ${ctx}: ${count.stderr}`).toBe('2');
      } finally {
        await client.close();
      }
    }
    const last = await local('down');
    expect(last.code, `${last.command} ${ctx}: ${last.stderr}`).toBe(0);
    expect(pidsAfter.filter(isOurProcess), `${ctx} processes still running after the second down`).toEqual(
      [],
    );
  });

  it('answers a usage error and a missing cluster with their exit codes', async () => {
    const usage = await runCli(['local', 'sideways']);
    expect(usage.code, usage.stderr).toBe(2);
    expect(usage.stderr).toMatch(/usage: kubelustre local/);
    const none = await runCli(['local', 'status', '--dir', join(dir, 'nothing-here')]);
    expect(none.code, none.stdout).toBe(1);
    expect(none.stdout).toMatch(/no local cluster/);
  });
});
