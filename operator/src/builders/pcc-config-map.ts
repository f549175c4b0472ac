import type { PccClassSpec } from '../crds/pcc-class.ts';
import type { PccClass } from '../k8s/objects.ts';
import type { ConfigMap } from './config-map.ts';
import { LABELS, MANAGED_BY } from './names.ts';

/** The key under which the CSI node plugin finds the class. */
export const PCC_CONFIG_KEY = 'pccclass.json';
/** The autoAttach rules, one per line, in `lctl pcc add` syntax: what the mount's pcc_rules_file reads. */
export const PCC_RULES_KEY = 'autoattach.rules';
export const PCC_CLASS_LABEL = 'kubelustre.io/pccclass';
/** The schema's defaults, written out so the node plugin need not know them. */
export const DEFAULT_HIGH_WATERMARK_PERCENT = 90;
export const DEFAULT_LOW_WATERMARK_PERCENT = 75;

/** The name of the ConfigMap that publishes PCCClass `className`. */
export const pccConfigMapName = (className: string): string => `kubelustre-pcc-${className}`;

/**
 * What the node plugin mounts with, computed once here: the cache's capacity in bytes (from
 * `cache.size`), the eviction watermarks with their defaults, and whether rules exist.
 */
export interface PccMountSettings {
  cacheBytes: number;
  highWatermarkPercent: number;
  lowWatermarkPercent: number;
  autoAttachRules: number;
}

/** The JSON under PCC_CONFIG_KEY. */
export interface PublishedPccClass {
  name: string;
  generation: number;
  spec: PccClassSpec;
  mount: PccMountSettings;
}

/**
 * A PCCClass as the CSI node plugin reads it: a ConfigMap in the operator's namespace, which the
 * plugin's DaemonSet can read without rights on our CRDs. `generation` lets a node tell which version
 * of the class it attached. Throws (EINVAL-like Error) on a class the mount could not use; the
 * reconciler checks `pccClassProblem` first.
 */
export function pccConfigMap(pcc: PccClass, namespace: string): ConfigMap {
  const rules = autoAttachRules(pcc.spec);
  const published: PublishedPccClass = {
    name: pcc.metadata.name,
    generation: pcc.metadata.generation ?? 0,
    spec: pcc.spec,
    mount: {
      cacheBytes: quantityBytes(pcc.spec.cache.size),
      highWatermarkPercent: pcc.spec.eviction?.highWatermarkPercent ?? DEFAULT_HIGH_WATERMARK_PERCENT,
      lowWatermarkPercent: pcc.spec.eviction?.lowWatermarkPercent ?? DEFAULT_LOW_WATERMARK_PERCENT,
      autoAttachRules: rules.length,
    },
  };
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: pccConfigMapName(pcc.metadata.name),
      namespace,
      labels: {
        [LABELS.partOf]: 'kubelustre',
        [LABELS.managedBy]: MANAGED_BY,
        [PCC_CLASS_LABEL]: pcc.metadata.name,
      },
      ownerReferences: [
        {
          apiVersion: pcc.apiVersion,
          kind: pcc.kind,
          name: pcc.metadata.name,
          uid: pcc.metadata.uid ?? '',
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    data: {
      [PCC_CONFIG_KEY]: `${JSON.stringify(published, null, 2)}\n`,
      [PCC_RULES_KEY]: rules.map((r) => `${r}\n`).join(''),
    },
  };
}

/** Characters that would break a `{...}` value list of the rule syntax. */
const UNSAFE_PATTERN = /[\s{}&,]/;

/** Why the class cannot be published for mounts (a message for its Ready condition); undefined: it can. */
export function pccClassProblem(spec: PccClassSpec): string | undefined {
  for (const [i, rule] of (spec.autoAttach ?? []).entries()) {
    const bad = rule.fileNames?.find((p) => UNSAFE_PATTERN.test(p));
    if (bad !== undefined) {
      return `autoAttach[${i}].fileNames has "${bad}": patterns may not hold spaces or any of { } & ,`;
    }
  }
  if (!Number.isFinite(quantityBytes(spec.cache.size)))
    return `cache.size "${spec.cache.size}" is not a size`;
  return undefined;
}

/**
 * Each autoAttach rule in Lustre's `lctl pcc add` syntax: its lists joined by `&` (all must match),
 * each list's values in braces (any may match), e.g. `fname={*.h5 *.nc}&uid={1000}`. A file is attached
 * when any rule (line) matches.
 */
export function autoAttachRules(spec: PccClassSpec): string[] {
  return (spec.autoAttach ?? []).map((rule) => {
    const parts: string[] = [];
    const list = (name: string, values: ReadonlyArray<string | number> | undefined) => {
      if (values && values.length > 0) parts.push(`${name}={${values.join(' ')}}`);
    };
    list('fname', rule.fileNames);
    list('uid', rule.uids);
    list('gid', rule.gids);
    list('projid', rule.projids);
    return parts.join('&');
  });
}

const SUFFIX_BYTES: Record<string, number> = {
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** Bytes of a Kubernetes quantity (`500Gi`, `1.5T`, `1e9`), rounded down; NaN if it is none. */
export function quantityBytes(q: string): number {
  const m = /^\+?(\d+(?:\.\d*)?|\.\d+)(?:([kMGTPE]i?|Ki)|[eE]([+-]?\d+))?$/.exec(q.trim());
  if (!m) return Number.NaN;
  const value = Number(m[1]);
  if (m[3] !== undefined) return Math.floor(value * 10 ** Number(m[3]));
  const unit = SUFFIX_BYTES[m[2] ?? ''];
  return unit === undefined ? Number.NaN : Math.floor(value * unit);
}
