import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCluster, type TestCluster } from '../harness/cluster.ts';
import { canMount, startTestMount, type TestMount } from './mount-harness.ts';

const run = promisify(execFile);
const COMMAND_TIMEOUT_MS = 120_000;
const REPO = fileURLToPath(new URL('../..', import.meta.url));
const SQLITE_ROWS = 5000;

/** Real programs on the mount: tar, diff, git and SQLite, each doing what it does on a local disk. */
describe.skipIf(!canMount())('workloads on the mount', () => {
  let tc: TestCluster;
  let mount: TestMount;
  let scratch: string;

  beforeAll(async () => {
    tc = await startTestCluster({ osts: 2 });
    mount = await startTestMount(tc.cluster, join(tc.dir, 'mnt'));
    scratch = mkdtempSync(join(tmpdir(), 'kl-workloads-'));
  }, 120_000);

  afterAll(async () => {
    await mount?.stop();
    await tc?.[Symbol.asyncDispose]();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  }, 60_000);

  it('extracts a source tree with tar identical to the original (diff -r)', async () => {
    const tarball = join(scratch, 'src.tar');
    const sources = ['protocol', 'node_modules/@sinclair/typebox'];
    await run('tar', ['-cf', tarball, '-C', REPO, ...sources], { timeout: COMMAND_TIMEOUT_MS });
    const into = join(mount.mountpoint, 'tree');
    mkdirSync(into);
    await run('tar', ['-xf', tarball, '-C', into], { timeout: COMMAND_TIMEOUT_MS });
    for (const s of sources) {
      // diff exits non-zero (and execFile rejects) on any difference, listing it.
      await run('diff', ['-r', '--no-dereference', join(REPO, s), join(into, s)], {
        timeout: COMMAND_TIMEOUT_MS,
        maxBuffer: 16 << 20,
      });
    }
    const { stdout } = await run('tar', ['-tf', tarball], { maxBuffer: 16 << 20 });
    expect(stdout.split('\n').length).toBeGreaterThan(100);
  }, 300_000);

  it('runs git init, add, commit and log inside the mount', async () => {
    const repo = join(mount.mountpoint, 'repo');
    mkdirSync(join(repo, 'src'), { recursive: true });
    const git = (...args: string[]) =>
      run('git', ['-c', 'user.name=t', '-c', 'user.email=t@e', '-c', 'init.defaultBranch=main', ...args], {
        cwd: repo,
        timeout: COMMAND_TIMEOUT_MS,
      });
    await git('init', '-q');
    await run('cp', ['-r', join(REPO, 'protocol/src/layout'), join(repo, 'src')]);
    await git('add', '.');
    await git('commit', '-q', '-m', 'first');
    await run('sh', ['-c', 'echo change >> src/layout/types.ts'], { cwd: repo });
    await git('commit', '-qam', 'second');
    const { stdout: log } = await git('log', '--format=%s');
    expect(log.trim().split('\n')).toEqual(['second', 'first']);
    const { stdout: fsck } = await git('fsck', '--full', '--strict');
    expect(fsck).toBe('');
    const { stdout: status } = await git('status', '--porcelain');
    expect(status).toBe('');
  }, 300_000);

  /**
   * SQLite takes POSIX locks; the mount does not ask FUSE for lock requests, so the kernel keeps locks
   * local to this node: correct for any number of processes on one mount, not across nodes.
   */
  it('keeps a SQLite database intact after thousands of inserts (PRAGMA integrity_check)', () => {
    const path = join(mount.mountpoint, 'db.sqlite');
    const db = new DatabaseSync(path);
    try {
      db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, blob BLOB)');
      db.exec('CREATE INDEX t_name ON t (name)');
      const insert = db.prepare('INSERT INTO t (name, blob) VALUES (?, ?)');
      for (let batch = 0; batch < SQLITE_ROWS / 500; batch++) {
        db.exec('BEGIN');
        for (let i = 0; i < 500; i++) insert.run(`row-${batch}-${i}`, Buffer.alloc(200 + (i % 700), i));
        db.exec('COMMIT');
      }
      db.exec(`DELETE FROM t WHERE id % 7 = 0`);
      db.exec('VACUUM');
    } finally {
      db.close();
    }
    const again = new DatabaseSync(path, { readOnly: true });
    try {
      expect(again.prepare('PRAGMA integrity_check').all()).toEqual([{ integrity_check: 'ok' }]);
      const { n } = again.prepare('SELECT count(*) AS n FROM t').get() as { n: number };
      expect(n).toBe(SQLITE_ROWS - Math.floor(SQLITE_ROWS / 7));
    } finally {
      again.close();
    }
  }, 300_000);
});
