import net from 'node:net';
import { Type } from '@sinclair/typebox';
import { errnoOf, KlError, toKlError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { Auth } from '../messages/common.ts';
import type { OpDef, ReplyOf, RequestOf } from '../messages/op.ts';
import { decodeMessage, encodeMessage } from '../messages/validate.ts';
import { clientMac, macsEqual, newNonce, serverMac } from './auth.ts';
import { encodeFrame, type Frame, FrameDecoder, FrameError, FrameKind, PROTOCOL_VERSION } from './frame.ts';

export interface RequestContext {
  /** Authenticated client identity (from the handshake); the key of the reply cache. */
  clientUuid: string;
  xid: number;
  peer: string;
  log: Logger;
}

export interface HandlerResult<R> {
  reply: R;
  data?: Buffer;
}

export type Handler<O extends OpDef> = (
  req: RequestOf<O>,
  data: Buffer,
  ctx: RequestContext,
) => Promise<HandlerResult<ReplyOf<O>>> | HandlerResult<ReplyOf<O>>;

/** Observes every request, for metrics. `errno` is 0 on success. */
export type RequestObserver = (
  op: string,
  durationMs: number,
  errno: number,
  bytesIn: number,
  bytesOut: number,
) => void;

/**
 * Supplies replies for resent mutating requests (Lustre's reply reconstruction). The MDT implements it
 * durably, inside the same transaction as the change; targets whose mutations are idempotent need none.
 */
export interface ReplyCache {
  lookup(clientUuid: string, xid: number): { status: number; meta: Buffer; data: Buffer } | undefined;
}

export interface RpcServerOptions {
  /** Target name for logs and the handshake, e.g. `kl-OST0001`. */
  name: string;
  key: Buffer;
  log: Logger;
  observe?: RequestObserver;
  replyCache?: ReplyCache;
  handshakeTimeoutMs?: number;
  /** Requests in progress per connection before reading from it pauses. */
  inflightPerConnectionMax?: number;
}

const AnyObject = Type.Object({});

interface Registered {
  op: OpDef;
  handler: Handler<OpDef>;
}

/**
 * Accepts authenticated connections and dispatches request frames to handlers by opcode. Each request is
 * validated against its op's schema before a handler sees it. A connection that sends a malformed frame
 * or fails authentication is closed; nothing else is affected.
 */
export class RpcServer {
  readonly #opts: Required<Omit<RpcServerOptions, 'observe' | 'replyCache'>> &
    Pick<RpcServerOptions, 'observe' | 'replyCache'>;
  readonly #ops = new Map<number, Registered>();
  readonly #sockets = new Map<net.Socket, ConnState>();
  #server: net.Server | undefined;
  #closing = false;

  constructor(opts: RpcServerOptions) {
    this.#opts = { handshakeTimeoutMs: 5000, inflightPerConnectionMax: 128, ...opts };
  }

  register<O extends OpDef>(op: O, handler: Handler<O>): this {
    if (this.#ops.has(op.code)) throw new Error(`opcode ${op.code} (${op.name}) registered twice`);
    this.#ops.set(op.code, { op, handler: handler as unknown as Handler<OpDef> });
    return this;
  }

  /** Listens; resolves with the bound address (port 0 picks a free port). */
  async listen(host: string, port: number): Promise<{ host: string; port: number }> {
    const server = net.createServer({ noDelay: true }, (s) => this.#accept(s));
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    const addr = server.address() as net.AddressInfo;
    return { host: addr.address, port: addr.port };
  }

  get connectionCount(): number {
    return this.#sockets.size;
  }

  /** Stops accepting, lets in-flight requests finish up to `graceMs`, then closes every connection. */
  async close(graceMs = 2000): Promise<void> {
    this.#closing = true;
    const server = this.#server;
    const closed = server ? new Promise<void>((r) => server.close(() => r())) : Promise.resolve();
    const deadline = Date.now() + graceMs;
    while (this.#sockets.size > 0 && Date.now() < deadline) {
      for (const [s, st] of this.#sockets) if (st.inflight === 0) s.end();
      await new Promise((r) => setTimeout(r, 20));
    }
    for (const s of this.#sockets.keys()) s.destroy();
    await closed;
  }

  #accept(socket: net.Socket): void {
    if (this.#closing) {
      socket.destroy();
      return;
    }
    const conn: ConnState = { inflight: 0 };
    this.#sockets.set(socket, conn);
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    const log = this.#opts.log.child({ peer });
    const decoder = new FrameDecoder();
    const nonce = newNonce();
    let clientUuid: string | undefined;
    const timer = setTimeout(() => {
      if (!clientUuid) this.#drop(socket, log, 'handshake timed out');
    }, this.#opts.handshakeTimeoutMs);
    socket.on('close', () => {
      clearTimeout(timer);
      this.#sockets.delete(socket);
    });
    socket.on('error', (e) => log.debug({ err: e.message }, 'Connection failed'));
    socket.write(
      encodeFrame(
        FrameKind.hello,
        0,
        0,
        0,
        encodeMessage({ proto: PROTOCOL_VERSION, target: this.#opts.name, nonce }),
      )[0]!,
    );
    socket.on('data', (chunk: Buffer) => {
      let frames: Frame[];
      try {
        frames = decoder.push(chunk);
      } catch (e) {
        this.#drop(socket, log, (e as Error).message);
        return;
      }
      for (const f of frames) {
        if (socket.destroyed) return;
        if (!clientUuid) {
          clientUuid = this.#authenticate(socket, f, nonce, log);
          continue;
        }
        if (f.kind !== FrameKind.request) {
          this.#drop(socket, log, `unexpected frame kind ${f.kind} after handshake`);
          return;
        }
        void this.#dispatch(socket, conn, f, { clientUuid, xid: f.xid, peer, log });
      }
    });
  }

  #authenticate(socket: net.Socket, f: Frame, nonce: string, log: Logger): string | undefined {
    try {
      if (f.kind !== FrameKind.auth) throw new FrameError(`expected auth frame, got kind ${f.kind}`);
      const auth = decodeMessage(Auth, f.meta, 'auth');
      if (!macsEqual(auth.mac, clientMac(this.#opts.key, nonce, auth.nonce, auth.clientUuid))) {
        throw new KlError('EACCES', 'client failed authentication: wrong shared key');
      }
      const mac = serverMac(this.#opts.key, nonce, auth.nonce, auth.clientUuid);
      socket.write(encodeFrame(FrameKind.authOk, 0, 0, 0, encodeMessage({ mac }))[0]!);
      log.debug({ clientUuid: auth.clientUuid }, 'Authenticated client');
      return auth.clientUuid;
    } catch (e) {
      const err = toKlError(e, 'handshake');
      socket.end(
        encodeFrame(FrameKind.reply, 0, 0, -errnoOf(err.code), encodeMessage({ message: err.reason }))[0]!,
      );
      log.warn({ why: err.message }, 'Refused connection');
      return undefined;
    }
  }

  #drop(socket: net.Socket, log: Logger, why: string): void {
    log.warn({ why }, 'Closed connection');
    socket.destroy();
  }

  async #dispatch(socket: net.Socket, conn: ConnState, f: Frame, ctx: RequestContext): Promise<void> {
    const started = performance.now();
    const entry = this.#ops.get(f.opcode);
    const name = entry?.op.name ?? `op${f.opcode}`;
    if (++conn.inflight >= this.#opts.inflightPerConnectionMax) socket.pause();
    let status = 0;
    let meta: Buffer;
    let data: Buffer | undefined;
    try {
      const cached = entry?.op.mutating ? this.#opts.replyCache?.lookup(ctx.clientUuid, f.xid) : undefined;
      if (cached) {
        ({ status, meta, data } = cached);
        ctx.log.info({ op: name, xid: f.xid }, 'Answered resent request from the reply cache');
      } else {
        let req: unknown;
        try {
          // An unknown opcode still has to carry a well-formed message; only then is it answered ENOSYS.
          req = decodeMessage(entry?.op.request ?? AnyObject, f.meta, `${name} request`);
        } catch (e) {
          this.#drop(socket, ctx.log, (e as Error).message);
          return;
        }
        if (!entry) throw new KlError('ENOSYS', `opcode ${f.opcode} is not served by ${this.#opts.name}`);
        const result = await entry.handler(req as never, f.data, ctx);
        meta = encodeMessage(result.reply);
        data = result.data;
      }
    } catch (e) {
      const err = toKlError(e, name);
      if (err.code === 'EIO' && !(e instanceof KlError))
        ctx.log.error({ op: name, err: e }, 'Request failed unexpectedly');
      status = -errnoOf(err.code);
      meta = encodeMessage({ message: err.reason });
      data = undefined;
    } finally {
      if (--conn.inflight < this.#opts.inflightPerConnectionMax && socket.isPaused()) socket.resume();
    }
    this.#opts.observe?.(name, performance.now() - started, -status, f.data.length, data?.length ?? 0);
    if (socket.destroyed) return;
    const parts = encodeFrame(FrameKind.reply, f.opcode, f.xid, status, meta, data);
    socket.cork();
    for (const p of parts) socket.write(p);
    socket.uncork();
  }
}

interface ConnState {
  inflight: number;
}
