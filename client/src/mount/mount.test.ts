import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { silentLogger } from '@kubelustre/protocol/log.ts';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestCluster, type TestCluster } from '../../../test/harness/cluster.ts';
import { FSTYPE, umount } from './mount-command.ts';
import { mountAt } from './mountinfo.ts';
import { MNT_DETACH, umount2Syscall } from './syscalls.ts';

const MOUNT_MAIN = fileURLToPath(new URL('./mount-main.ts', import.meta.url));
const READY_TIMEOUT_MS = 30_000;
const EXIT_TIMEOUT_MS = 15_000;
const COMMAND_TIMEOUT_MS = 60_000;
const canMount = process.getuid?.() === 0 && existsSync('/dev/fuse');
const execFileAsync = promisify(execFile);

/**
 * End to end through the Linux kernel: real MGS/MDT/OST processes, the real mount process (as
 * `kubelustre mount` runs it), and every file operation made by another process, as applications do.
 * (An fs call on the mount from this process would hold a threadpool thread waiting on a server that
 * shares it; here the server is a separate process anyway.)
 */
describe.skipIf(!canMount)('FUSE mount of a real cluster', () => {
  let tc: TestCluster;
  let base: string;
  const started: Array<{ child: ChildProcess; mountpoint: string }> = [];

  beforeAll(async () => {
    tc = await startTestCluster({ osts: 2 });
    base = mkdtempSync(join(tmpdir(), 'kl-mnt-'));
  }, 120_000);

  afterEach(async () => {
    for (const m of started.splice(0)) {
      if (m.child.exitCode === null && m.child.signalCode === null) m.child.kill('SIGKILL');
      await exited(m.child);
      if (mountAt(m.mountpoint)) umount2Syscall(m.mountpoint, MNT_DETACH);
    }
  }, 60_000);

  afterAll(async () => {
    await tc?.[Symbol.asyncDispose]();
    if (base) rmSync(base, { recursive: true, force: true });
  }, 60_000);

  /** Starts a mount process on a new directory; resolves once it printed `mounted`. */
  async function startMount(name: string): Promise<{ child: ChildProcess; mountpoint: string }> {
    const mountpoint = join(base, name);
    mkdirSync(mountpoint, { recursive: true });
    const spec = `${tc.cluster.mgsAddress}:/${tc.cluster.state.fsName}`;
    const args = [MOUNT_MAIN, spec, mountpoint, '--key-file', tc.cluster.state.keyFile];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const m = { child, mountpoint };
    started.push(m);
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    await new Promise<void>((resolve, reject) => {
      const fail = (why: string) => {
        clearTimeout(timer);
        reject(new Error(`${why}: ${stderr}`));
      };
      const timer = setTimeout(() => fail(`no mount within ${READY_TIMEOUT_MS} ms`), READY_TIMEOUT_MS);
      child.stdout?.on('data', (d: Buffer) => {
        if (!d.toString().includes('mounted')) return;
        clearTimeout(timer);
        resolve();
      });
      child.once('exit', (code) => fail(`mount exited with ${code}`));
    });
    return m;
  }

  /** Runs an ES module script in a new Node process (the application side); answers its stdout. */
  async function app(script: string): Promise<string> {
    const args = ['--input-type=module', '-e', `import fs from 'node:fs';\n${script}`];
    // From the client package, so the script can import koffi.
    const cwd = fileURLToPath(new URL('../..', import.meta.url));
    const { stdout } = await execFileAsync(process.execPath, args, { timeout: COMMAND_TIMEOUT_MS, cwd });
    return stdout.trim();
  }

  /** Runs `script` and answers the errno code it failed with ('' if none). */
  const errnoOf = (script: string) =>
    app(`try { ${script}; console.log(''); } catch (e) { console.log(e.code); }`);

  it('serves files, directories, links, special files and xattrs', async () => {
    const { mountpoint: mp } = await startMount('a');
    const out = await app(`
      const p = (x) => ${JSON.stringify(mp)} + '/' + x;
      fs.mkdirSync(p('d'));
      fs.writeFileSync(p('d/f'), 'hello');
      fs.appendFileSync(p('d/f'), ' world');
      fs.renameSync(p('d/f'), p('d/g'));
      fs.symlinkSync('g', p('d/s'));
      fs.linkSync(p('d/g'), p('d/h'));
      fs.truncateSync(p('d/h'), 5);
      fs.chmodSync(p('d/g'), 0o640);
      fs.utimesSync(p('d/g'), 1000, 2000);
      const st = fs.statSync(p('d/g'));
      console.log(JSON.stringify({
        text: fs.readFileSync(p('d/s'), 'utf8'),
        link: fs.readlinkSync(p('d/s')),
        names: fs.readdirSync(p('d')).sort(),
        withTypes: fs.readdirSync(p('d'), { withFileTypes: true }).map((e) => e.name + ':' + e.isSymbolicLink()).sort(),
        mode: (st.mode & 0o7777).toString(8), nlink: st.nlink, size: st.size, mtime: st.mtimeMs, blksize: st.blksize,
      }));
      fs.unlinkSync(p('d/s')); fs.unlinkSync(p('d/h')); fs.unlinkSync(p('d/g')); fs.rmdirSync(p('d'));
      console.log(JSON.stringify(fs.readdirSync(p(''))));
    `);
    const [first, second] = out.split('\n');
    expect(JSON.parse(first!)).toEqual({
      text: 'hello',
      link: 'g',
      names: ['g', 'h', 's'],
      withTypes: ['g:false', 'h:false', 's:true'],
      mode: '640',
      nlink: 2,
      size: 5,
      mtime: 2_000_000,
      blksize: 1 << 20,
    });
    expect(JSON.parse(second!)).toEqual([]);
    await execFileAsync('sh', ['-c', `mkfifo ${mp}/fifo && test -p ${mp}/fifo && rm ${mp}/fifo`]);
  }, 120_000);

  it('stores xattrs and serves the layout as lustre.lov; answers errnos as Linux does', async () => {
    const { mountpoint: mp } = await startMount('b');
    await execFileAsync('sh', ['-c', `echo x > ${mp}/f && mkdir ${mp}/full && touch ${mp}/full/x`]);
    const out = await app(`
      import koffi from 'koffi';
      const libc = koffi.load('libc.so.6');
      const get = libc.func('long getxattr(const char *p, const char *n, _Out_ uint8_t *v, size_t s)');
      const set = libc.func('int setxattr(const char *p, const char *n, const uint8_t *v, size_t s, int f)');
      const list = libc.func('long listxattr(const char *p, _Out_ uint8_t *v, size_t s)');
      const buf = Buffer.alloc(4096);
      const value = (n) => buf.subarray(0, n).toString();
      const f = '${mp}/f';
      const lov = JSON.parse(value(get(f, 'lustre.lov', buf, buf.length)));
      set(f, 'user.color', Buffer.from('blue'), 4, 0);
      const color = value(get(f, 'user.color', buf, buf.length));
      const sizeOnly = get(f, 'user.color', null, 0);
      const tooSmall = [get(f, 'user.color', buf, 2), koffi.errno()];
      const names = value(list(f, buf, buf.length)).split('\\0').filter(Boolean);
      console.log(JSON.stringify({ stripeSize: lov.components[0].stripeSize, color, sizeOnly, tooSmall, names }));
    `);
    expect(JSON.parse(out)).toEqual({
      stripeSize: 1 << 20,
      color: 'blue',
      sizeOnly: 4,
      tooSmall: [-1, 34],
      names: ['user.color'],
    });
    expect(await errnoOf(`fs.writeFileSync('${mp}/' + 'x'.repeat(256), '')`)).toBe('ENAMETOOLONG');
    expect(await errnoOf(`fs.rmdirSync('${mp}/full')`)).toBe('ENOTEMPTY');
    expect(await errnoOf(`fs.mkdirSync('${mp}/full')`)).toBe('EEXIST');
    expect(await errnoOf(`fs.readFileSync('${mp}/missing')`)).toBe('ENOENT');
    expect(await errnoOf(`fs.rmdirSync('${mp}/f')`)).toBe('ENOTDIR');
  }, 120_000);

  it('shows writes closed on one mount to the next open on another (close-to-open)', async () => {
    const [{ mountpoint: a }, { mountpoint: b }] = await Promise.all([startMount('c1'), startMount('c2')]);
    const ab = JSON.stringify([a, b]);
    const out = await app(`
      const [a, b] = ${ab};
      fs.writeFileSync(a + '/shared', 'v1');
      const first = fs.readFileSync(b + '/shared', 'utf8');
      fs.writeFileSync(a + '/shared', 'version two, longer');
      const second = fs.readFileSync(b + '/shared', 'utf8');
      fs.appendFileSync(b + '/shared', '+b');
      console.log(JSON.stringify([first, second, fs.readFileSync(a + '/shared', 'utf8')]));
    `);
    expect(JSON.parse(out)).toEqual(['v1', 'version two, longer', 'version two, longer+b']);
  }, 120_000);

  it('moves 64 MiB through the page cache and back intact', async () => {
    const { mountpoint: mp } = await startMount('d');
    const out = await app(`
      import { createHash } from 'node:crypto';
      const data = Buffer.alloc(64 << 20);
      for (let i = 0; i < data.length; i += 4096) data.writeUInt32LE(i, i);
      fs.writeFileSync('${mp}/big', data);
      fs.copyFileSync('${mp}/big', '${mp}/copy');
      const h = (b) => createHash('sha256').update(b).digest('hex');
      console.log(h(data) === h(fs.readFileSync('${mp}/big')), h(data) === h(fs.readFileSync('${mp}/copy')));
    `);
    expect(out).toBe('true true');
  }, 180_000);

  it('unmounts on SIGTERM; a dead mount (server killed) is cleared so a new mount works at once', async () => {
    const graceful = await startMount('e');
    graceful.child.kill('SIGTERM');
    expect(await exited(graceful.child)).toBe(0);
    expect(mountAt(graceful.mountpoint)).toBeUndefined();

    const killed = await startMount('f');
    await app(`fs.writeFileSync('${killed.mountpoint}/persisted', 'yes')`);
    killed.child.kill('SIGKILL');
    await exited(killed.child);
    expect(mountAt(killed.mountpoint)?.fstype).toBe(FSTYPE);
    expect(await errnoOf(`fs.statSync('${killed.mountpoint}')`)).toBe('ENOTCONN');
    await umount(killed.mountpoint, { log: silentLogger });
    expect(mountAt(killed.mountpoint)).toBeUndefined();

    const again = await startMount('f');
    expect(await app(`console.log(fs.readFileSync('${again.mountpoint}/persisted', 'utf8'))`)).toBe('yes');
  }, 120_000);
});

/** The exit code once `child` has exited (bounded: killed after EXIT_TIMEOUT_MS). */
async function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const timer = setTimeout(() => child.kill('SIGKILL'), EXIT_TIMEOUT_MS);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(timer);
  return code;
}
