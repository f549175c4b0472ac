import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { KubeClient } from '../k8s/client.ts';
import type { LustreFileSystem } from '../k8s/objects.ts';
import { KubeRest } from '../k8s/rest.ts';
import { type RunningOperator, runOperator } from '../operator.ts';
import type { Timing } from '../reconcilers/context.ts';
import { type ControlPlane, startControlPlane } from './control-plane.ts';
import { installCrds } from './custom-objects.ts';
import { FakeKubelet } from './fake-kubelet.ts';

/**
 * A real control plane with our CRDs, the operator running in this process against it, and
 * optionally a FakeKubelet running target processes for the `default` namespace. One per test file.
 */

/** Much shorter than in a cluster: tests wait on these. */
export const TEST_TIMING: Timing = {
  waitForTargetsMs: 300,
  refreshCapacityMs: 1000,
  waitForSecretMs: 500,
  teardownPollMs: 200,
};

export const NAMESPACE = 'default';
const WAIT_POLL_MS = 100;

export interface OperatorFixture extends AsyncDisposable {
  controlPlane: ControlPlane;
  client: KubeClient;
  operator: RunningOperator;
  kubelet: FakeKubelet | undefined;
}

export async function startOperatorFixture(opts: { kubelet: boolean }): Promise<OperatorFixture> {
  const controlPlane = await startControlPlane();
  const parts: Partial<OperatorFixture> = { controlPlane };
  try {
    await installCrds(controlPlane);
    const kc = new KubeConfig();
    kc.loadFromFile(controlPlane.kubeconfigPath);
    const client = new KubeClient(new KubeRest(kc));
    parts.client = client;
    const kubelet = opts.kubelet ? await FakeKubelet.start(client, NAMESPACE) : undefined;
    parts.kubelet = kubelet;
    parts.operator = await runOperator({
      kubeconfig: controlPlane.kubeconfigPath,
      namespace: NAMESPACE,
      http: { host: '127.0.0.1', port: 0 },
      log: pino({ level: process.env.KUBELUSTRE_TEST_LOG ?? 'silent' }),
      timing: TEST_TIMING,
      leaderElection: { leaseDurationS: 5, retryPeriodMs: 200 },
      ...(kubelet && {
        mgsAddressOverride: (fs: LustreFileSystem) => kubelet.mgsAddressOf(fs.metadata.name),
      }),
    });
  } catch (e) {
    await stopParts(parts);
    throw e;
  }
  const fixture = parts as Omit<OperatorFixture, typeof Symbol.asyncDispose>;
  return { ...fixture, [Symbol.asyncDispose]: () => stopParts(parts) };
}

async function stopParts(parts: Partial<OperatorFixture>): Promise<void> {
  await parts.operator?.stop();
  await parts.kubelet?.[Symbol.asyncDispose]();
  await parts.controlPlane?.[Symbol.asyncDispose]();
}

/** Polls `probe` until it returns a value other than undefined; fails naming `what` after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (e) {
      lastError = e;
    }
    await new Promise((r) => setTimeout(r, WAIT_POLL_MS));
  }
  const why = lastError === undefined ? '' : ` (last error: ${(lastError as Error).message})`;
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
}
