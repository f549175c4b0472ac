import { execFile } from 'node:child_process';
import { join } from 'node:path';

/**
 * kubectl and helm of the e2e cluster (scripts/e2e-cluster.sh): its wrappers in STATE/bin, which run
 * them in the cluster's network namespace with its admin kubeconfig.
 */
export const STATE_DIR = process.env.KUBELUSTRE_E2E_DIR ?? '/var/tmp/kubelustre-e2e';
const KUBECTL = join(STATE_DIR, 'bin/kubectl');
const HELM = join(STATE_DIR, 'bin/helm');
const COMMAND_TIMEOUT_MS = 120_000;
const OUTPUT_BYTES_MAX = 16 * 1024 * 1024;
const POLL_INTERVAL_MS = 2_000;

export class CommandError extends Error {
  readonly command: string;
  readonly stdout: string;
  readonly stderr: string;

  constructor(command: string, stdout: string, stderr: string) {
    super(`${command} failed: ${stderr.trim() || stdout.trim()}`);
    this.command = command;
    this.stdout = stdout;
    this.stderr = stderr;
  }
}

export interface RunOptions {
  /** Written to the command's standard input. */
  input?: string;
  timeoutMs?: number;
}

export function run(file: string, args: readonly string[], options: RunOptions = {}): Promise<string> {
  const command = [file, ...args].join(' ');
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      { timeout: options.timeoutMs ?? COMMAND_TIMEOUT_MS, maxBuffer: OUTPUT_BYTES_MAX, encoding: 'utf8' },
      (error, stdout, stderr) =>
        error ? reject(new CommandError(command, stdout, stderr)) : resolve(stdout),
    );
    // A command that exits without reading its input makes the write fail (EPIPE): its exit status says
    // what happened, so that error is not one of ours.
    child.stdin?.on('error', () => {});
    if (options.input === undefined) child.stdin?.end();
    else child.stdin?.end(options.input);
  });
}

export function kubectl(args: readonly string[], options?: RunOptions): Promise<string> {
  return run(KUBECTL, args, options);
}

export function helm(args: readonly string[], options?: RunOptions): Promise<string> {
  return run(HELM, args, options);
}

export async function kubectlJson<T>(args: readonly string[]): Promise<T> {
  return JSON.parse(await kubectl([...args, '-o', 'json'])) as T;
}

/** Applies objects given as JSON (a List), server-side. */
export async function apply(objects: readonly object[]): Promise<void> {
  const list = { apiVersion: 'v1', kind: 'List', items: objects };
  await kubectl(['apply', '--server-side', '-f', '-'], { input: JSON.stringify(list) });
}

/** A command in a pod's container; its stdout. */
export function exec(namespace: string, pod: string, command: readonly string[]): Promise<string> {
  return kubectl(['exec', '-n', namespace, pod, '--', ...command]);
}

/**
 * Polls `check` until it returns true, at most `timeoutMs`; `describe` says what was awaited, and the
 * last state `check` reported (its string result) is in the error.
 */
export async function waitFor(
  describe: string,
  timeoutMs: number,
  check: () => Promise<true | string>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'not checked yet';
  for (;;) {
    try {
      const result = await check();
      if (result === true) return;
      last = result;
    } catch (e) {
      last = e instanceof Error ? e.message : String(e);
    }
    if (Date.now() >= deadline)
      throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${describe}: ${last}`);
    await new Promise((r) => setTimeout(r, POLL_INTERVAL_MS));
  }
}

/** Whether the object exists (kubectl get fails with NotFound when it does not). */
export async function exists(args: readonly string[]): Promise<boolean> {
  try {
    await kubectl(['get', ...args, '-o', 'name']);
    return true;
  } catch (e) {
    if (e instanceof CommandError && /NotFound|not found/.test(e.stderr)) return false;
    throw e;
  }
}
