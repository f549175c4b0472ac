import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { LocalCluster } from '@kubelustre/client/local/cluster.ts';
import { mountAt } from '@kubelustre/client/mount/mountinfo.ts';
import { MNT_DETACH, umount2Syscall } from '@kubelustre/client/mount/syscalls.ts';

const MOUNT_MAIN = fileURLToPath(import.meta.resolve('@kubelustre/client/mount/mount-main.ts'));
const READY_TIMEOUT_MS = 30_000;
const EXIT_TIMEOUT_MS = 15_000;

/** Whether this machine can make FUSE mounts (root and /dev/fuse): mount tests skip otherwise. */
export const canMount = (): boolean => process.getuid?.() === 0 && existsSync('/dev/fuse');

export interface TestMount extends AsyncDisposable {
  readonly mountpoint: string;
  readonly child: ChildProcess;
  /** What the mount process wrote to stderr (its log), for failure messages. */
  readonly log: () => string;
  /** SIGTERM (a graceful unmount), bounded; then SIGKILL and a lazy unmount if still there. */
  stop(): Promise<void>;
}

export interface TestMountOptions {
  /** Mount options as `kubelustre mount -o` takes them (e.g. `ro`). */
  options?: string;
  /** Node flags for the mount process (e.g. `--cpu-prof`). */
  nodeArgs?: string[];
  readers?: number;
}

/**
 * A real mount process (mount-main.ts, as `kubelustre mount` runs it) of `cluster`'s filesystem on
 * `mountpoint`; resolves once it printed `mounted`. Only the pid started here is ever signalled.
 */
export async function startTestMount(
  cluster: LocalCluster,
  mountpoint: string,
  o: TestMountOptions = {},
): Promise<TestMount> {
  mkdirSync(mountpoint, { recursive: true });
  const args = [...(o.nodeArgs ?? []), MOUNT_MAIN, cluster.spec, mountpoint];
  args.push('--key-file', cluster.state.keyFile, '--readers', String(o.readers ?? 4));
  if (o.options) args.push('-o', o.options);
  const child = spawn(process.execPath, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, KUBELUSTRE_LOG: process.env.KUBELUSTRE_LOG ?? 'warn' },
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-64 * 1024);
  });
  const m: TestMount = {
    mountpoint,
    child,
    log: () => stderr,
    stop: () => stopMount(child, mountpoint),
    [Symbol.asyncDispose]: () => stopMount(child, mountpoint),
  };
  try {
    await waitMounted(child, () => stderr);
  } catch (e) {
    await m.stop();
    throw e;
  }
  return m;
}

function waitMounted(child: ChildProcess, log: () => string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const fail = (why: string) => {
      clearTimeout(timer);
      reject(new Error(`${why}: ${log()}`));
    };
    const timer = setTimeout(() => fail(`no mount within ${READY_TIMEOUT_MS} ms`), READY_TIMEOUT_MS);
    child.stdout?.on('data', (d: Buffer) => {
      if (!d.toString().includes('mounted')) return;
      clearTimeout(timer);
      resolve();
    });
    child.once('exit', (code) => fail(`mount process exited with ${code}`));
  });
}

async function stopMount(child: ChildProcess, mountpoint: string): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM');
    await exited(child);
  }
  if (mountAt(mountpoint)) umount2Syscall(mountpoint, MNT_DETACH);
}

/** Waits for `child` to exit; SIGKILL after EXIT_TIMEOUT_MS. */
export async function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const timer = setTimeout(() => child.kill('SIGKILL'), EXIT_TIMEOUT_MS);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(timer);
  return code;
}
