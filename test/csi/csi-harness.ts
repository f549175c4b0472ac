import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MNT_DETACH, umount2Syscall } from '@kubelustre/client/mount/syscalls.ts';

const PLUGIN_MAIN = fileURLToPath(new URL('../../csi-driver/src/main.ts', import.meta.url));
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 15_000;

export interface PluginProcess {
  child: ChildProcess;
  socket: string;
  /** Everything the plugin logged, for failure messages. */
  output(): string;
}

/**
 * Starts the CSI plugin (all services, unless `mode` says) as its own process; resolves once its socket
 * is there. `extraArgs` go on its command line as they are.
 */
export async function startPluginProcess(o: {
  socket: string;
  stateDir: string;
  nodeId: string;
  keyFile?: string;
  mode?: 'all' | 'controller';
  extraArgs?: string[];
}): Promise<PluginProcess> {
  const args = [PLUGIN_MAIN, '--mode', o.mode ?? 'all', '--endpoint', `unix://${o.socket}`];
  args.push(
    '--node-id',
    o.nodeId,
    '--state-dir',
    o.stateDir,
    ...(o.keyFile ? ['--key-file', o.keyFile] : []),
  );
  args.push(...(o.extraArgs ?? []));
  const child = spawn(process.execPath, args, {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, KUBELUSTRE_LOG: 'debug' },
  });
  let log = '';
  child.stderr?.on('data', (d: Buffer) => {
    log += d.toString();
  });
  const plugin = { child, socket: o.socket, output: () => log };
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!log.includes('Started CSI plugin')) {
    if (child.exitCode !== null) throw new Error(`CSI plugin exited with ${child.exitCode}:\n${log}`);
    if (Date.now() > deadline)
      throw new Error(`CSI plugin did not start within ${START_TIMEOUT_MS} ms:\n${log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return plugin;
}

/** Sends `signal` to the plugin (only the pid we started) and waits, bounded, for it to exit. */
export async function stopPluginProcess(p: PluginProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => p.child.once('exit', () => resolve()));
  p.child.kill(signal);
  const timer = setTimeout(() => p.child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

/**
 * Detaches every mount at or below `dir`, deepest first: what a test made (filesystem mounts, staged
 * and published binds). A filesystem mount's process exits once its last mount is gone.
 */
export function unmountBelow(dir: string): void {
  if (!existsSync(dir)) return;
  const mountpoints = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((m): m is string => m !== undefined && (m === dir || m.startsWith(`${dir}/`)))
    .sort((a, b) => b.length - a.length);
  for (const m of mountpoints) {
    try {
      umount2Syscall(m, MNT_DETACH);
    } catch {
      // Gone already with a parent.
    }
  }
}

/**
 * Ends what a plugin test started, each part only if it got that far: the CSI client, the plugin process,
 * every mount below `dir`, then `dir`.
 */
export async function stopPluginTest(o: {
  csi: { close(): void } | undefined;
  plugin: PluginProcess | undefined;
  dir: string | undefined;
}): Promise<void> {
  o.csi?.close();
  if (o.plugin) await stopPluginProcess(o.plugin);
  if (o.dir) {
    unmountBelow(o.dir);
    rmSync(o.dir, { recursive: true, force: true });
  }
}
