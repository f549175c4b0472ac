import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** `kubelustre operator ...`: the operator in this process. */
export async function operatorCommand(argv: string[]): Promise<number> {
  const { operatorMain } = await import('@kubelustre/operator/main.ts');
  return operatorMain(argv);
}

/**
 * `kubelustre csi ...`: the CSI plugin. It owns its process (signals, exit), so it runs as a child with
 * our stdio, receiving the signals we get.
 */
export function csiCommand(argv: string[]): Promise<number> {
  const main = fileURLToPath(import.meta.resolve('@kubelustre/csi-driver/main.ts'));
  const child = spawn(process.execPath, [main, ...argv], { stdio: 'inherit' });
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => child.kill(signal));
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))));
}
