import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePorts } from '@kubelustre/protocol/free-ports.ts';
import { LABELS, type Role } from '../builders/names.ts';
import type { KubeClient } from '../k8s/client.ts';
import type { Secret, StatefulSet } from '../k8s/objects.ts';
import { Resources, resourcePath } from '../k8s/resources.ts';
import { ContentType } from '../k8s/rest.ts';

/**
 * Plays the kubelet and the StatefulSet controller for one namespace of a control plane that has
 * neither: for each of our StatefulSets it runs the pods' `kubelustre-target` processes on 127.0.0.1
 * (the args the operator wrote, with loopback addresses and temp paths), stops them when the
 * StatefulSet shrinks or goes, and writes the StatefulSet's status as the controller would. Pod objects
 * are never created. The MGS's address is handed to the operator (`mgsAddressOf`), because the
 * Service DNS name it would dial resolves only inside a cluster, and Endpoints refuse loopback IPs.
 */

const TARGET_MAIN = fileURLToPath(import.meta.resolve('@kubelustre/target-server/main.ts'));
const SYNC_INTERVAL_MS = 200;
const STOP_TIMEOUT_MS = 5000;
const PROBE_TIMEOUT_MS = 1000;
/** Faster than the default 2 s, so capacity reaches the MGS quickly. */
const REPORT_INTERVAL_MS = 500;

interface Pod {
  child: ChildProcess;
  listen: string;
  httpPort: number;
}

export class FakeKubelet implements AsyncDisposable {
  readonly #client: KubeClient;
  readonly #namespace: string;
  readonly #dir: string;
  readonly #pods = new Map<string, Pod>();
  readonly #stopping = new AbortController();
  #loop: Promise<void> = Promise.resolve();
  /** Failures of the sync loop, for a test to show when a filesystem never gets ready. */
  readonly errors: string[] = [];

  private constructor(client: KubeClient, namespace: string, dir: string) {
    this.#client = client;
    this.#namespace = namespace;
    this.#dir = dir;
  }

  static async start(client: KubeClient, namespace: string): Promise<FakeKubelet> {
    const kubelet = new FakeKubelet(
      client,
      namespace,
      await mkdtemp(join(tmpdir(), 'kubelustre-fake-kubelet-')),
    );
    kubelet.#loop = kubelet.#run();
    return kubelet;
  }

  /** The loopback address of filesystem `name`'s MGS process, once it runs: the operator's override. */
  mgsAddressOf(name: string): string | undefined {
    return this.#pods.get(`${name}-mgs-0`)?.listen;
  }

  /** Pids of the running target processes, by pod name. */
  pids(): Record<string, number> {
    return Object.fromEntries([...this.#pods].map(([name, pod]) => [name, pod.child.pid!]));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#stopping.abort();
    await this.#loop;
    await Promise.all([...this.#pods.keys()].map((name) => this.#stopPod(name)));
    await rm(this.#dir, { recursive: true, force: true });
  }

  async #run(): Promise<void> {
    while (!this.#stopping.signal.aborted) {
      try {
        await this.#sync();
      } catch (e) {
        this.errors.push((e as Error).message);
      }
      await new Promise((r) => setTimeout(r, SYNC_INTERVAL_MS));
    }
  }

  async #sync(): Promise<void> {
    const { items } = await this.#client.list<StatefulSet>(Resources.StatefulSet, {
      namespace: this.#namespace,
      labelSelector: `${LABELS.name}=kubelustre-target`,
    });
    const wanted = new Set<string>();
    // The MGS first: the others need its address.
    const byRole = (s: StatefulSet) => (s.metadata.labels?.[LABELS.component] === 'mgs' ? 0 : 1);
    for (const sts of [...items].sort((a, b) => byRole(a) - byRole(b))) {
      const replicas = sts.metadata.deletionTimestamp === undefined ? (sts.spec.replicas ?? 0) : 0;
      for (let i = 0; i < replicas; i++) wanted.add(`${sts.metadata.name}-${i}`);
      await this.#runPods(sts, replicas);
      await this.#writeStatus(sts, replicas);
    }
    for (const name of [...this.#pods.keys()]) if (!wanted.has(name)) await this.#stopPod(name);
  }

  async #runPods(sts: StatefulSet, replicas: number): Promise<void> {
    const fsName = sts.metadata.labels?.[LABELS.fileSystem] ?? '';
    const role = sts.metadata.labels?.[LABELS.component] as Role;
    const mgs = this.mgsAddressOf(fsName);
    if (role !== 'mgs' && mgs === undefined) return;
    for (let i = 0; i < replicas; i++) {
      const name = `${sts.metadata.name}-${i}`;
      const pod = this.#pods.get(name);
      // A process that exited is restarted, as the kubelet restarts a failed container.
      if (pod === undefined || pod.child.exitCode !== null)
        this.#pods.set(name, await this.#startPod(sts, name, i, mgs));
    }
  }

  async #startPod(sts: StatefulSet, name: string, ordinal: number, mgs: string | undefined): Promise<Pod> {
    const pod = (sts.spec as { template: { spec: PodSpec } }).template.spec;
    const keyFile = await this.#writeKey(pod, name);
    const dataDir = join(this.#dir, 'data', name);
    await mkdir(dataDir, { recursive: true });
    const [rpcPort, httpPort] = (await freePorts(2)) as [number, number];
    const listen = `127.0.0.1:${rpcPort}`;
    const local: Record<string, string | undefined> = {
      '--data': dataDir,
      '--listen': listen,
      '--http': `127.0.0.1:${httpPort}`,
      '--key-file': keyFile,
      '--mgs': mgs,
      '--advertise': undefined,
      '--index': String(ordinal),
    };
    const args = [TARGET_MAIN, ...rewriteArgs(pod.containers[0]!.args, local)];
    args.push('--report-interval-ms', String(REPORT_INTERVAL_MS), '--log-level', 'warn');
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] });
    return { child, listen, httpPort };
  }

  /** The Secret volume's key, as the kubelet would project it into the pod. */
  async #writeKey(pod: PodSpec, name: string): Promise<string> {
    const volume = pod.volumes.find((v) => v.secret !== undefined)!.secret!;
    const secret = await this.#client.get<Secret>(Resources.Secret, {
      namespace: this.#namespace,
      name: volume.secretName,
    });
    const data = secret?.data?.[volume.items[0]!.key];
    if (data === undefined) throw new Error(`pod ${name}: Secret ${volume.secretName} or its key is missing`);
    const path = join(this.#dir, `${name}.key`);
    await writeFile(path, Buffer.from(data, 'base64'), { mode: 0o600 });
    return path;
  }

  async #writeStatus(sts: StatefulSet, replicas: number): Promise<void> {
    let running = 0;
    let ready = 0;
    for (let i = 0; i < replicas; i++) {
      const pod = this.#pods.get(`${sts.metadata.name}-${i}`);
      if (pod === undefined || pod.child.exitCode !== null) continue;
      running++;
      if (await probeReady(pod.httpPort)) ready++;
    }
    const status = {
      observedGeneration: sts.metadata.generation,
      replicas: running,
      readyReplicas: ready,
      availableReplicas: ready,
      currentReplicas: running,
      updatedReplicas: running,
    };
    const s = sts.status ?? {};
    if (
      s.replicas === running &&
      (s.readyReplicas ?? 0) === ready &&
      s.observedGeneration === sts.metadata.generation
    )
      return;
    if (sts.metadata.deletionTimestamp !== undefined) return;
    await this.#client.rest
      .request('PATCH', resourcePath(Resources.StatefulSet, this.#namespace, sts.metadata.name, 'status'), {
        body: { status },
        contentType: ContentType.mergePatch,
      })
      .catch(() => {}); // deleted meanwhile: nothing to report on
  }

  async #stopPod(name: string): Promise<void> {
    const pod = this.#pods.get(name);
    this.#pods.delete(name);
    if (pod === undefined || pod.child.exitCode !== null || pod.child.signalCode !== null) return;
    const exited = new Promise((r) => pod.child.once('exit', r));
    pod.child.kill('SIGTERM');
    const timer = setTimeout(() => pod.child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  }
}

interface PodSpec {
  containers: Array<{ args: string[] }>;
  volumes: Array<{ secret?: { secretName: string; items: Array<{ key: string }> } }>;
}

/** The container's args with each flag in `local` replaced by its value, or dropped when undefined. */
function rewriteArgs(args: readonly string[], local: Record<string, string | undefined>): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const flag = args[i]!;
    if (!Object.hasOwn(local, flag)) {
      out.push(flag);
      continue;
    }
    i++; // the flag's value in the pod
    if (local[flag] !== undefined) out.push(flag, local[flag]);
  }
  return out;
}

async function probeReady(port: number): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/readyz`, {
      signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
    });
    return res.ok;
  } catch {
    return false;
  }
}
