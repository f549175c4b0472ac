#!/usr/bin/env node
/**
 * The mount process: `mount-main.ts MGS_HOST:PORT:/FSNAME MOUNTPOINT --key-file FILE [--readers N]
 * [-o OPTIONS]`. Serves the mount until it is unmounted (by anyone) or the process gets SIGTERM/SIGINT,
 * which unmounts gracefully. Prints `mounted` once the kernel's INIT is answered. The libuv threadpool is
 * sized before any module that could start async I/O is loaded (those are imported dynamically below).
 */
import { parseArgs } from 'node:util';
import { reserveThreadpool } from './threadpool.ts';

const USAGE =
  'usage: mount-main.ts MGS_HOST:PORT:/FSNAME MOUNTPOINT --key-file FILE [--readers N] [-o ro,...]';

interface MainArgs {
  spec: string;
  mountpoint: string;
  keyFile: string;
  readers: number;
  options: string | undefined;
}

async function main(a: MainArgs): Promise<number> {
  const { readKeyFile } = await import('@kubelustre/protocol/wire/auth.ts');
  const { pino } = await import('pino');
  const { mount } = await import('./mount-command.ts');
  const { parseMountOptions } = await import('./options.ts');
  const log = pino({ level: process.env.KUBELUSTRE_LOG ?? 'info' }, pino.destination(2));
  const { metrics, ...options } = parseMountOptions(a.options);
  const mounted = await mount(a.spec, a.mountpoint, {
    key: readKeyFile(a.keyFile),
    log,
    readers: a.readers,
    ...options,
  });
  const stop = () => void mounted.unmount();
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  const { serveMountMetrics } = await import('./metrics-server.ts');
  // A port that will not bind is logged there, and the mount carries on without metrics.
  const metricsServer = metrics && (await serveMountMetrics(metrics, () => mounted.pccMetrics(), log));
  console.log('mounted');
  await mounted.done;
  await metricsServer?.close();
  return 0;
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    'key-file': { type: 'string' },
    readers: { type: 'string', default: '4' },
    options: { type: 'string', short: 'o' },
  },
});
const [spec, mountpoint] = positionals;
const readers = Number(values.readers);
const keyFile = values['key-file'];
if (!spec || !mountpoint || !keyFile || !Number.isInteger(readers) || readers < 1) {
  console.error(USAGE);
  process.exit(2);
}
reserveThreadpool(readers);
main({ spec, mountpoint, keyFile, readers, options: values.options }).then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`kubelustre mount: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  },
);
