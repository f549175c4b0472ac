import { lstat, mkdir, unlink } from 'node:fs/promises';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import type { TcpMetricsAddress } from '@kubelustre/client/mount/metrics-options.ts';
import { type MetricsServer, startMetricsServer } from '@kubelustre/client/mount/metrics-server.ts';
import { KlError } from '@kubelustre/protocol/errors.ts';
import type { Logger } from '@kubelustre/protocol/log.ts';
import { ControllerServer } from './controller-server.ts';
import { controllerService, identityService, nodeService } from './csi-proto.ts';
import { FilesystemResolver } from './filesystem-resolver.ts';
import { FsConnections } from './fs-connections.ts';
import { DRIVER_NAME, identityHandlers } from './identity-server.ts';
import { mountEndpoints, NodeMetrics } from './node-metrics.ts';
import { NodeServer } from './node-server.ts';
import { NodeState } from './node-state.ts';
import { KubePccSource } from './pcc-mount.ts';
import { VolumeLocations } from './volume-locations.ts';

export type PluginMode = 'controller' | 'node' | 'all';

export interface PluginOptions {
  mode: PluginMode;
  /** `unix:///path/to/csi.sock`, as the CO and its sidecars name it. */
  endpoint: string;
  nodeId: string;
  stateDir: string;
  keyFile: string | undefined;
  /** The kubeconfig for reading LustreFileSystems; undefined: the default chain (in-cluster in a pod). */
  kubeconfig?: string | undefined;
  /** MGS addresses by LustreFileSystem `NAMESPACE/NAME`, for a controller outside the cluster's DNS. */
  mgsAddresses?: ReadonlyMap<string, string>;
  /** Where the operator publishes PCCClass ConfigMaps; undefined: this pod's namespace. */
  pccNamespace?: string | undefined;
  /** Where to serve Prometheus /metrics (node-metrics.ts); undefined: nowhere. */
  metricsAddress?: TcpMetricsAddress | undefined;
  log: Logger;
}

export interface RunningPlugin extends AsyncDisposable {
  socketPath: string;
  /** The port /metrics is served on (the one asked, or the kernel's choice for 0), if it is. */
  metricsPort: number | undefined;
  /** Stops taking calls, lets running ones finish (bounded), closes filesystem connections. */
  close(): Promise<void>;
}

const SHUTDOWN_GRACE_MS = 10_000;

/** Starts the gRPC server on the endpoint's socket with the services of `mode`. */
export async function startPlugin(o: PluginOptions): Promise<RunningPlugin> {
  const socketPath = socketPathOf(o.endpoint);
  await mkdir(o.stateDir, { recursive: true, mode: 0o700 });
  const log = o.log.child({ driver: DRIVER_NAME });
  const server = new Server();
  const controller = o.mode !== 'node';
  const node = o.mode !== 'controller';
  server.addService(identityService, identityHandlers({ controller, node }, log));
  const connections = new FsConnections(log);
  if (controller) {
    const locations = await VolumeLocations.load(o.stateDir);
    const resolver = FilesystemResolver.fromKubeconfig(o.kubeconfig, o.mgsAddresses ?? new Map());
    const service = new ControllerServer({ connections, locations, keyFile: o.keyFile, resolver });
    server.addService(controllerService, service.handlers(log));
  }
  let state: NodeState | undefined;
  if (node) {
    state = await NodeState.load(o.stateDir);
    const pcc = KubePccSource.fromKubeconfig(o.kubeconfig, o.pccNamespace);
    const service = await NodeServer.start(
      { nodeId: o.nodeId, connections, stateDir: o.stateDir, keyFile: o.keyFile, state, pcc },
      log,
    );
    server.addService(nodeService, service.handlers(log));
  }
  await removeStaleSocket(socketPath, log);
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`unix:${socketPath}`, ServerCredentials.createInsecure(), (e) =>
      e ? reject(e) : resolve(),
    ),
  );
  let metrics: MetricsServer | undefined;
  try {
    metrics = o.metricsAddress && (await serveMetrics(o.metricsAddress, o.stateDir, state, log));
  } catch (e) {
    server.forceShutdown();
    await connections.close();
    await unlink(socketPath).catch(() => undefined);
    throw e;
  }
  log.info({ mode: o.mode, socketPath, nodeId: o.nodeId }, 'Started CSI plugin');
  const close = async () => {
    await metrics?.close();
    await shutdown(server);
    await connections.close();
    await unlink(socketPath).catch(() => undefined);
    log.info({}, 'Stopped CSI plugin');
  };
  return { socketPath, metricsPort: metrics?.port, close, [Symbol.asyncDispose]: close };
}

/**
 * The plugin's /metrics: its own, and in node mode every filesystem mount's PCC metrics, found through
 * the node state (adopted mounts included) at each scrape. A port that will not bind fails the start.
 */
function serveMetrics(
  address: TcpMetricsAddress,
  stateDir: string,
  state: NodeState | undefined,
  log: Logger,
): Promise<MetricsServer> {
  const endpoints = () => (state ? mountEndpoints(state.data, stateDir) : []);
  return startMetricsServer(address, new NodeMetrics({ endpoints, log }), log);
}

function socketPathOf(endpoint: string): string {
  const m = /^unix:\/\/(\/.+)$/.exec(endpoint);
  if (!m) throw new KlError('EINVAL', `endpoint ${endpoint} is not unix:///ABSOLUTE/PATH`);
  return m[1]!;
}

/** A socket left by a plugin that died would make bind fail with EADDRINUSE; anything else is kept. */
async function removeStaleSocket(path: string, log: Logger): Promise<void> {
  const st = await lstat(path).catch(() => undefined);
  if (!st) return;
  if (!st.isSocket()) throw new KlError('EEXIST', `${path} exists and is not a socket`);
  await unlink(path);
  log.info({ path }, 'Removed stale socket');
}

async function shutdown(server: Server): Promise<void> {
  const timer = setTimeout(() => server.forceShutdown(), SHUTDOWN_GRACE_MS);
  await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  clearTimeout(timer);
}
