import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KlError } from '@kubelustre/protocol/errors.ts';
import { FSTYPE } from './mount-command.ts';
import { mountAt } from './mountinfo.ts';

const MOUNT_MAIN = fileURLToPath(new URL('./mount-main.ts', import.meta.url));
const MOUNT_WAIT_MS = 30_000;

export interface MountProcessOptions {
  spec: string;
  mountpoint: string;
  keyFile: string;
  /** Where the mount process logs (it outlives the command that started it). */
  logPath: string;
  readers?: number;
  /** `-o` mount options, passed through as given (the mount process parses them). */
  options?: string;
}

/**
 * Starts a mount process that serves `mountpoint` in the background, as mount.lustre leaves the kernel
 * client mounted after it returns; resolves with its pid once the kernel shows the mount.
 */
export async function startMountProcess(o: MountProcessOptions): Promise<number> {
  const mountpoint = resolve(o.mountpoint);
  mkdirSync(mountpoint, { recursive: true });
  mkdirSync(dirname(o.logPath), { recursive: true });
  const out = openSync(o.logPath, 'a');
  const args = [MOUNT_MAIN, o.spec, mountpoint, '--key-file', o.keyFile, '--readers', String(o.readers ?? 4)];
  if (o.options) args.push('-o', o.options);
  const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', out, out] });
  closeSync(out);
  child.unref();
  const deadline = Date.now() + MOUNT_WAIT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    if (mountAt(mountpoint)?.fstype === FSTYPE) return child.pid!;
    await new Promise((r) => setTimeout(r, 50));
  }
  if (child.exitCode === null) child.kill('SIGTERM');
  const tail = readFileSync(o.logPath, 'utf8').split('\n').slice(-10).join('\n');
  throw new KlError(
    'EIO',
    `mount of ${o.spec} on ${mountpoint} failed; last lines of ${o.logPath}:\n${tail}`,
  );
}
