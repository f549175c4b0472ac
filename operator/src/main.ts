#!/usr/bin/env node
/**
 * The operator's process: `node operator/src/main.ts --kubeconfig F` (and `kubelustre operator`, which
 * calls `operatorMain`). Exits 0 on SIGTERM/SIGINT, 1 when it loses its leader lease or cannot start
 * its controllers (Kubernetes restarts it), 2 on a bad command line.
 */
import { UsageError } from '@kubelustre/target-server/server/cli-args.ts';
import { pino } from 'pino';
import { parseOperatorArgs, USAGE } from './cli-args.ts';
import { runOperator } from './operator.ts';

export async function operatorMain(argv: string[]): Promise<number> {
  let args: ReturnType<typeof parseOperatorArgs>;
  try {
    args = parseOperatorArgs(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`kubelustre operator: ${e.message}\n\n${USAGE}`);
    return 2;
  }
  if (args === undefined) {
    process.stdout.write(USAGE);
    return 0;
  }
  const log = pino(
    { name: 'kubelustre-operator', level: args.logLevel, timestamp: pino.stdTimeFunctions.isoTime },
    pino.destination({ dest: 1, sync: true }),
  );
  const operator = await runOperator({ ...args.options, log });
  const signalled = new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  const ended = await Promise.race([signalled, operator.stopped.then((lost) => ({ lost }))]);
  if (typeof ended === 'string') {
    log.info({ signal: ended }, 'Stopping the operator');
    await operator.stop();
    return 0;
  }
  await operator.stop();
  return ended.lost === undefined ? 0 : 1;
}

if (import.meta.main) process.exitCode = await operatorMain(process.argv.slice(2));
