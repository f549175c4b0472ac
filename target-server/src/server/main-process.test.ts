import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { silentLogger } from '@kubelustre/protocol/log.ts';
import { ping } from '@kubelustre/protocol/messages/common.ts';
import { config } from '@kubelustre/protocol/messages/mgs.ts';
import { RpcClient } from '@kubelustre/protocol/wire/rpc-client.ts';
import { afterEach, describe, expect, it } from 'vitest';

const MAIN = fileURLToPath(new URL('../main.ts', import.meta.url));
const KEY_HEX = 'ab'.repeat(32);
const WAIT_MS = 10_000;
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface LogLine {
  msg: string;
  [field: string]: unknown;
}

/** A `kubelustre-target` child process and what it printed. */
class Target {
  readonly child: ChildProcess;
  readonly lines: LogLine[] = [];
  stderr = '';
  readonly exited: Promise<number | null>;
  #waiters: Array<() => void> = [];

  constructor(args: string[]) {
    this.child = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let partial = '';
    this.child.stdout!.on('data', (chunk: Buffer) => {
      const parts = (partial + chunk.toString()).split('\n');
      partial = parts.pop()!;
      for (const p of parts) this.lines.push(JSON.parse(p));
      for (const w of this.#waiters) w();
    });
    this.child.stderr!.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString();
    });
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
    cleanups.push(() => {
      if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
      return this.exited;
    });
  }

  /** The first log line whose message starts with `prefix`, waiting for it up to WAIT_MS. */
  async line(prefix: string): Promise<LogLine> {
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const found = this.lines.find((l) => l.msg.startsWith(prefix));
      if (found) return found;
      if (Date.now() > deadline || this.child.exitCode !== null) {
        throw new Error(`no "${prefix}" in ${JSON.stringify(this.lines)} ${this.stderr}`);
      }
      await new Promise<void>((r) => {
        this.#waiters.push(r);
        setTimeout(r, 100);
      });
    }
  }
}

/** A port nothing listens on now. */
async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as net.AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

async function setup() {
  const dir = await mkdtemp(join(tmpdir(), 'kl-main-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const keyFile = join(dir, 'key');
  await writeFile(keyFile, `${KEY_HEX}\n`);
  return { dir, keyFile, key: Buffer.from(KEY_HEX, 'hex') };
}

function rpcClient(address: string, key: Buffer): RpcClient {
  const c = new RpcClient({
    address,
    key,
    clientUuid: crypto.randomUUID(),
    log: silentLogger,
    requestTimeoutMs: WAIT_MS,
  });
  cleanups.push(() => c.close());
  return c;
}

async function startMgsProcess(dir: string, keyFile: string) {
  const mgs = new Target([
    ...['--role', 'mgs', '--fsname', 'kltest', '--data', join(dir, 'mgs'), '--listen', '127.0.0.1:0'],
    ...['--key-file', keyFile, '--http', '127.0.0.1:0', '--report-interval-ms', '200'],
  ]);
  await mgs.line('Started MGS');
  const rpcPort = (await mgs.line('Opened RPC')).port as number;
  const httpPort = (await mgs.line('Opened /healthz')).port as number;
  return { mgs, address: `127.0.0.1:${rpcPort}`, http: `http://127.0.0.1:${httpPort}` };
}

describe('kubelustre-target process', () => {
  it('serves the MGS: health, readiness, metrics, ping; refuses a wrong key; stops on SIGTERM', async () => {
    const { dir, keyFile, key } = await setup();
    const { mgs, address, http } = await startMgsProcess(dir, keyFile);
    expect((await fetch(`${http}/healthz`)).status).toBe(200);
    expect((await fetch(`${http}/readyz`)).status).toBe(200);
    expect((await rpcClient(address, key).call(ping, {})).reply.target).toBe('MGS');
    const metrics = await (await fetch(`${http}/metrics`)).text();
    expect(metrics).toContain('kubelustre_target_requests_total{op="ping",result="ok"} 1');
    expect(metrics).toMatch(/kubelustre_target_space_total_bytes [1-9]/);
    const wrongKey = rpcClient(address, Buffer.alloc(32, 1));
    await expect(wrongKey.call(ping, {})).rejects.toMatchObject({ code: 'EACCES' });
    expect(mgs.lines[0]).toMatchObject({ role: 'mgs', index: 0 });
    mgs.child.kill('SIGTERM');
    expect(await mgs.exited).toBe(0);
    expect(mgs.lines.at(-1)!.msg).toBe('Stopped MGS');
  }, 30_000);

  it('starts an OST that registers with the MGS, and restarts it with the same identity', async () => {
    const { dir, keyFile, key } = await setup();
    const { address } = await startMgsProcess(dir, keyFile);
    const port = await freePort();
    const ostArgs = [
      ...['--role', 'ost', '--index', '10', '--mgs', address, '--data', join(dir, 'ost10')],
      ...['--listen', `127.0.0.1:${port}`, '--key-file', keyFile, '--report-interval-ms', '200'],
    ];
    const uuids: unknown[] = [];
    for (const run of ['first', 'restart']) {
      const ost = new Target(ostArgs);
      await ost.line(`Registered kltest-OST000a with the MGS at ${address}`);
      const started = await ost.line('Started kltest-OST000a');
      expect(started.advertise, run).toBe(`127.0.0.1:${port}`);
      const { reply } = await rpcClient(address, key).call(config, { sinceVersion: -1, waitMs: 0 });
      expect(reply.targets).toMatchObject([{ role: 'ost', index: 10, state: 'up', uuid: started.uuid }]);
      uuids.push(started.uuid);
      ost.child.kill('SIGTERM');
      expect(await ost.exited).toBe(0);
      expect(ost.lines.at(-1)!.msg).toBe('Stopped kltest-OST000a');
    }
    expect(uuids[1]).toBe(uuids[0]);
  }, 30_000);

  it('exits 2 with a message and the usage on bad arguments', async () => {
    const { dir, keyFile } = await setup();
    const noListen = new Target([
      '--role',
      'mgs',
      '--fsname',
      'kltest',
      '--data',
      dir,
      '--key-file',
      keyFile,
    ]);
    expect(await noListen.exited).toBe(2);
    expect(noListen.stderr).toContain('kubelustre-target: --listen is required');
    expect(noListen.stderr).toContain('Usage: kubelustre-target');
    const longName = new Target([
      ...['--role', 'mgs', '--fsname', 'much-too-long', '--data', dir, '--listen', '127.0.0.1:0'],
      ...['--key-file', keyFile],
    ]);
    expect(await longName.exited).toBe(2);
    expect(longName.stderr).toContain('--fsname "much-too-long" must be 1 to 8 characters');
  });

  it('exits 1 naming the problem when it cannot start', async () => {
    const { dir } = await setup();
    const target = new Target([
      ...['--role', 'mgs', '--fsname', 'kltest', '--data', dir, '--listen', '127.0.0.1:0'],
      ...['--key-file', join(dir, 'no-such-key')],
    ]);
    expect(await target.exited).toBe(1);
    const failed = await target.line('Failed to start MGS');
    expect(failed).toMatchObject({ code: 'ENOENT' });
    expect(failed.err).toContain('cannot read shared key file');
  });
});
