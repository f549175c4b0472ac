import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { newKeyHex } from '@kubelustre/protocol/wire/auth.ts';
import { GenericContainer, getContainerRuntimeClient, type StartedTestContainer, Wait } from 'testcontainers';

const run = promisify(execFile);

/** Ryuk (testcontainers' reaper) is an image to pull, and nothing may be pulled: the cluster cleans up. */
process.env.TESTCONTAINERS_RYUK_DISABLED = 'true';

const ENSURE_IMAGE = fileURLToPath(new URL('./ensure-image.sh', import.meta.url));
/** The image's unprivileged user (Dockerfile USER), who must own the targets' data and key. */
const IMAGE_UID = 65532;
const KEY_IN_CONTAINER = '/etc/kubelustre/fs.key';
const READY_TIMEOUT_MS = 60_000;
const OUTPUT_BYTES_MAX = 64 * 1024 * 1024;
const PORT_ATTEMPTS_MAX = 3;
/** On everything a cluster makes; the pid label tells a leftover (its test process gone) from a live one. */
const LABEL = 'kubelustre.test';
const LABEL_PID = 'kubelustre.test.pid';
const LABEL_BRIDGE = 'kubelustre.test.bridge';
const LABEL_DIR = 'kubelustre.test.dir';
const DIR_PREFIX = join(tmpdir(), 'kl-image-');

export type TargetRole = 'mgs' | 'mdt' | 'ost';

/** One target container; its ports are the same inside the pod and on the host's 127.0.0.1. */
export interface ImageTarget {
  role: TargetRole;
  index: number;
  /** `mgs`, `mdt0`, `ost1`: also the data directory's name and the container name's suffix. */
  id: string;
  rpcPort: number;
  httpPort: number;
  container?: StartedTestContainer;
}

/**
 * Builds (or finds cached) the image with test/image/ensure-image.sh, which also starts a Docker daemon
 * when none answers. Answers the image name the script prints last.
 */
export async function ensureImage(): Promise<string> {
  try {
    const { stdout } = await run('bash', [ENSURE_IMAGE], { maxBuffer: OUTPUT_BYTES_MAX });
    return stdout.trim().split('\n').at(-1)!;
  } catch (e) {
    const err = e as Error & { stderr?: string };
    throw new Error(`${ENSURE_IMAGE} failed: ${err.message}\n${(err.stderr ?? '').slice(-4000)}`);
  }
}

/**
 * A filesystem from the image: MGS, MDT and OSTs, one container each, on a private bridge network of
 * their own, their RPC and HTTP ports published on the host's 127.0.0.1 only.
 *
 * How targets find each other: the targets share one network namespace, that of a holder container
 * (as a Kubernetes pod's containers share the pause container's), and each listens on the same port
 * inside it as on the host. So an address `127.0.0.1:PORT` that a target advertises to the MGS means the
 * same target to the other targets (the MDT connects to the OSTs it learns from the MGS) and to a client
 * on the host, through the published port. A killed target restarts into the same namespace and ports.
 */
export class ImageCluster implements AsyncDisposable {
  readonly image: string;
  readonly fsName: string;
  readonly dir: string;
  readonly keyFile: string;
  readonly name: string;
  readonly targets: ImageTarget[];
  /** Docker's name for the bridge interface, for the no-forwarding rule. */
  readonly bridge: string;
  networkId: string | undefined;
  holder: StartedTestContainer | undefined;
  dropRuleAdded = false;

  constructor(image: string, o: { fsName: string; osts: number; ports: number[] }) {
    this.image = image;
    this.fsName = o.fsName;
    const suffix = Math.random().toString(16).slice(2, 8);
    this.name = `kl-image-test-${suffix}`;
    this.bridge = `klimg${suffix}`;
    this.dir = mkdtempSync(DIR_PREFIX);
    this.keyFile = join(this.dir, 'fs.key');
    const roles: Array<[TargetRole, number]> = [
      ['mgs', 0],
      ['mdt', 0],
      ...Array.from({ length: o.osts }, (_, i): [TargetRole, number] => ['ost', i]),
    ];
    this.targets = roles.map(([role, index], i) => ({
      role,
      index,
      id: role === 'mgs' ? 'mgs' : `${role}${index}`,
      rpcPort: o.ports[2 * i]!,
      httpPort: o.ports[2 * i + 1]!,
    }));
  }

  /** MGS_HOST:PORT as a client on the host reaches it. */
  get mgsAddress(): string {
    return `127.0.0.1:${this.target('mgs', 0).rpcPort}`;
  }

  get spec(): string {
    return `${this.mgsAddress}:/${this.fsName}`;
  }

  target(role: TargetRole, index: number): ImageTarget {
    const t = this.targets.find((x) => x.role === role && x.index === index);
    if (!t) throw new Error(`no ${role} ${index} in ${this.name}`);
    return t;
  }

  /** Labels for what this cluster makes. */
  get labels(): Record<string, string> {
    return { [LABEL]: 'image', [LABEL_PID]: String(process.pid) };
  }

  /** Network, holder, then each target in order, each ready before the next starts. */
  async up(): Promise<void> {
    await removeLeftovers();
    writeFileSync(this.keyFile, `${newKeyHex()}\n`, { mode: 0o400 });
    chownSync(this.keyFile, IMAGE_UID, IMAGE_UID);
    for (const t of this.targets) {
      mkdirSync(join(this.dir, t.id), { mode: 0o700 });
      chownSync(join(this.dir, t.id), IMAGE_UID, IMAGE_UID);
    }
    await this.#createNetwork();
    await this.#startHolder();
    for (const t of this.targets) await this.#startTarget(t);
  }

  /**
   * The container that holds the targets' network namespace and publishes their ports. Another process
   * may take a port between our pick and Docker's bind: then the cluster gets fresh ports and another try.
   */
  async #startHolder(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        this.holder = await new LoopbackPortsContainer(this.image)
          .withLoopbackPorts(this.targets.flatMap((t) => [t.rpcPort, t.httpPort]))
          .withName(`${this.name}-pod`)
          .withLabels(this.labels)
          .withNetworkMode(this.name)
          .withCommand(['sh', '-c', 'echo holding the network; exec sleep infinity'])
          .withWaitStrategy(Wait.forLogMessage('holding the network'))
          .start();
        return;
      } catch (e) {
        // Docker's error names no code: its text is all there is.
        const lostPort = /already allocated|address already in use/i.test((e as Error).message);
        if (!lostPort || attempt === PORT_ATTEMPTS_MAX) throw e;
        await run('docker', ['rm', '--force', `${this.name}-pod`]).catch(() => {});
        const ports = await freePorts(2 * this.targets.length);
        this.targets.forEach((t, i) => {
          t.rpcPort = ports[2 * i]!;
          t.httpPort = ports[2 * i + 1]!;
        });
      }
    }
  }

  /** A user-defined bridge: no masquerading, and nothing forwarded off it (only host and peers). */
  async #createNetwork(): Promise<void> {
    const client = await getContainerRuntimeClient();
    const network = await client.network.create({
      Name: this.name,
      Driver: 'bridge',
      CheckDuplicate: true,
      Options: {
        'com.docker.network.bridge.name': this.bridge,
        'com.docker.network.bridge.enable_ip_masquerade': 'false',
      },
      Labels: { ...this.labels, [LABEL_BRIDGE]: this.bridge, [LABEL_DIR]: this.dir },
    });
    this.networkId = network.id;
    // Docker still routes a bridge's traffic out of the machine (unmasqueraded); DOCKER-USER is the
    // chain it leaves to us for such rules. Published ports are unaffected (host to bridge is local).
    await run('iptables', ['-I', 'DOCKER-USER', ...dropRule(this.bridge)]);
    this.dropRuleAdded = true;
  }

  #command(t: ImageTarget): string[] {
    const args = ['kubelustre-target', '--role', t.role, '--index', String(t.index), '--data', '/data'];
    args.push('--listen', `0.0.0.0:${t.rpcPort}`, '--advertise', `127.0.0.1:${t.rpcPort}`);
    args.push('--http', `0.0.0.0:${t.httpPort}`, '--key-file', KEY_IN_CONTAINER);
    if (t.role === 'mgs') args.push('--fsname', this.fsName);
    else args.push('--mgs', this.mgsAddress);
    return args;
  }

  async #startTarget(t: ImageTarget): Promise<void> {
    t.container = await new GenericContainer(this.image)
      .withName(`${this.name}-${t.id}`)
      .withLabels(this.labels)
      .withNetworkMode(`container:${this.holder!.getId()}`)
      .withBindMounts([
        { source: join(this.dir, t.id), target: '/data', mode: 'rw' },
        { source: this.keyFile, target: KEY_IN_CONTAINER, mode: 'ro' },
      ])
      .withCommand(this.#command(t))
      .withWaitStrategy(Wait.forLogMessage(/"msg":"Started /))
      .withStartupTimeout(READY_TIMEOUT_MS)
      .start();
    await this.waitReady(t);
  }

  /** kill -9 of the target's process: `docker kill` sends SIGKILL. The container stays, stopped. */
  async kill(t: ImageTarget): Promise<void> {
    await run('docker', ['kill', '--signal', 'KILL', t.container!.getId()]);
  }

  /** Starts the killed container again (same data, namespace and ports) and waits until it is ready. */
  async restart(t: ImageTarget): Promise<void> {
    await run('docker', ['start', t.container!.getId()]);
    await this.waitReady(t);
  }

  /** Until the target's /readyz answers 200 on its published port. */
  async waitReady(t: ImageTarget): Promise<void> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (await httpOk(`http://127.0.0.1:${t.httpPort}/readyz`)) return;
      await sleep(100);
    }
    throw new Error(`${t.id} not ready after ${READY_TIMEOUT_MS} ms:\n${await this.logs(t)}`);
  }

  /** Until the MDT holds precreated objects on every OST, so files stripe over all of them. */
  async waitAllocatable(): Promise<void> {
    const osts = this.targets.filter((t) => t.role === 'ost').map((t) => t.index);
    const url = `http://127.0.0.1:${this.target('mdt', 0).httpPort}/metrics`;
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (Date.now() < deadline) {
      const text = await httpText(url);
      const ready = new Set<number>();
      for (const m of text.matchAll(/^kubelustre_mdt_precreated_objects\{ost="(\d+)"\} (\d+)/gm)) {
        if (Number(m[2]) > 0) ready.add(Number(m[1]));
      }
      if (osts.every((i) => ready.has(i))) return;
      await sleep(100);
    }
    throw new Error(`the MDT has not precreated objects on every OST after ${READY_TIMEOUT_MS} ms`);
  }

  /** The last lines a target's container logged, for failure messages. */
  async logs(t: ImageTarget, lines = 30): Promise<string> {
    if (!t.container) return '(not started)';
    try {
      const { stdout, stderr } = await run('docker', ['logs', '--tail', String(lines), t.container.getId()]);
      return stdout + stderr;
    } catch (e) {
      return `(no logs: ${(e as Error).message})`;
    }
  }

  /** Removes what `up` made, whatever state it got to: containers, the rule, the network, the data. */
  async [Symbol.asyncDispose](): Promise<void> {
    for (const t of [...this.targets].reverse()) {
      await t.container?.stop({ timeout: 0, remove: true }).catch(() => {});
    }
    await this.holder?.stop({ timeout: 0, remove: true }).catch(() => {});
    if (this.dropRuleAdded) await run('iptables', ['-D', 'DOCKER-USER', ...dropRule(this.bridge)]);
    if (this.networkId) {
      const client = await getContainerRuntimeClient();
      await client.network.remove(client.network.getById(this.networkId));
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The DOCKER-USER rule that keeps a bridge's traffic on it: nothing is forwarded to another interface. */
function dropRule(bridge: string): string[] {
  return ['-i', bridge, '!', '-o', bridge, '-j', 'DROP'];
}

/**
 * Removes what an earlier run left when its test process died before cleaning up (no reaper runs):
 * containers, networks, rules and data labelled with a pid that is no longer alive. Live runs are left
 * alone.
 */
async function removeLeftovers(): Promise<void> {
  const client = await getContainerRuntimeClient();
  const dead = (labels: Record<string, string> | undefined) => {
    const pid = Number(labels?.[LABEL_PID]);
    return labels?.[LABEL] === 'image' && pid > 0 && !existsSync(`/proc/${pid}`);
  };
  const { dockerode } = client.container;
  for (const c of await dockerode.listContainers({ all: true, filters: { label: [LABEL] } })) {
    if (dead(c.Labels)) await run('docker', ['rm', '--force', '--volumes', c.Id]);
  }
  const networks = await dockerode.listNetworks({ filters: { label: [LABEL] } });
  for (const n of networks) {
    if (!dead(n.Labels)) continue;
    const bridge = n.Labels![LABEL_BRIDGE];
    if (bridge) await run('iptables', ['-D', 'DOCKER-USER', ...dropRule(bridge)]).catch(() => {});
    await client.network.remove(client.network.getById(n.Id));
    const dir = n.Labels![LABEL_DIR];
    if (dir?.startsWith(DIR_PREFIX)) rmSync(dir, { recursive: true, force: true });
  }
}

/** A container whose ports are published on the host's 127.0.0.1 only, each on the same port number. */
class LoopbackPortsContainer extends GenericContainer {
  withLoopbackPorts(ports: number[]): this {
    for (const port of ports) {
      this.createOpts.ExposedPorts = { ...this.createOpts.ExposedPorts, [`${port}/tcp`]: {} };
      this.hostConfig.PortBindings = {
        ...this.hostConfig.PortBindings,
        [`${port}/tcp`]: [{ HostIp: '127.0.0.1', HostPort: String(port) }],
      };
    }
    return this;
  }
}

async function httpOk(url: string): Promise<boolean> {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(1000) })).ok;
  } catch {
    return false;
  }
}

async function httpText(url: string): Promise<string> {
  try {
    return await (await fetch(url, { signal: AbortSignal.timeout(1000) })).text();
  } catch {
    return '';
  }
}

/** Ports free on 127.0.0.1 now; the containers take them a moment later. */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<net.Server>((resolve) => {
          const s = net.createServer();
          s.listen(0, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
