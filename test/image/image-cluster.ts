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

/** The ports every target listens on inside its own container (Lustre's 988 for RPC). */
const RPC_PORT = 988;
const HTTP_PORT = 8080;

/** One target container: its own network namespace on the cluster's bridge, its ports published on the host. */
export interface ImageTarget {
  role: TargetRole;
  index: number;
  /** `mgs`, `mdt0`, `ost1`: the network alias, the data directory's name and the container name's suffix. */
  id: string;
  /** The host's 127.0.0.1 port published for the container's RPC port (988). */
  rpcPort: number;
  /** The host's 127.0.0.1 port published for the container's HTTP port. */
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
 * How targets find each other: each container has its own network namespace and a network alias (`mgs`,
 * `mdt0`, `ost0`, ...), listens on port 988, and advertises two addresses, tried in order (a Lustre NID
 * list): `ALIAS:988`, which Docker's DNS resolves on the bridge, and `127.0.0.1:PUBLISHED`. The MDT and
 * OSTs reach each other and the MGS (`--mgs mgs:988`) by the first; a client on the host, where the
 * alias does not resolve, falls through to the second. Docker keeps explicit host port bindings, so a
 * killed target restarts with the same published ports, and its alias follows its (maybe new) address.
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
  dropRuleAdded = false;

  constructor(image: string, o: { fsName: string; osts: number }) {
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
    // Ports are chosen when each container starts.
    this.targets = roles.map(([role, index]) => ({
      role,
      index,
      id: role === 'mgs' ? 'mgs' : `${role}${index}`,
      rpcPort: 0,
      httpPort: 0,
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

  /** Network, then each target in order, each ready before the next starts. */
  async up(): Promise<void> {
    await removeLeftovers();
    writeFileSync(this.keyFile, `${newKeyHex()}\n`, { mode: 0o400 });
    chownSync(this.keyFile, IMAGE_UID, IMAGE_UID);
    for (const t of this.targets) {
      mkdirSync(join(this.dir, t.id), { mode: 0o700 });
      chownSync(join(this.dir, t.id), IMAGE_UID, IMAGE_UID);
    }
    await this.#createNetwork();
    for (const t of this.targets) await this.#startTarget(t);
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
    args.push('--listen', `0.0.0.0:${RPC_PORT}`, '--advertise', `${t.id}:${RPC_PORT},127.0.0.1:${t.rpcPort}`);
    args.push('--http', `0.0.0.0:${HTTP_PORT}`, '--key-file', KEY_IN_CONTAINER);
    if (t.role === 'mgs') args.push('--fsname', this.fsName);
    else args.push('--mgs', `mgs:${RPC_PORT}`);
    return args;
  }

  /**
   * Starts the target's container on fresh host ports. Another process may take a port between our pick
   * and Docker's bind: then the container gets fresh ports and another try.
   */
  async #startTarget(t: ImageTarget): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const ports = await freePorts(2);
      t.rpcPort = ports[0]!;
      t.httpPort = ports[1]!;
      try {
        t.container = await this.#container(t).start();
        break;
      } catch (e) {
        // Docker's error names no code: its text is all there is.
        const lostPort = /already allocated|address already in use/i.test((e as Error).message);
        if (!lostPort || attempt === PORT_ATTEMPTS_MAX) throw e;
        await run('docker', ['rm', '--force', `${this.name}-${t.id}`]).catch(() => {});
      }
    }
    await this.waitReady(t);
  }

  #container(t: ImageTarget): GenericContainer {
    return new BridgedContainer(this.image)
      .withBridge(this.name, t.id)
      .withLoopbackPorts([
        [RPC_PORT, t.rpcPort],
        [HTTP_PORT, t.httpPort],
      ])
      .withName(`${this.name}-${t.id}`)
      .withLabels(this.labels)
      .withBindMounts([
        { source: join(this.dir, t.id), target: '/data', mode: 'rw' },
        { source: this.keyFile, target: KEY_IN_CONTAINER, mode: 'ro' },
      ])
      .withCommand(this.#command(t))
      .withWaitStrategy(Wait.forLogMessage(/"msg":"Started /))
      .withStartupTimeout(READY_TIMEOUT_MS);
  }

  /** kill -9 of the target's process: `docker kill` sends SIGKILL. The container stays, stopped. */
  async kill(t: ImageTarget): Promise<void> {
    await run('docker', ['kill', '--signal', 'KILL', t.container!.getId()]);
  }

  /** Starts the killed container again (same data, alias and host ports) and waits until it is ready. */
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

  /** The target's IPv4 address on the cluster's bridge now (a restart may change it). */
  async bridgeAddress(t: ImageTarget): Promise<string> {
    const { stdout } = await run('docker', ['inspect', t.container!.getId()]);
    const [info] = JSON.parse(stdout) as Array<{
      NetworkSettings: { Networks: Record<string, { IPAddress: string }> };
    }>;
    const address = info?.NetworkSettings.Networks[this.name]?.IPAddress;
    if (!address) throw new Error(`${t.id} has no address on ${this.name}`);
    return address;
  }

  /**
   * Where the connections to the target's RPC port come from, as the target's own network namespace
   * sees them: the remote IPv4 addresses of its established TCP connections on port 988 (from the
   * container's /proc/net/tcp: the image has no `ss`).
   */
  async rpcPeers(t: ImageTarget): Promise<string[]> {
    const { stdout } = await run('docker', ['exec', t.container!.getId(), 'cat', '/proc/net/tcp']);
    return establishedPeers(stdout, RPC_PORT);
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
    if (this.dropRuleAdded) await run('iptables', ['-D', 'DOCKER-USER', ...dropRule(this.bridge)]);
    if (this.networkId) {
      const client = await getContainerRuntimeClient();
      await client.network.remove(client.network.getById(this.networkId));
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** TCP state ESTABLISHED in /proc/net/tcp. */
const TCP_ESTABLISHED = '01';

/**
 * The remote IPv4 addresses of the established connections on local port `port`, from the text of
 * /proc/net/tcp (`sl local_address rem_address st ...`, addresses as little-endian hex `0100007F:03DC`).
 */
function establishedPeers(procNetTcp: string, port: number): string[] {
  const peers: string[] = [];
  for (const line of procNetTcp.split('\n').slice(1)) {
    const [, local, remote, state] = line.trim().split(/\s+/);
    if (!local || !remote || state !== TCP_ESTABLISHED) continue;
    if (Number.parseInt(local.split(':')[1]!, 16) !== port) continue;
    const hex = remote.split(':')[0]!;
    peers.push([6, 4, 2, 0].map((i) => Number.parseInt(hex.slice(i, i + 2), 16)).join('.'));
  }
  return peers;
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

/**
 * A container on one user-defined network only, with an alias there, and ports published on the host's
 * 127.0.0.1 only. (testcontainers' withNetworkAliases would first put it on Docker's default bridge,
 * which masquerades and forwards off the machine.)
 */
class BridgedContainer extends GenericContainer {
  withBridge(network: string, alias: string): this {
    this.withNetworkMode(network);
    this.createOpts.NetworkingConfig = { EndpointsConfig: { [network]: { Aliases: [alias] } } };
    return this;
  }

  /** [container port, host port] pairs; Docker keeps such explicit bindings across a restart. */
  withLoopbackPorts(ports: Array<[number, number]>): this {
    for (const [port, hostPort] of ports) {
      this.createOpts.ExposedPorts = { ...this.createOpts.ExposedPorts, [`${port}/tcp`]: {} };
      this.hostConfig.PortBindings = {
        ...this.hostConfig.PortBindings,
        [`${port}/tcp`]: [{ HostIp: '127.0.0.1', HostPort: String(hostPort) }],
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

/**
 * Host ports the published ports are picked from: below Linux's ephemeral range (32768 up), so no
 * outgoing connection's local port lands on one while its container is down, and below Kubernetes'
 * NodePorts (30000 up), which another cluster on this machine may route.
 */
const HOST_PORT_MIN = 20_000;
const HOST_PORT_END = 30_000;
const PORT_PICKS_MAX = 100;

/** `n` distinct ports free on 127.0.0.1 now, from the range above; the containers take them a moment later. */
async function freePorts(n: number): Promise<number[]> {
  const ports: number[] = [];
  for (let pick = 0; ports.length < n; pick++) {
    if (pick === PORT_PICKS_MAX) throw new Error(`no ${n} free ports in ${PORT_PICKS_MAX} picks`);
    const port = HOST_PORT_MIN + Math.floor(Math.random() * (HOST_PORT_END - HOST_PORT_MIN));
    if (!ports.includes(port) && (await portFree(port))) ports.push(port);
  }
  return ports;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
