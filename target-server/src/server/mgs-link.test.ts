import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KlError } from '@kubelustre/protocol/errors.ts';
import { type Logger, silentLogger } from '@kubelustre/protocol/log.ts';
import { config, register } from '@kubelustre/protocol/messages/mgs.ts';
import { RpcClient } from '@kubelustre/protocol/wire/rpc-client.ts';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestMgs, TEST_KEY, type TestMgs } from '../mgs/test-mgs.ts';
import { type MgsLink, type MgsLinkOptions, registerWithMgs } from './mgs-link.ts';

const space = { totalBytes: 1000, freeBytes: 600, availBytes: 500, files: 100, filesFree: 90 };
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kl-link-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function mgsOn(port = 0, fsName = 'fs1'): Promise<TestMgs> {
  const m = await startTestMgs(await tempDir(), { port, fsName });
  cleanups.push(() => m.stop());
  return m;
}

/** A port nothing listens on (yet). */
async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as net.AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

function recordingLogger(lines: string[]): Logger {
  const log: Logger = {
    debug() {},
    info: (_o, msg) => lines.push(msg),
    warn: (_o, msg) => lines.push(msg),
    error: (_o, msg) => lines.push(msg),
    child: () => log,
  };
  return log;
}

function linkOptions(mgsAddress: string, over: Partial<MgsLinkOptions> = {}): MgsLinkOptions {
  return {
    mgsAddress,
    key: TEST_KEY,
    log: silentLogger,
    registration: { role: 'ost', index: 2, uuid: crypto.randomUUID(), address: '127.0.0.1:7002' },
    reportIntervalMs: 30,
    ...over,
  };
}

async function link(opts: MgsLinkOptions): Promise<MgsLink> {
  const l = await registerWithMgs(opts);
  cleanups.push(() => l.close());
  return l;
}

async function fetchConfig(address: string) {
  const c = new RpcClient({ address, key: TEST_KEY, clientUuid: crypto.randomUUID(), log: silentLogger });
  try {
    return (await c.call(config, { sinceVersion: -1, waitMs: 0 }, undefined, 5000)).reply;
  } finally {
    c.close();
  }
}

/** Polls `check` until it holds, at most `timeoutMs`. */
async function eventually(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('registerWithMgs', () => {
  it('retries, logging each failure, until the MGS comes up', async () => {
    const port = await freePort();
    const lines: string[] = [];
    const registering = link(linkOptions(`127.0.0.1:${port}`, { log: recordingLogger(lines) }));
    await eventually(async () => lines.some((l) => l.startsWith('Failed to register OST0002')));
    await mgsOn(port);
    const l = await registering;
    expect(l.fsName).toBe('fs1');
    expect(lines.at(-1)).toBe(`Registered fs1-OST0002 with the MGS at 127.0.0.1:${port}`);
  }, 20_000);

  it('fails at once on a wrong key or a taken index', async () => {
    const { address } = await mgsOn();
    await expect(link(linkOptions(address, { key: Buffer.alloc(32, 9) }))).rejects.toMatchObject({
      code: 'EACCES',
    });
    await link(linkOptions(address));
    await expect(link(linkOptions(address))).rejects.toMatchObject({ code: 'EEXIST' });
  });

  it('gives up after registerTimeoutMs', async () => {
    const port = await freePort();
    const err = await link(linkOptions(`127.0.0.1:${port}`, { registerTimeoutMs: 300 })).catch((e) => e);
    expect(err).toMatchObject({ code: 'ETIMEDOUT' });
    expect(err.message).toContain(`could not register OST0002 with the MGS at 127.0.0.1:${port}`);
  });

  it('stops waiting when aborted', async () => {
    const port = await freePort();
    const stopping = new AbortController();
    const registering = link(linkOptions(`127.0.0.1:${port}`, { signal: stopping.signal }));
    setTimeout(() => stopping.abort(), 100);
    await expect(registering).rejects.toMatchObject({ code: 'ESHUTDOWN' });
  });
});

describe('MgsLink reports', () => {
  it('reports space to the MGS', async () => {
    const { address } = await mgsOn();
    const l = await link(linkOptions(address));
    l.startReporting(async () => space);
    await eventually(async () => (await fetchConfig(address)).targets[0]?.space?.freeBytes === 600);
  });

  it('re-registers with an MGS that lost its state', async () => {
    const first = await mgsOn();
    const opts = linkOptions(first.address);
    const l = await link(opts);
    l.startReporting(async () => space);
    await first.stop();
    const second = await mgsOn(first.port); // same address, empty data directory
    await eventually(async () => (await fetchConfig(second.address)).targets.length === 1);
    expect((await fetchConfig(second.address)).targets[0]).toMatchObject({ uuid: opts.registration.uuid });
  });

  it('reports a rejection when the MGS now serves another filesystem', async () => {
    const first = await mgsOn();
    const rejected: KlError[] = [];
    const l = await link(linkOptions(first.address, { onRejected: (e) => rejected.push(e) }));
    l.startReporting(async () => space);
    await first.stop();
    await mgsOn(first.port, 'other');
    await eventually(async () => rejected.length > 0);
    expect(rejected[0]!.message).toContain('now serves filesystem "other", not "fs1"');
  });

  it('registers the same target again idempotently', async () => {
    const { address } = await mgsOn();
    const opts = linkOptions(address);
    await link(opts);
    const c = new RpcClient({ address, key: TEST_KEY, clientUuid: crypto.randomUUID(), log: silentLogger });
    cleanups.push(() => c.close());
    const { reply } = await c.call(register, opts.registration);
    expect(reply.version).toBe(1);
  });
});
