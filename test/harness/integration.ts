import { execFile } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { KlClient, type KlClientOptions } from '@kubelustre/client/fs-client.ts';
import type { LocalCluster } from '@kubelustre/client/local/cluster.ts';
import { isKlError } from '@kubelustre/protocol/errors.ts';
import { parseSetstripeArgs } from '@kubelustre/protocol/layout/setstripe-args.ts';
import type { Layout } from '@kubelustre/protocol/layout/types.ts';
import { silentLogger } from '@kubelustre/protocol/log.ts';
import * as ost from '@kubelustre/protocol/messages/ost.ts';
import { RpcClient } from '@kubelustre/protocol/wire/rpc-client.ts';

/** Helpers the integration tests (test/integration) share: clients, the CLI as a process, OST probes. */

export const CLI_MAIN = fileURLToPath(import.meta.resolve('@kubelustre/client/cli/main.ts'));
/** The longest one CLI process may run before the test kills it and fails. */
export const CLI_TIMEOUT_MS = 60_000;
export const CLIENT_REQUEST_TIMEOUT_MS = 30_000;

export const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function connectClient(
  cluster: Pick<LocalCluster, 'mgsAddress' | 'key'>,
  o: Partial<KlClientOptions> = {},
): Promise<KlClient> {
  return new KlClient({
    mgs: cluster.mgsAddress,
    key: cluster.key,
    log: silentLogger,
    requestTimeoutMs: CLIENT_REQUEST_TIMEOUT_MS,
    ...o,
  }).connect();
}

/** The KlError code a call fails with; undefined when it succeeds. */
export async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (e) {
    return isKlError(e) ? e.code : `not a KlError: ${String(e)}`;
  }
  return undefined;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  /** The command line, for failure messages. */
  command: string;
}

/** Runs `kubelustre ARGS` as a child process of this Node; never rejects on a non-zero exit. */
export function runCli(args: string[], timeoutMs = CLI_TIMEOUT_MS, cwd?: string): Promise<CliResult> {
  const command = `kubelustre ${args.join(' ')}`;
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [CLI_MAIN, ...args],
      { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 << 20, cwd },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number') {
          reject(new Error(`${command} did not finish (${err.message}); stderr:\n${stderr}`));
          return;
        }
        resolve({ code: err ? (err.code as number) : 0, stdout, stderr, command });
      },
    );
  });
}

/** Like runCli, but fails with the command's output when it exits non-zero. */
export async function cliOk(args: string[]): Promise<CliResult> {
  const r = await runCli(args);
  if (r.code !== 0)
    throw new Error(`${r.command} exited ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  return r;
}

/** One row of `lfs getstripe`'s object table (obdidx, objid, hex objid, group). */
export interface ObdidxRow {
  obdidx: number;
  objid: number;
}

/** The rows of every "obdidx objid objid group" table in `lfs getstripe` output, in order. */
export function parseObdidxTables(stdout: string): ObdidxRow[] {
  const rows: ObdidxRow[] = [];
  let inTable = false;
  for (const line of stdout.split('\n')) {
    if (/^\s*obdidx\s+objid\s+objid\s+group\s*$/.test(line)) {
      inTable = true;
      continue;
    }
    const m = /^\s*(\d+)\s+(\d+)\s+(0x[0-9a-f]+)\s+(\S+)\s*$/i.exec(line);
    if (inTable && m) {
      if (Number(m[2]) !== Number.parseInt(m[3]!, 16))
        throw new Error(`objid ${m[2]} and ${m[3]} disagree in: ${line}`);
      rows.push({ obdidx: Number(m[1]), objid: Number(m[2]) });
    } else inTable = false;
  }
  return rows;
}

/** A direct connection to one OST, as a test probe (not through the client library). */
export function ostProbe(cluster: LocalCluster, index: number): RpcClient & Disposable {
  const c = new RpcClient({
    address: cluster.target('ost', index).listen,
    key: cluster.key,
    clientUuid: randomUUID(),
    log: silentLogger,
    requestTimeoutMs: CLIENT_REQUEST_TIMEOUT_MS,
  });
  return Object.assign(c, { [Symbol.dispose]: () => c.close() });
}

/** Size of object `objId` on OST `index`, asked of the OST process itself. */
export async function ostObjectSize(cluster: LocalCluster, index: number, objId: number): Promise<number> {
  using probe = ostProbe(cluster, index);
  return (await probe.call(ost.getattr, { objId })).reply.size;
}

/** Every (OST, object) of a layout's instantiated components. */
export function layoutObjects(layout: Layout | undefined): Array<{ ostIdx: number; objId: number }> {
  return (layout?.components ?? []).flatMap((c) => c.objects ?? []);
}

/** Polls `check` until it answers true; throws naming `what` after `timeoutMs`. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs: number,
  intervalMs = 100,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** The first `length` bytes of object `objId` on OST `index`, read from the OST process itself. */
export async function ostObjectData(
  cluster: LocalCluster,
  index: number,
  objId: number,
  length: number,
): Promise<Buffer> {
  using probe = ostProbe(cluster, index);
  const chunks: Buffer[] = [];
  for (let at = 0; at < length; ) {
    const want = Math.min(OST_READ_BYTES_MAX, length - at);
    const { data } = await probe.call(ost.read, { objId, offset: at, length: want });
    chunks.push(data);
    if (data.length < want) break;
    at += data.length;
  }
  return Buffer.concat(chunks);
}
/** ost.read's largest length. */
const OST_READ_BYTES_MAX = 8 << 20;

/**
 * Lustre RAID0 written out independently of the product's layout math: the bytes stripe `stripe` of a
 * component [0, data.length) with `stripeCount` stripes of `stripeSize` holds, from object offset 0.
 */
export function raid0ObjectBytes(
  data: Buffer,
  stripeSize: number,
  stripeCount: number,
  stripe: number,
): Buffer {
  const width = stripeSize * stripeCount;
  const parts: Buffer[] = [];
  for (let from = stripe * stripeSize; from < data.length; from += width)
    parts.push(data.subarray(from, Math.min(from + stripeSize, data.length)));
  return Buffer.concat(parts);
}

/**
 * A base port for `kubelustre local up --port` with `targets` targets: ports base..base+targets-1 and
 * base+1000.. (their HTTP endpoints) all free right now. Tries random bases; throws after `triesMax`.
 */
export async function freeBasePort(targets: number, triesMax = 50): Promise<number> {
  for (let i = 0; i < triesMax; i++) {
    const base = 20_000 + Math.floor(Math.random() * 20_000);
    const ports = Array.from({ length: targets }, (_, k) => [base + k, base + 1000 + k]).flat();
    if ((await Promise.all(ports.map(isPortFree))).every(Boolean)) return base;
  }
  throw new Error(`no free base port for ${targets} targets after ${triesMax} tries`);
}

function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/**
 * Waits until the MDT allocates on all `osts` OSTs. LocalCluster.up() returns once every process
 * answers /readyz, but the MDT activates an OST only after its first statfs of it, and a file created
 * before then silently gets fewer stripes (as Lustre caps a stripe count to the active OSTs).
 */
export async function waitForAllOstsActive(
  client: KlClient,
  osts: number,
  timeoutMs = 15_000,
): Promise<void> {
  let probe = 0;
  await waitFor(
    `the MDT to allocate on all ${osts} OSTs`,
    async () => {
      const path = `/.all-osts-probe-${probe++}`;
      const layout = await client.lustre.setstripe(path, parseSetstripeArgs(['-c', '-1']).layout!);
      await client.paths.unlink(path);
      return layoutObjects(layout).length === osts;
    },
    timeoutMs,
    100,
  );
}
