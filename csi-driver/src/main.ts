#!/usr/bin/env node
/**
 * The kubelustre CSI plugin:
 *   main.ts --mode controller|node|all --endpoint unix:///csi/csi.sock --node-id NAME
 *           [--state-dir DIR] [--key-file FILE] [--kubeconfig FILE] [--mgs-address NS/NAME=HOST:PORT]...
 *           [--pcc-namespace NS] [--metrics-address HOST:PORT]
 * Runs until SIGTERM or SIGINT, then stops taking calls, lets running ones finish and exits. Filesystem
 * mounts made in node mode belong to their own processes and stay. --kubeconfig and --mgs-address serve
 * StorageClasses that name a LustreFileSystem: the API server to read it from (default: in-cluster, else
 * $KUBECONFIG or ~/.kube/config), and where its MGS answers when its Service's DNS name does not resolve
 * here (a controller outside the cluster); --mgs-address is repeatable. --pcc-namespace: where the
 * operator publishes PCCClass ConfigMaps, which the node plugin reads for volumes with a `pccClass`
 * (default: the plugin pod's own namespace). --metrics-address: serve Prometheus /metrics there (no
 * authentication): the plugin's own metrics and, in node mode, the PCC metrics of every filesystem mount
 * it made, labelled by mount and PCCClass (node-metrics.ts); off by default.
 */
import { parseArgs } from 'node:util';
import { parseMetricsAddress, type TcpMetricsAddress } from '@kubelustre/client/mount/metrics-options.ts';
import { pino } from 'pino';
import { parseMgsAddresses } from './filesystem-resolver.ts';
import { type PluginMode, startPlugin } from './plugin.ts';

const USAGE =
  'usage: main.ts --mode controller|node|all --endpoint unix:///PATH.sock --node-id NAME [--state-dir DIR]' +
  ' [--key-file FILE] [--kubeconfig FILE] [--mgs-address NS/NAME=HOST:PORT]... [--pcc-namespace NS]' +
  ' [--metrics-address HOST:PORT]';
const DEFAULT_STATE_DIR = '/var/lib/kubelet/plugins/csi.kubelustre.io';

function parseCommandLine() {
  try {
    const { values } = parseArgs({
      options: {
        mode: { type: 'string' },
        endpoint: { type: 'string' },
        'node-id': { type: 'string' },
        'state-dir': { type: 'string', default: DEFAULT_STATE_DIR },
        'key-file': { type: 'string' },
        kubeconfig: { type: 'string' },
        'mgs-address': { type: 'string', multiple: true },
        'pcc-namespace': { type: 'string' },
        'metrics-address': { type: 'string' },
      },
    });
    const metrics = values['metrics-address'];
    return {
      ...values,
      mgsAddresses: parseMgsAddresses(values['mgs-address'] ?? []),
      metricsAddress: metrics === undefined ? undefined : parseListenAddress(metrics),
    };
  } catch (e) {
    console.error(`kubelustre csi: ${(e as Error).message}\n${USAGE}`);
    process.exit(2);
  }
}

function parseListenAddress(value: string): TcpMetricsAddress {
  const fail = () => new Error(`--metrics-address ${value}: HOST:PORT, e.g. 0.0.0.0:9809`);
  if (value.startsWith('/')) throw fail();
  try {
    return parseMetricsAddress(value) as TcpMetricsAddress;
  } catch {
    throw fail();
  }
}

const values = parseCommandLine();
const mode = values.mode as PluginMode | undefined;
if (!mode || !['controller', 'node', 'all'].includes(mode) || !values.endpoint || !values['node-id']) {
  console.error(USAGE);
  process.exit(2);
}

const log = pino({ level: process.env.KUBELUSTRE_LOG ?? 'info' }, pino.destination(2));
try {
  const plugin = await startPlugin({
    mode,
    endpoint: values.endpoint,
    nodeId: values['node-id'],
    stateDir: values['state-dir'],
    keyFile: values['key-file'],
    kubeconfig: values.kubeconfig,
    mgsAddresses: values.mgsAddresses,
    pccNamespace: values['pcc-namespace'],
    metricsAddress: values.metricsAddress,
    log,
  });
  const stop = (signal: string) => {
    log.info({ signal }, 'Stopping on signal');
    plugin.close().then(
      () => process.exit(0),
      (e: unknown) => {
        log.error({ err: (e as Error).message }, 'Stop failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
} catch (e) {
  log.error({ err: (e as Error).message, stack: (e as Error).stack }, 'CSI plugin failed to start');
  process.exit(1);
}
