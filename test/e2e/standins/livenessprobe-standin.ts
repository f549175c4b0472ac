#!/usr/bin/env node
/**
 * The e2e cluster's stand-in for kubernetes-csi/livenessprobe, which cannot be had on this machine (the Go
 * module proxy here refuses every version of it). Same flags as the chart passes to the real one, same
 * job: GET /healthz calls the CSI plugin's Probe and answers 200 when it is ready, 500 otherwise.
 */
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { IdentityClient } from './identity-client.ts';

const log = (message: string) => console.error(`${new Date().toISOString()} e2e-livenessprobe: ${message}`);

const { values } = parseArgs({
  options: {
    'csi-address': { type: 'string', default: '/run/csi/socket' },
    'health-port': { type: 'string', default: '9808' },
    'probe-timeout': { type: 'string', default: '1s' },
    v: { type: 'string' },
  },
});
const port = Number(values['health-port']);
const probeTimeoutMs = parseDurationMs(values['probe-timeout']);
if (!Number.isInteger(port) || port <= 0 || port > 65535 || probeTimeoutMs === undefined) {
  log('--health-port must be a port and --probe-timeout a duration such as 1s or 500ms');
  process.exit(2);
}

/** Go's duration syntax, as far as the flag is used: a number of h, m, s or ms. */
function parseDurationMs(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text);
  if (!m) return undefined;
  const unitMs = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
  return Number(m[1]) * unitMs;
}

const identity = new IdentityClient(values['csi-address']);
const server = createServer((req, res) => {
  if (req.url !== '/healthz') {
    res.writeHead(404).end();
    return;
  }
  identity.probe(probeTimeoutMs).then(
    (ready) => {
      if (ready) res.writeHead(200).end('ok\n');
      else {
        log('plugin is not ready');
        res.writeHead(500).end('plugin is not ready\n');
      }
    },
    (e: Error) => {
      log(`probe failed: ${e.message}`);
      res.writeHead(500).end(`probe failed: ${e.message}\n`);
    },
  );
});
server.listen(port, () => log(`serving /healthz on :${port} for the CSI plugin on ${values['csi-address']}`));
const stop = () => server.close(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
