import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { isKlError, KlError } from '../errors.ts';
import { silentLogger } from '../log.ts';
import { ping } from '../messages/common.ts';
import * as ost from '../messages/ost.ts';
import { RpcClient } from './rpc-client.ts';
import { type ReplyCache, RpcServer } from './rpc-server.ts';

const key = Buffer.alloc(32, 7);
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function startServer(opts: { replyCache?: ReplyCache; serverKey?: Buffer } = {}) {
  const server = new RpcServer({
    name: 'test-OST0000',
    key: opts.serverKey ?? key,
    log: silentLogger,
    ...opts,
  });
  let writes = 0;
  server.register(ping, () => ({ reply: { target: 'test-OST0000' } }));
  server.register(ost.write, (req, data) => {
    writes++;
    return { reply: { size: req.offset + data.length } };
  });
  server.register(ost.read, async (req) => {
    await new Promise((r) => setTimeout(r, req.offset % 7));
    return { reply: { size: req.offset }, data: Buffer.alloc(req.length, req.offset % 256) };
  });
  server.register(ost.punch, () => {
    throw new KlError('ENOSPC', 'OST0000 is full');
  });
  const addr = await server.listen('127.0.0.1', 0);
  cleanups.push(() => server.close(100));
  return { server, address: `127.0.0.1:${addr.port}`, writes: () => writes };
}

function client(address: string, k = key, requestTimeoutMs = 5000) {
  const c = new RpcClient({
    address,
    key: k,
    clientUuid: crypto.randomUUID(),
    log: silentLogger,
    requestTimeoutMs,
    backoffMinMs: 10,
  });
  cleanups.push(() => c.close());
  return c;
}

describe('rpc', () => {
  it('authenticates and multiplexes many calls on one connection, out of order', async () => {
    const { address } = await startServer();
    const c = client(address);
    expect((await c.call(ping, {})).reply.target).toBe('test-OST0000');
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => c.call(ost.read, { objId: 1, offset: i, length: 1000 + i })),
    );
    results.forEach((r, i) => {
      expect(r.reply.size).toBe(i);
      expect(r.data.length).toBe(1000 + i);
      expect(r.data[0]).toBe(i % 256);
    });
  });

  it('carries bulk data as raw bytes', async () => {
    const { address } = await startServer();
    const c = client(address);
    const r = await c.call(
      ost.write,
      { objId: 3, offset: 10, sync: false, projid: 0 },
      Buffer.alloc(4 << 20, 1),
    );
    expect(r.reply.size).toBe(10 + (4 << 20));
  });

  it('maps handler errors to KlError with code and reason', async () => {
    const { address } = await startServer();
    const err = await client(address)
      .call(ost.punch, { objId: 1, size: 0, projid: 0 })
      .catch((e) => e);
    expect(isKlError(err, 'ENOSPC')).toBe(true);
    expect(err.message).toBe('ENOSPC: OST0000 is full');
  });

  it('refuses a client with the wrong key, and a client refuses a server with the wrong key', async () => {
    const { address } = await startServer();
    const err = await client(address, Buffer.alloc(32, 8))
      .call(ping, {})
      .catch((e) => e);
    expect(isKlError(err, 'EACCES')).toBe(true);
  });

  it('closes a connection that sends garbage and keeps serving others', async () => {
    const { address, server } = await startServer();
    const good = client(address);
    await good.call(ping, {});
    const [host, port] = address.split(':');
    const bad = net.connect(Number(port), host);
    await new Promise<void>((resolve) => {
      bad.on('data', () => bad.write(Buffer.alloc(64, 0xff)));
      bad.on('close', () => resolve());
    });
    expect((await good.call(ping, {})).reply.target).toBe('test-OST0000');
    expect(server.connectionCount).toBe(1);
  });

  it('resends unanswered requests after the server restarts', async () => {
    const { address, server } = await startServer();
    const c = client(address, key, 10_000);
    await c.call(ping, {});
    await server.close(0);
    const port = Number(address.split(':')[1]);
    const pending = c.call(ping, {});
    await new Promise((r) => setTimeout(r, 100));
    const again = new RpcServer({ name: 'test-OST0000', key, log: silentLogger });
    again.register(ping, () => ({ reply: { target: 'again' } }));
    await again.listen('127.0.0.1', port);
    cleanups.push(() => again.close(100));
    expect((await pending).reply.target).toBe('again');
  });

  it("tries a target's addresses in order and keeps to the one that answered", async () => {
    // The first address accepts and hangs up at once: never the target.
    let wrongConnections = 0;
    const wrong = net.createServer((socket) => {
      wrongConnections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => wrong.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => wrong.close(resolve)));
    const wrongPort = (wrong.address() as net.AddressInfo).port;
    const { address, server } = await startServer();
    const c = client(`127.0.0.1:${wrongPort},${address}`);
    expect((await c.call(ping, {})).reply.target).toBe('test-OST0000');
    expect(wrongConnections).toBe(1);
    // After a restart the client reconnects straight to the address that worked.
    await server.close(0);
    const again = new RpcServer({ name: 'test-OST0000', key, log: silentLogger });
    again.register(ping, () => ({ reply: { target: 'again' } }));
    await again.listen('127.0.0.1', Number(address.split(':')[1]));
    cleanups.push(() => again.close(100));
    expect((await c.call(ping, {})).reply.target).toBe('again');
    expect(wrongConnections).toBe(1);
  });

  it('keeps retrying every address with backoff until the request times out', async () => {
    const c = client('127.0.0.1:1,127.0.0.1:2', key, 300);
    const err = await c.call(ping, {}).catch((e) => e);
    expect(isKlError(err, 'ETIMEDOUT')).toBe(true);
  });

  it('answers ENOSYS for an opcode the target does not serve', async () => {
    const { address } = await startServer();
    const c = client(address, key, 50);
    await c.call(ping, {});
    const err = await c.call(ost.precreate, { mdtIndex: 0, count: 1 }).catch((e) => e);
    expect(isKlError(err, 'ENOSYS')).toBe(true);
  });
});
