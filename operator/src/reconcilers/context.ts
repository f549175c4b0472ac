import type { BuildContext } from '../builders/names.ts';
import type { Informer } from '../controller/informer.ts';
import type { KubeClient } from '../k8s/client.ts';
import type { EventRecorder } from '../k8s/events.ts';
import type {
  KubeObject,
  LayoutPolicy,
  LustreFileSystem,
  OstPool,
  PccClass,
  StatefulSet,
} from '../k8s/objects.ts';
import type { MgsConnections } from '../mgs/mgs-connections.ts';

/** The informers' caches reconcilers read from. */
export interface Caches {
  fileSystems: Informer<LustreFileSystem>;
  pools: Informer<OstPool>;
  policies: Informer<LayoutPolicy>;
  pccClasses: Informer<PccClass>;
  statefulSets: Informer<StatefulSet>;
  services: Informer<KubeObject>;
  configMaps: Informer<KubeObject>;
  podDisruptionBudgets: Informer<KubeObject>;
}

/** How often reconcilers look again at what sends no event. */
export interface Timing {
  /** While targets start or the MGS does not answer yet. */
  waitForTargetsMs: number;
  /** A Ready filesystem's capacity, as its OSTs report it to the MGS. */
  refreshCapacityMs: number;
  /** A missing Secret (Secrets are not watched: the operator reads only the ones filesystems name). */
  waitForSecretMs: number;
  /** Teardown: a StatefulSet or its pods still going away. */
  teardownPollMs: number;
}

export const DEFAULT_TIMING: Timing = {
  waitForTargetsMs: 5000,
  refreshCapacityMs: 60_000,
  waitForSecretMs: 30_000,
  teardownPollMs: 2000,
};

/** Everything a reconciler uses; shared by all reconcilers of one operator instance, never per object. */
export interface OperatorContext {
  client: KubeClient;
  caches: Caches;
  events: EventRecorder;
  mgs: MgsConnections;
  build: BuildContext;
  /** The operator's own namespace: PCCClass ConfigMaps live here. */
  namespace: string;
  /**
   * The address the operator dials for `fs`'s MGS. In a cluster, the MGS Service's DNS name. Outside one
   * (tests, an operator run from a workstation) that name does not resolve, so this can be overridden.
   */
  mgsAddressOf(fs: LustreFileSystem): string;
  timing: Timing;
  now(): Date;
}
