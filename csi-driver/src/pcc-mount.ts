import { constants, readFileSync } from 'node:fs';
import { access, mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { METRICS_OPTION } from '@kubelustre/client/mount/metrics-options.ts';
import { parseMountOptions } from '@kubelustre/client/mount/options.ts';
import {
  PCC_CONFIG_KEY,
  PCC_RULES_KEY,
  type PublishedPccClass,
  pccConfigMapName,
} from '@kubelustre/operator/builders/pcc-config-map.ts';
import type { PccClassSpec } from '@kubelustre/operator/crds/pcc-class.ts';
import { isNotFound, KubeRest } from '@kubelustre/operator/k8s/rest.ts';
import { isKlError } from '@kubelustre/protocol/errors.ts';
import { KubeConfig } from '@kubernetes/client-node';
import { writeFileAtomic } from './atomic-file.ts';
import type { KubeGetter } from './filesystem-resolver.ts';
import { metricsSocketDir, metricsSocketPath } from './node-metrics.ts';

/** The volume context key (and StorageClass parameter) naming a PCCClass. */
export const PCC_CLASS_CONTEXT_KEY = 'pccClass';
/** Where a pod learns its namespace; the operator publishes PCCClass ConfigMaps in the release's. */
const SERVICE_ACCOUNT_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/** A PCCClass as published for this node: the class and its rules file text. */
export interface PccPublication {
  published: PublishedPccClass;
  rulesText: string;
}

/** Where the node plugin reads PCCClasses and its own Node's labels; a fake in unit tests. */
export interface PccSource {
  /** The class's ConfigMap; undefined when there is none. Throws when the API cannot be asked. */
  publication(className: string): Promise<PccPublication | undefined>;
  nodeLabels(nodeName: string): Promise<Record<string, string>>;
}

/** The mount options and files a filesystem mount with PCC uses. */
export interface PccMountPlan {
  className: string;
  /** `-o` options, the accepted ones only. */
  options: string[];
  /** Options the mount process refused (an older client): logged, left out. */
  dropped: string[];
  /** Where the mount process serves its metrics (`metrics=`), when it accepts that. */
  metricsSocket?: string;
}

export type PccDecision = { plan: PccMountPlan } | { skipped: string };

/**
 * ConfigMaps in `namespace` (the operator's), through the Kubernetes API; the client is made on first
 * use, so a node that never sees a pccClass volume needs no API access.
 */
export class KubePccSource implements PccSource {
  readonly #connect: () => KubeGetter;
  readonly #namespace: string;
  #api: KubeGetter | undefined;

  constructor(connect: () => KubeGetter, namespace: string) {
    this.#connect = connect;
    this.#namespace = namespace;
  }

  static fromKubeconfig(kubeconfig: string | undefined, namespace: string | undefined): KubePccSource {
    const connect = () => {
      const kc = new KubeConfig();
      if (kubeconfig !== undefined) kc.loadFromFile(kubeconfig);
      else kc.loadFromDefault();
      return new KubeRest(kc);
    };
    return new KubePccSource(connect, namespace ?? podNamespace());
  }

  async publication(className: string): Promise<PccPublication | undefined> {
    const path = `/api/v1/namespaces/${this.#namespace}/configmaps/${pccConfigMapName(className)}`;
    let cm: { data?: Record<string, string> };
    try {
      this.#api ??= this.#connect();
      cm = await this.#api.request('GET', path);
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
    const json = cm.data?.[PCC_CONFIG_KEY];
    if (json === undefined) return undefined;
    return { published: JSON.parse(json) as PublishedPccClass, rulesText: cm.data?.[PCC_RULES_KEY] ?? '' };
  }

  async nodeLabels(nodeName: string): Promise<Record<string, string>> {
    this.#api ??= this.#connect();
    const node = await this.#api.request<{ metadata?: { labels?: Record<string, string> } }>(
      'GET',
      `/api/v1/nodes/${nodeName}`,
    );
    return node.metadata?.labels ?? {};
  }
}

function podNamespace(): string {
  try {
    return readFileSync(SERVICE_ACCOUNT_NAMESPACE, 'utf8').trim() || 'default';
  } catch {
    return 'default';
  }
}

/** Whether `labels` satisfy a Kubernetes label selector (matchLabels and matchExpressions, all of them). */
export function selectorMatches(
  selector: PccClassSpec['nodeSelector'],
  labels: Record<string, string>,
): boolean {
  if (!selector) return true;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    const inValues = has && (e.values ?? []).includes(labels[e.key]!);
    const ok =
      e.operator === 'In'
        ? inValues
        : e.operator === 'NotIn'
          ? !inValues
          : e.operator === 'Exists'
            ? has
            : !has;
    if (!ok) return false;
  }
  return true;
}

/**
 * The PCC mount options for a published class (pure): the cache directory, the mode, the rules file
 * when the class has rules, the capacity and the eviction watermarks.
 */
export function pccMountOptions(
  p: PublishedPccClass,
  cacheDir: string,
  rulesFile: string | undefined,
): string[] {
  const options = [`pcc=${cacheDir}`, p.spec.mode === 'readwrite' ? 'pcc_rw' : 'pcc_ro'];
  if (rulesFile !== undefined) options.push(`pcc_rules_file=${rulesFile}`);
  options.push(`pcc_size=${p.mount.cacheBytes}`);
  options.push(`pcc_hwm=${p.mount.highWatermarkPercent}`, `pcc_lwm=${p.mount.lowWatermarkPercent}`);
  return options;
}

/**
 * Splits options into what this node's mount process accepts (it parses them with the same code) and
 * what it would refuse: `pcc=DIR` first, then each other option beside it. Refusing `pcc=` itself
 * leaves nothing.
 */
export function acceptedOptions(options: readonly string[]): { accepted: string[]; dropped: string[] } {
  const accepts = (list: readonly string[]) => {
    try {
      parseMountOptions(list.join(','));
      return true;
    } catch (e) {
      if (isKlError(e, 'EINVAL')) return false;
      throw e;
    }
  };
  const [first, ...rest] = options;
  if (first === undefined || !accepts([first])) return { accepted: [], dropped: [...options] };
  const accepted = [first];
  const dropped: string[] = [];
  for (const o of rest) (accepts([...accepted, o]) ? accepted : dropped).push(o);
  return { accepted, dropped };
}

export interface PlanInput {
  source: PccSource | undefined;
  className: string;
  nodeName: string;
  /** The filesystem mount's key: the cache and rules file are per mount (one cache directory each). */
  mountKey: string;
  /** The plugin's state directory, for the rules file. */
  stateDir: string;
}

/**
 * What a filesystem mount of volumes with `pccClass` needs, or why it goes without PCC: no API access,
 * no published class, a node the class does not select, a block-device cache (not supported yet), or a
 * cache directory that is not there or not writable. Never throws: PCC is an optimization, the volume
 * must mount regardless.
 */
export async function planPccMount(i: PlanInput): Promise<PccDecision> {
  const what = `PCCClass ${i.className}`;
  if (!i.source) return { skipped: `${what}: the plugin has no Kubernetes API access configured` };
  let pub: PccPublication | undefined;
  try {
    pub = await i.source.publication(i.className);
    if (!pub) return { skipped: `${what} is not published (no ConfigMap ${pccConfigMapName(i.className)})` };
    const spec = pub.published.spec;
    if (spec.nodeSelector && !selectorMatches(spec.nodeSelector, await i.source.nodeLabels(i.nodeName))) {
      return { skipped: `${what} does not select node ${i.nodeName}` };
    }
  } catch (e) {
    return { skipped: `${what} could not be read: ${(e as Error).message}` };
  }
  const hostPath = pub.published.spec.cache.hostPath;
  if (hostPath === undefined)
    return { skipped: `${what} has a block-device cache, which nodes do not set up yet` };
  const cacheDir = join(hostPath, i.mountKey);
  const unusable = await prepareCacheDir(hostPath, cacheDir);
  if (unusable) return { skipped: `${what}: cache directory ${cacheDir} is unusable: ${unusable}` };
  let rulesFile: string | undefined;
  if (pub.rulesText.trim() !== '') {
    rulesFile = join(i.stateDir, 'pcc', `${i.mountKey}.rules`);
    try {
      await mkdir(join(i.stateDir, 'pcc'), { recursive: true });
      await writeFileAtomic(rulesFile, pub.rulesText);
    } catch (e) {
      return { skipped: `${what}: its rules could not be written to ${rulesFile}: ${(e as Error).message}` };
    }
  }
  const metricsSocket = metricsSocketPath(i.stateDir, i.mountKey);
  const metricsOption = `${METRICS_OPTION}=${metricsSocket}`;
  const { accepted, dropped } = acceptedOptions([
    ...pccMountOptions(pub.published, cacheDir, rulesFile),
    metricsOption,
  ]);
  if (accepted.length === 0) return { skipped: `${what}: this node's mount does not accept pcc=` };
  const plan: PccMountPlan = { className: i.className, options: accepted, dropped };
  // Metrics are a convenience: a socket directory that cannot be made leaves the mount without them.
  const socketDir = await mkdir(metricsSocketDir(i.stateDir), { recursive: true, mode: 0o700 }).then(
    () => true,
    () => false,
  );
  if (accepted.includes(metricsOption) && socketDir) plan.metricsSocket = metricsSocket;
  else plan.options = accepted.filter((o) => o !== metricsOption);
  return { plan };
}

/** Makes `cacheDir` under `hostPath` (which must exist); answers why it cannot be used, if it cannot. */
async function prepareCacheDir(hostPath: string, cacheDir: string): Promise<string | undefined> {
  try {
    if (!(await stat(hostPath)).isDirectory()) return `${hostPath} is not a directory`;
    await mkdir(cacheDir, { recursive: true, mode: 0o700 });
    await access(cacheDir, constants.W_OK);
    return undefined;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? (e as Error).message;
  }
}
