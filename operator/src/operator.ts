import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { KubeConfig } from '@kubernetes/client-node';
import type { FastifyInstance } from 'fastify';
import { type Logger, pino } from 'pino';
import { Registry } from 'prom-client';
import { type BuildContext, DEFAULT_BUILD_CONTEXT, mgsAddress } from './builders/names.ts';
import { buildHttpServer, listenHttp, type Readiness } from './controller/http.ts';
import { LeaderElector } from './controller/leader-election.ts';
import { Manager } from './controller/manager.ts';
import { OperatorMetrics } from './controller/metrics.ts';
import { KubeClient } from './k8s/client.ts';
import { EventRecorder } from './k8s/events.ts';
import type { LustreFileSystem } from './k8s/objects.ts';
import { KubeRest } from './k8s/rest.ts';
import { MgsConnections } from './mgs/mgs-connections.ts';
import { DEFAULT_TIMING, type OperatorContext, type Timing } from './reconcilers/context.ts';
import { FileSystemReconciler } from './reconcilers/filesystem.ts';
import { LayoutPolicyReconciler } from './reconcilers/layout-policy.ts';
import { OstPoolReconciler } from './reconcilers/ost-pool.ts';
import { PccClassReconciler } from './reconcilers/pcc-class.ts';

export interface OperatorOptions {
  /** A kubeconfig file; omitted: in-cluster config, else $KUBECONFIG or ~/.kube/config. */
  kubeconfig?: string;
  /** The operator's namespace: its leader Lease and the PCCClass ConfigMaps. */
  namespace?: string;
  /** This instance's name in the Lease; default hostname plus a random suffix. */
  identity?: string;
  /** Serve /healthz, /readyz and /metrics here; omitted: no HTTP. */
  http?: { host: string; port: number };
  log?: Logger;
  registry?: Registry;
  build?: Partial<BuildContext>;
  /**
   * Where to dial a filesystem's MGS instead of its Service's DNS name (undefined: the DNS name). For
   * an operator outside the cluster, where that name does not resolve: tests, which run target
   * processes on 127.0.0.1, and a developer's operator reaching the MGS through a port-forward.
   */
  mgsAddressOverride?: (fs: LustreFileSystem) => string | undefined;
  timing?: Partial<Timing>;
  leaderElection?: { leaseName?: string; leaseDurationS?: number; retryPeriodMs?: number };
  workers?: number;
}

export interface RunningOperator extends AsyncDisposable {
  /** The bound HTTP port, when serving HTTP. */
  httpPort: number | undefined;
  readonly isLeader: boolean;
  /**
   * Resolves when the operator stopped leading: undefined after `stop()`, else why (it lost its lease,
   * or its caches could not be filled).
   */
  stopped: Promise<string | undefined>;
  stop(): Promise<void>;
}

const LEASE_NAME_DEFAULT = 'kubelustre-operator';
const NAMESPACE_DEFAULT = 'kubelustre-system';

/**
 * Starts the operator: HTTP first (so probes answer while it waits), then the leader election, and
 * once leading, the caches and the controllers. Standby instances stay ready: they are healthy, just
 * not leading.
 */
export async function runOperator(opts: OperatorOptions = {}): Promise<RunningOperator> {
  const log = opts.log ?? pino({ name: 'kubelustre-operator' });
  const kc = loadKubeConfig(opts.kubeconfig);
  const client = new KubeClient(new KubeRest(kc));
  const registry = opts.registry ?? new Registry();
  const metrics = new OperatorMetrics(registry);
  const namespace = opts.namespace ?? process.env.POD_NAMESPACE ?? NAMESPACE_DEFAULT;
  const identity = opts.identity ?? `${hostname()}_${randomUUID().slice(0, 8)}`;
  const manager = new Manager(kc, client, log);
  const mgs = new MgsConnections(log);
  const ctx = operatorContext(opts, { client, manager, mgs, namespace, identity, log });
  const elector = new LeaderElector({
    client,
    namespace,
    identity,
    log,
    leaseName: opts.leaderElection?.leaseName ?? LEASE_NAME_DEFAULT,
    ...leaseTiming(opts),
  });
  const readiness = (): Readiness => {
    if (!elector.isLeader) return { ready: true, detail: 'standing by for the leader lease' };
    return manager.synced
      ? { ready: true, detail: 'leading' }
      : { ready: false, reason: 'filling the caches' };
  };
  let http: FastifyInstance | undefined;
  let httpPort: number | undefined;
  if (opts.http) {
    http = buildHttpServer(registry, readiness);
    httpPort = await listenHttp(http, opts.http.host, opts.http.port);
    log.info({ port: httpPort }, `Opened /healthz, /readyz and /metrics on ${opts.http.host}:${httpPort}`);
  }
  const stopping = new AbortController();
  const stopped = lead({
    elector,
    manager,
    ctx,
    metrics,
    signal: stopping.signal,
    workers: opts.workers,
    log,
  });
  const stop = async () => {
    stopping.abort();
    await stopped;
    await manager.stop();
    mgs.closeAll();
    await elector.release();
    metrics.leader.set(0);
    await http?.close();
  };
  return {
    httpPort,
    get isLeader() {
      return elector.isLeader;
    },
    stopped,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

interface LeadArgs {
  elector: LeaderElector;
  manager: Manager;
  ctx: OperatorContext;
  metrics: OperatorMetrics;
  signal: AbortSignal;
  workers: number | undefined;
  log: Logger;
}

/** Waits for the lease, runs the controllers while holding it; why it stopped, if not asked to. */
async function lead(a: LeadArgs): Promise<string | undefined> {
  if (!(await a.elector.acquire(a.signal))) return undefined;
  a.metrics.leader.set(1);
  const reconcilers = {
    fileSystems: new FileSystemReconciler(a.ctx),
    pools: new OstPoolReconciler(a.ctx),
    policies: new LayoutPolicyReconciler(a.ctx),
    pccClasses: new PccClassReconciler(a.ctx),
  };
  try {
    await a.manager.start(reconcilers, a.metrics, a.signal, a.workers);
  } catch (e) {
    a.log.error({ err: e }, 'Failed to start the controllers');
    a.metrics.leader.set(0);
    return `failed to start the controllers: ${(e as Error).message}`;
  }
  const lost = await a.elector.keepRenewing(a.signal);
  if (lost !== undefined) {
    a.log.error({}, `Stopped leading: ${lost}`);
    a.metrics.leader.set(0);
    await a.manager.stop();
  }
  return lost;
}

function operatorContext(
  opts: OperatorOptions,
  parts: {
    client: KubeClient;
    manager: Manager;
    mgs: MgsConnections;
    namespace: string;
    identity: string;
    log: Logger;
  },
): OperatorContext {
  const build = { ...DEFAULT_BUILD_CONTEXT, ...opts.build };
  return {
    client: parts.client,
    caches: parts.manager.caches,
    events: new EventRecorder(parts.client, parts.identity, parts.log),
    mgs: parts.mgs,
    build,
    namespace: parts.namespace,
    mgsAddressOf: (fs) => opts.mgsAddressOverride?.(fs) ?? mgsAddress(fs, build),
    timing: { ...DEFAULT_TIMING, ...opts.timing },
    now: () => new Date(),
  };
}

function leaseTiming(opts: OperatorOptions): { leaseDurationS?: number; retryPeriodMs?: number } {
  const le = opts.leaderElection ?? {};
  return {
    ...(le.leaseDurationS !== undefined && { leaseDurationS: le.leaseDurationS }),
    ...(le.retryPeriodMs !== undefined && { retryPeriodMs: le.retryPeriodMs }),
  };
}

function loadKubeConfig(path: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  if (path !== undefined) kc.loadFromFile(path);
  else kc.loadFromDefault();
  return kc;
}
