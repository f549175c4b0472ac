import { pino } from 'pino';

/** CLI diagnostics go to stderr so command output stays clean; KUBELUSTRE_LOG=debug shows more. */
export const cliLogger = pino({ level: process.env.KUBELUSTRE_LOG ?? 'warn' }, pino.destination(2));
