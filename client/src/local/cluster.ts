import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KlError } from '@kubelustre/protocol/errors.ts';
import { freePorts } from '@kubelustre/protocol/free-ports.ts';
import { silentLogger } from '@kubelustre/protocol/log.ts';
import { decodeMessage, encodeMessage } from '@kubelustre/protocol/messages/validate.ts';
import { newKeyHex } from '@kubelustre/protocol/wire/auth.ts';
import { umount } from '../mount/mount-command.ts';
import { startMountProcess } from '../mount/mount-process.ts';
import { mountAt } from '../mount/mountinfo.ts';
import {
  type ClusterOptions,
  ClusterState,
  planTargets,
  type TargetProcess,
  targetName,
} from './cluster-spec.ts';

const TARGET_MAIN = fileURLToPath(import.meta.resolve('@kubelustre/target-server/main.ts'));
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 15_000;
const PORT_ATTEMPTS_MAX = 3;

/**
 * A whole filesystem on this machine: an MGS, MDTs and OSTs as separate `kubelustre-target` processes on
 * loopback, their data below one directory. The processes outlive the command that started them; their
 * pids are recorded in DIR/cluster.json so `down` (and tests) can find exactly the processes started here.
 */
export class LocalCluster {
  readonly dir: string;
  state: ClusterState;

  private constructor(dir: string, state: ClusterState) {
    this.dir = dir;
    this.state = state;
  }

  static statePath(dir: string): string {
    return `${dir}/cluster.json`;
  }

  /** Loads an existing cluster's state, or undefined if DIR has none. */
  static load(dir: string): LocalCluster | undefined {
    const path = LocalCluster.statePath(dir);
    if (!existsSync(path)) return undefined;
    return new LocalCluster(dir, decodeMessage(ClusterState, readFileSync(path), path));
  }

  /** Creates a cluster's state (ports, data dirs, a fresh shared key), or loads the one already there. */
  static async create(o: ClusterOptions): Promise<LocalCluster> {
    const existing = LocalCluster.load(o.dir);
    if (existing) return existing;
    mkdirSync(`${o.dir}/logs`, { recursive: true });
    const keyFile = `${o.dir}/fs.key`;
    writeFileSync(keyFile, `${newKeyHex()}\n`, { mode: 0o600 });
    const count = 2 * (1 + o.mdts + o.osts);
    const ports =
      o.basePort > 0
        ? Array.from({ length: count }, (_, i) => portAt(o.basePort, i))
        : await freePorts(count);
    const cluster = new LocalCluster(o.dir, {
      fsName: o.fsName,
      keyFile,
      targets: planTargets(o, ports),
      autoPorts: o.basePort === 0,
    });
    cluster.save();
    return cluster;
  }

  get mgsAddress(): string {
    return this.state.targets.find((t) => t.role === 'mgs')!.listen;
  }

  get key(): Buffer {
    return Buffer.from(readFileSync(this.state.keyFile, 'utf8').trim(), 'hex');
  }

  target(role: TargetProcess['role'], index: number): TargetProcess {
    const t = this.state.targets.find((x) => x.role === role && x.index === index);
    if (!t) throw new KlError('ENOENT', `no ${role} ${index} in the cluster at ${this.dir}`);
    return t;
  }

  save(): void {
    writeFileSync(LocalCluster.statePath(this.dir), encodeMessage(this.state));
  }

  /**
   * Starts every target that is not running, in order, each ready before the next starts; then waits
   * until the MDT holds precreated objects on every OST, so the first files stripe over all of them.
   */
  async up(): Promise<void> {
    for (const t of this.state.targets) if (!isRunning(t)) await this.start(t);
    await this.#waitAllocatable();
  }

  async #waitAllocatable(): Promise<void> {
    const mdt = this.target('mdt', 0);
    const osts = this.state.targets.filter((t) => t.role === 'ost').map((t) => t.index);
    const deadline = Date.now() + READY_TIMEOUT_MS;
    let missing = osts;
    while (Date.now() < deadline) {
      const ready = await precreatedOsts(mdt);
      missing = osts.filter((i) => !ready.has(i));
      if (missing.length === 0) return;
      await sleep(100);
    }
    throw new KlError(
      'EIO',
      `the MDT has no objects precreated on OSTs ${missing.join(', ')} after ${READY_TIMEOUT_MS} ms`,
    );
  }

  /** Stops every running target, OSTs first and the MGS last, after unmounting the local mount. */
  async down(): Promise<void> {
    await this.unmount();
    for (const t of [...this.state.targets].reverse()) await this.stop(t);
  }

  /** The filesystem's mount spec, MGS_HOST:PORT:/FSNAME. */
  get spec(): string {
    return `${this.mgsAddress}:/${this.state.fsName}`;
  }

  /** Mounts the filesystem at `mountpoint` with a background mount process (kept in cluster.json). */
  async mount(mountpoint: string): Promise<void> {
    if (this.state.mount && isPidAlive(this.state.mount.pid)) return;
    const logPath = `${this.dir}/logs/mount.log`;
    const pid = await startMountProcess({
      spec: this.spec,
      mountpoint,
      keyFile: this.state.keyFile,
      logPath,
    });
    this.state.mount = { mountpoint: resolve(mountpoint), pid };
    this.save();
  }

  /** Unmounts the local mount (a dead one too) and waits, bounded, for its process to end. */
  async unmount(): Promise<void> {
    const m = this.state.mount;
    if (!m) return;
    if (mountAt(m.mountpoint)) await umount(m.mountpoint, { log: silentLogger });
    const deadline = Date.now() + STOP_TIMEOUT_MS;
    while (isPidAlive(m.pid) && Date.now() < deadline) await sleep(50);
    this.state.mount = undefined;
    this.save();
  }

  /**
   * Starts one target and waits until it is ready. With automatic ports, another process may take a
   * port between our pick and the target's listen: then the target gets fresh ports and another try.
   */
  async start(t: TargetProcess): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#startOnce(t);
      } catch (e) {
        const lostPort = e instanceof KlError && e.message.includes('EADDRINUSE');
        if (!lostPort || !this.state.autoPorts || attempt === PORT_ATTEMPTS_MAX) throw e;
        [t.listen, t.http] = (await freePorts(2)).map((p) => `${t.listen.replace(/:\d+$/, '')}:${p}`) as [
          string,
          string,
        ];
        this.save();
      }
    }
  }

  async #startOnce(t: TargetProcess): Promise<void> {
    mkdirSync(t.dataDir, { recursive: true });
    const logPath = `${this.dir}/logs/${targetName(this.state.fsName, t)}.log`;
    const out = openSync(logPath, 'a');
    const args = [TARGET_MAIN, '--role', t.role, '--index', String(t.index), '--data', t.dataDir];
    args.push('--listen', t.listen, '--http', t.http, '--key-file', this.state.keyFile);
    if (t.role === 'mgs') args.push('--fsname', this.state.fsName);
    else args.push('--mgs', this.mgsAddress);
    const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', out, out] });
    closeSync(out);
    child.unref();
    t.pid = child.pid;
    this.save();
    await waitReady(t, logPath, () => child.exitCode);
  }

  /** SIGTERM, then SIGKILL after a bound; only a pid that is still our target process. */
  async stop(t: TargetProcess): Promise<void> {
    if (!isRunning(t)) return;
    process.kill(t.pid!, 'SIGTERM');
    const deadline = Date.now() + STOP_TIMEOUT_MS;
    while (isRunning(t) && Date.now() < deadline) await sleep(50);
    if (isRunning(t)) process.kill(t.pid!, 'SIGKILL');
    while (isRunning(t)) await sleep(20);
    t.pid = undefined;
    this.save();
  }

  /** kill -9, for crash tests. */
  async crash(t: TargetProcess): Promise<void> {
    if (!isRunning(t)) return;
    process.kill(t.pid!, 'SIGKILL');
    while (isRunning(t)) await sleep(10);
    t.pid = undefined;
    this.save();
  }

  /** For `local status`: each target with whether its process runs and answers /readyz. */
  async status(): Promise<Array<{ name: string; target: TargetProcess; running: boolean; ready: boolean }>> {
    return Promise.all(
      this.state.targets.map(async (t) => ({
        name: targetName(this.state.fsName, t),
        target: t,
        running: isRunning(t),
        ready: isRunning(t) && (await probeReady(t)),
      })),
    );
  }
}

function isPidAlive(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('mount-main');
  } catch {
    return false;
  }
}

/** True when the recorded pid is alive and is a kubelustre target on this data dir (not a reused pid). */
export function isRunning(t: TargetProcess): boolean {
  if (!t.pid) return false;
  try {
    const cmdline = readFileSync(`/proc/${t.pid}/cmdline`, 'utf8');
    const stat = readFileSync(`/proc/${t.pid}/stat`, 'utf8');
    return cmdline.includes(t.dataDir) && !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

/** OST indexes the MDT reports precreated objects for (its kubelustre_mdt_precreated_objects gauge). */
async function precreatedOsts(mdt: TargetProcess): Promise<Set<number>> {
  const ready = new Set<number>();
  try {
    const r = await fetch(`http://${mdt.http}/metrics`, { signal: AbortSignal.timeout(1000) });
    for (const m of (await r.text()).matchAll(/^kubelustre_mdt_precreated_objects\{ost="(\d+)"\} (\d+)/gm)) {
      if (Number(m[2]) > 0) ready.add(Number(m[1]));
    }
  } catch {
    // Not answering yet: nothing is ready.
  }
  return ready;
}

async function probeReady(t: TargetProcess): Promise<boolean> {
  try {
    const r = await fetch(`http://${t.http}/readyz`, { signal: AbortSignal.timeout(1000) });
    return r.ok;
  } catch {
    return false;
  }
}

async function waitReady(t: TargetProcess, logPath: string, exitCode: () => number | null): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (exitCode() !== null) break;
    if (await probeReady(t)) return;
    await sleep(50);
  }
  const tail = readFileSync(logPath, 'utf8').split('\n').slice(-15).join('\n');
  const why =
    exitCode() !== null ? `exited with code ${exitCode()}` : `not ready after ${READY_TIMEOUT_MS} ms`;
  throw new KlError('EIO', `${t.role} ${t.index} ${why}; last lines of ${logPath}:\n${tail}`);
}

function portAt(base: number, i: number): number {
  // Target ports are consecutive; HTTP ports sit 1000 above them.
  return i % 2 === 0 ? base + i / 2 : base + 1000 + (i - 1) / 2;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
