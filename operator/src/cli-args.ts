import { parseArgs } from 'node:util';
import { parseHostPort, UsageError } from '@kubelustre/target-server/server/cli-args.ts';
import type { OperatorOptions } from './operator.ts';

export const USAGE = `Usage: kubelustre operator [options]

  --kubeconfig FILE             cluster to manage (default: in-cluster, else $KUBECONFIG or ~/.kube/config)
  --namespace NS                the operator's namespace: its leader Lease and PCCClass ConfigMaps
                                (default: $POD_NAMESPACE, else kubelustre-system)
  --http HOST:PORT              serve /healthz, /readyz and /metrics (default: 0.0.0.0:8081)
  --log-level LEVEL             fatal, error, warn, info, debug or trace (default: info)
  --target-image IMAGE          image of filesystems that name none (default: this operator's version)
  --cluster-domain DOMAIN       the cluster's DNS domain (default: cluster.local)
  --mgs-address NS/NAME=HOST:PORT
                                dial filesystem NS/NAME's MGS here instead of its Service's DNS name,
                                for an operator outside the cluster (e.g. through kubectl port-forward);
                                repeatable
`;

export interface OperatorArgs {
  options: OperatorOptions;
  logLevel: string;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'];

/** Parses `kubelustre operator` arguments; throws UsageError saying what is wrong; undefined: --help. */
export function parseOperatorArgs(argv: string[]): OperatorArgs | undefined {
  let values: ReturnType<typeof parse>['values'];
  try {
    values = parse(argv).values;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (values.help) return undefined;
  const logLevel = values['log-level'] ?? 'info';
  if (!LOG_LEVELS.includes(logLevel))
    throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}`);
  const http = parseHostPort('--http', values.http ?? '0.0.0.0:8081', 0);
  const options: OperatorOptions = { http };
  if (values.kubeconfig !== undefined) options.kubeconfig = values.kubeconfig;
  if (values.namespace !== undefined) options.namespace = values.namespace;
  const build: OperatorOptions['build'] = {};
  if (values['target-image'] !== undefined) build.defaultImage = values['target-image'];
  if (values['cluster-domain'] !== undefined) build.clusterDomain = values['cluster-domain'];
  options.build = build;
  const overrides = parseMgsAddresses(values['mgs-address'] ?? []);
  if (overrides.size > 0) {
    options.mgsAddressOverride = (fs) => overrides.get(`${fs.metadata.namespace}/${fs.metadata.name}`);
  }
  return { options, logLevel };
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      kubeconfig: { type: 'string' },
      namespace: { type: 'string' },
      http: { type: 'string' },
      'log-level': { type: 'string' },
      'target-image': { type: 'string' },
      'cluster-domain': { type: 'string' },
      'mgs-address': { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

function parseMgsAddresses(values: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const value of values) {
    const m = /^([a-z0-9-]+)\/([a-z0-9.-]+)=(.+)$/.exec(value);
    if (!m) throw new UsageError(`--mgs-address "${value}" is not NAMESPACE/NAME=HOST:PORT`);
    parseHostPort('--mgs-address', m[3]!, 1);
    out.set(`${m[1]}/${m[2]}`, m[3]!);
  }
  return out;
}
