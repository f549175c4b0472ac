import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

/**
 * A real etcd + kube-apiserver for a test file, started by test/k8s/control-plane in a state directory
 * of its own (so it never meets a developer's control plane or another test run's) and stopped by
 * `await using`. There is no fallback: without the binaries this throws, telling what to run.
 */

const execFileAsync = promisify(execFile);
const REPO_ROOT = join(import.meta.dirname, '..', '..', '..');
const SCRIPT = join(REPO_ROOT, 'test', 'k8s', 'control-plane');
/** The script waits up to 120 s for /readyz on a loaded machine; this bounds the whole `up`. */
const UP_TIMEOUT_MS = 180_000;
const DOWN_TIMEOUT_MS = 60_000;
const KUBECTL_TIMEOUT_MS = 60_000;

export interface ControlPlane extends AsyncDisposable {
  kubeconfigPath: string;
  /** Runs kubectl of the same version (built beside kube-apiserver) against this control plane. */
  kubectl(...args: string[]): Promise<{ stdout: string; stderr: string }>;
}

export async function startControlPlane(): Promise<ControlPlane> {
  const stateDir = await mkdtemp(join(tmpdir(), 'kubelustre-control-plane-'));
  const env = { ...process.env, KUBELUSTRE_STATE_DIR: stateDir };
  const stop = async () => {
    await runScript('down', env, DOWN_TIMEOUT_MS);
    await rm(stateDir, { recursive: true, force: true });
  };
  try {
    await runScript('up', env, UP_TIMEOUT_MS);
  } catch (error) {
    await stop().catch(() => {});
    throw error;
  }
  const kubeconfigPath = join(stateDir, 'kubeconfig');
  const kubectlPath = join(await k8sBinDir(), 'kubectl');
  let calls = 0;
  return {
    kubeconfigPath,
    // A fresh discovery cache per call: kubectl does not refetch a cached discovery document when a
    // category is missing from it, so a cache taken before the CRDs were installed would hide them.
    kubectl: (...args) => {
      const cacheDir = join(stateDir, `kubectl-cache-${++calls}`);
      return execFileAsync(kubectlPath, ['--kubeconfig', kubeconfigPath, '--cache-dir', cacheDir, ...args], {
        timeout: KUBECTL_TIMEOUT_MS,
      });
    },
    [Symbol.asyncDispose]: stop,
  };
}

async function runScript(command: 'up' | 'down', env: NodeJS.ProcessEnv, timeoutMs: number): Promise<void> {
  try {
    await execFileAsync(SCRIPT, [command], { env, timeout: timeoutMs });
  } catch (error) {
    const { stderr, code } = error as { stderr?: string; code?: number | string };
    throw new Error(`test/k8s/control-plane ${command} failed (${code}):\n${stderr ?? String(error)}`);
  }
}

/** Where scripts/build-k8s-tools.sh caches the binaries: scripts/k8s-tools.env is the one place that says. */
async function k8sBinDir(): Promise<string> {
  const env = join(REPO_ROOT, 'scripts', 'k8s-tools.env');
  const { stdout } = await execFileAsync('bash', [
    '-c',
    'source "$1" && echo "$KUBELUSTRE_K8S_BIN_DIR"',
    '_',
    env,
  ]);
  return stdout.trim();
}
