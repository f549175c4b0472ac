#!/usr/bin/env node
import { KlError } from '@kubelustre/protocol/errors.ts';
import { ping } from '@kubelustre/protocol/messages/common.ts';
import { readKeyFile } from '@kubelustre/protocol/wire/auth.ts';
import { type ReplyCache, RpcServer } from '@kubelustre/protocol/wire/rpc-server.ts';
import type { FastifyInstance } from 'fastify';
import { type Logger, pino } from 'pino';
import { Registry } from 'prom-client';
import { parseTargetArgs, type TargetArgs, USAGE, UsageError } from './server/cli-args.ts';
import { buildHttpServer, listenHttp, type Readiness } from './server/http.ts';
import { TargetMetrics } from './server/metrics.ts';
import { type MgsLink, registerWithMgs } from './server/mgs-link.ts';
import type { RunningTarget, TargetContext } from './server/role.ts';
import { bindFsName, openTargetIdentity, type TargetIdentity } from './server/target-identity.ts';
import { targetLabel, targetName } from './server/target-name.ts';

/** In-flight requests get this long to finish when the target stops. */
const RPC_GRACE_MS = 2000;
/** A stop that takes longer than this (storage hung) ends the process anyway, with status 1. */
const SHUTDOWN_MS_MAX = 15_000;

/** A role's running target; one that answers resent mutations itself hands the RPC server its cache. */

/**
 * One target process. Parts appear as startup gets to them, and `stop()` closes whichever exist, so a
 * signal during startup (say, while waiting for the MGS) stops cleanly too.
 */
class TargetProcess {
  readonly args: TargetArgs;
  readonly log: Logger;
  readonly stopping = new AbortController();
  name: string;
  http: FastifyInstance | undefined;
  rpc: RpcServer | undefined;
  link: MgsLink | undefined;
  role: RunningTarget | undefined;
  rpcListening = false;
  /** Set when startup completed: registered (MDT, OST), role started, RPC listening. */
  started = false;
  /** What /readyz says until startup completed. */
  phase = 'starting';

  constructor(args: TargetArgs, log: Logger) {
    this.args = args;
    this.log = log;
    this.name = args.role === 'mgs' ? 'MGS' : targetLabel(args.role, args.index);
  }

  readiness(): Readiness {
    if (this.stopping.signal.aborted) return { ready: false, reason: 'stopping' };
    if (!this.role || !this.started) return { ready: false, reason: this.phase };
    return this.role.ready() ? { ready: true } : { ready: false, reason: `${this.name} is not ready yet` };
  }

  /** Stops accepting, lets requests finish, closes the role and HTTP, then exits. */
  async stop(startup: Promise<unknown>): Promise<never> {
    this.stopping.abort();
    const deadline = setTimeout(() => {
      this.log.error({ afterMs: SHUTDOWN_MS_MAX }, `Failed to stop ${this.name} in time; exiting`);
      process.exit(1);
    }, SHUTDOWN_MS_MAX);
    deadline.unref();
    await startup.catch(() => {});
    this.link?.close();
    await this.rpc?.close(RPC_GRACE_MS);
    await this.role?.close();
    await this.http?.close();
    this.log.info({}, `Stopped ${this.name}`);
    process.exit(0);
  }
}

async function start(p: TargetProcess): Promise<void> {
  const { args, log } = p;
  const key = readKeyFile(args.keyFile);
  const identity = await openTargetIdentity(args.dataDir, {
    role: args.role,
    index: args.index,
    ...(args.fsName !== undefined && { fsName: args.fsName }),
  });
  if (identity.fsName !== undefined) p.name = targetName(identity.fsName, args.role, args.index);
  const registry = new Registry();
  const metrics = new TargetMetrics(registry);
  if (args.http) await startHttp(p, registry);
  const rpc = createRpc(p, key, metrics);
  // Listen only once the role registered its handlers: a client reconnecting to a restarted target
  // must not reach it before (it would get ENOSYS instead of waiting). Port 0 (tests) is the exception:
  // its address is unknown until listening.
  const listen = args.listen;
  const advertise =
    args.advertise ?? (listen.port === 0 ? await listenRpc(p, rpc) : `${listen.host}:${listen.port}`);
  // A new MDT or OST learns its filesystem's name, which the role needs, from its first registration.
  if (args.role !== 'mgs' && identity.fsName === undefined) await joinFilesystem(p, key, identity, advertise);
  p.phase = `starting ${p.name}`;
  const ctx: TargetContext = {
    fsName: (args.fsName ?? p.link?.fsName ?? identity.fsName)!,
    index: args.index,
    dataDir: args.dataDir,
    advertise,
    ...(args.mgs !== undefined && { mgs: args.mgs }),
    key,
    log,
    registry,
    rpc,
  };
  const role = await startRole(args, ctx);
  p.role = role;
  if (!p.rpcListening) await listenRpc(p, rpc);
  if (args.role !== 'mgs' && !p.link) await joinFilesystem(p, key, identity, advertise);
  p.link?.startReporting(() => role.statfs());
  metrics.watch({ connections: () => rpc.connectionCount, statfs: () => role.statfs() });
  p.started = true;
  log.info({ advertise, uuid: identity.uuid }, `Started ${p.name}`);
}

/** Registers with the MGS and binds the data directory to the filesystem the MGS serves. */
async function joinFilesystem(
  p: TargetProcess,
  key: Buffer,
  identity: TargetIdentity,
  advertise: string,
): Promise<void> {
  const { args, log } = p;
  const role = args.role as 'mdt' | 'ost';
  p.phase = `registering with the MGS at ${args.mgs}`;
  p.link = await registerWithMgs({
    mgsAddress: args.mgs!,
    key,
    log,
    registration: { role, index: args.index, uuid: identity.uuid, address: advertise },
    reportIntervalMs: args.reportIntervalMs,
    signal: p.stopping.signal,
    onRejected: (err) => fail(log, `${p.name} was rejected by the MGS`, err),
  });
  await bindFsName(args.dataDir, identity, p.link.fsName);
  p.name = targetName(p.link.fsName, role, args.index);
}

async function startHttp(p: TargetProcess, registry: Registry): Promise<void> {
  const { host, port } = p.args.http!;
  p.http = buildHttpServer({ registry, readiness: () => p.readiness() });
  const bound = await listenHttp(p.http, host, port);
  p.log.info({ host, port: bound }, `Opened /healthz, /readyz and /metrics on ${host}:${bound}`);
}

/**
 * The RPC server, answering `ping`. Resent mutations are answered from the role's reply cache once the
 * role started (none can be resent before: no one reached the role yet).
 */
function createRpc(p: TargetProcess, key: Buffer, metrics: TargetMetrics): RpcServer {
  const replyCache: ReplyCache = { lookup: (client, xid) => p.role?.replyCache?.lookup(client, xid) };
  const server = new RpcServer({ name: p.name, key, log: p.log, observe: metrics.observe, replyCache });
  server.register(ping, () => ({ reply: { target: p.name } }));
  p.rpc = server;
  return server;
}

/** Listens for RPC; returns the address it listens on. */
async function listenRpc(p: TargetProcess, rpc: RpcServer): Promise<string> {
  const { host, port } = await rpc.listen(p.args.listen.host, p.args.listen.port);
  p.rpcListening = true;
  p.log.info({ host, port }, `Opened RPC on ${host}:${port}`);
  return `${p.args.listen.host}:${port}`;
}

/** Each role's module loads only for that role, so a process never depends on the others' code. */
async function startRole(args: TargetArgs, ctx: TargetContext): Promise<RunningTarget> {
  switch (args.role) {
    case 'mgs':
      return (await import('./mgs/mgs-target.ts')).startMgs(ctx, { reportIntervalMs: args.reportIntervalMs });
    case 'mdt':
      return (await import('./mdt/mdt-target.ts')).startMdt(ctx);
    case 'ost':
      return (await import('./ost/ost-target.ts')).startOst(ctx);
  }
}

function fail(log: Logger, what: string, e: unknown): never {
  const fields = e instanceof KlError ? { code: e.code, err: e.reason } : { err: e };
  log.error(fields, what);
  process.exit(1);
}

function main(argv: string[]): void {
  let args: TargetArgs | undefined;
  try {
    args = parseTargetArgs(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`kubelustre-target: ${e.message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (!args) {
    process.stdout.write(USAGE);
    return;
  }
  const log = pino(
    {
      level: args.logLevel,
      base: { role: args.role, index: args.index },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    // Synchronous, so the last lines before an exit are never lost.
    pino.destination({ dest: 1, sync: true }),
  );
  process.on('uncaughtException', (e) => fail(log, 'Crashed on an uncaught error', e));
  process.on('unhandledRejection', (e) => fail(log, 'Crashed on an unhandled rejection', e));
  const p = new TargetProcess(args, log);
  const startup = start(p).catch((e) => {
    if (!p.stopping.signal.aborted) fail(log, `Failed to start ${p.name}`, e);
  });
  let signals = 0;
  const onSignal = (signal: string) => {
    if (++signals > 1) {
      log.warn({ signal }, `Stopped ${p.name} forcibly on a second signal`);
      process.exit(1);
    }
    log.info({ signal }, `Stopping ${p.name}`);
    void p.stop(startup);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

main(process.argv.slice(2));
