import net from 'node:net';
import { codeOfErrno, KlError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { AuthOk, ErrorReply, Hello } from '../messages/common.ts';
import type { OpDef, ReplyOf, RequestOf } from '../messages/op.ts';
import { decodeMessage, encodeMessage } from '../messages/validate.ts';
import { clientMac, macsEqual, newNonce, serverMac } from './auth.ts';
import { encodeFrame, type Frame, FrameDecoder, FrameKind } from './frame.ts';

export interface RpcClientOptions {
  /**
   * The target's addresses: `host:port`, or several joined by commas (as a Lustre NID list), tried in
   * order on each connection until one answers, the one that answered first the next time.
   */
  address: string;
  key: Buffer;
  /** This client's identity for the whole session: resends carry it so the target can recognise them. */
  clientUuid: string;
  log: Logger;
  connectTimeoutMs?: number;
  backoffMinMs?: number;
  backoffMaxMs?: number;
  /** A call that has no reply by then fails with ETIMEDOUT, reconnects included. */
  requestTimeoutMs?: number;
}

export interface CallResult<R> {
  reply: R;
  data: Buffer;
}

interface Pending {
  op: OpDef;
  parts: Buffer[];
  resolve: (r: CallResult<unknown>) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

type State = 'idle' | 'connecting' | 'ready' | 'closed';

/**
 * One authenticated connection to one target, shared by any number of concurrent calls (matched by xid).
 * When the connection drops, unanswered requests are sent again with the same xid once it is back,
 * after an exponential backoff; the target's reply cache makes resent mutations happen once.
 */
export class RpcClient {
  readonly #opts: Required<RpcClientOptions>;
  readonly #pending = new Map<number, Pending>();
  #xid = 0;
  #state: State = 'idle';
  #socket: net.Socket | undefined;
  #backoffMs: number;
  #retryTimer: NodeJS.Timeout | undefined;
  #targetName = '';
  /** Which of the addresses the next connection tries. */
  #addressIndex = 0;

  constructor(opts: RpcClientOptions) {
    this.#opts = {
      connectTimeoutMs: 5000,
      backoffMinMs: 50,
      backoffMaxMs: 5000,
      requestTimeoutMs: 120_000,
      ...opts,
    };
    this.#backoffMs = this.#opts.backoffMinMs;
  }

  get address(): string {
    return this.#opts.address;
  }

  /** The name the target gave in its hello, once connected. */
  get targetName(): string {
    return this.#targetName;
  }

  /** Points the client at a new address (a target moved); takes effect on the next connection. */
  setAddress(address: string): void {
    if (address === this.#opts.address) return;
    this.#opts.address = address;
    this.#addressIndex = 0;
    this.#socket?.destroy();
  }

  call<O extends OpDef>(
    op: O,
    req: RequestOf<O>,
    data?: Buffer,
    timeoutMs = this.#opts.requestTimeoutMs,
  ): Promise<CallResult<ReplyOf<O>>> {
    if (this.#state === 'closed')
      return Promise.reject(new KlError('ESHUTDOWN', `client for ${this.#opts.address} is closed`));
    const xid = ++this.#xid;
    const parts = encodeFrame(FrameKind.request, op.code, xid, 0, encodeMessage(req), data);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(xid);
        reject(
          new KlError('ETIMEDOUT', `${op.name} to ${this.#opts.address} had no reply within ${timeoutMs} ms`),
        );
      }, timeoutMs);
      this.#pending.set(xid, { op, parts, resolve: resolve as Pending['resolve'], reject, timer });
      if (this.#state === 'ready') this.#send(parts);
      else if (this.#state === 'idle' && !this.#retryTimer) this.#connect();
    });
  }

  /** Fails every pending call with ESHUTDOWN and closes the connection. */
  close(): void {
    this.#state = 'closed';
    clearTimeout(this.#retryTimer);
    this.#socket?.destroy();
    this.#failAll(new KlError('ESHUTDOWN', `client for ${this.#opts.address} closed`));
  }

  #send(parts: Buffer[]): void {
    const s = this.#socket!;
    s.cork();
    for (const p of parts) s.write(p);
    s.uncork();
  }

  #failAll(err: Error): void {
    for (const [xid, p] of this.#pending) {
      clearTimeout(p.timer);
      this.#pending.delete(xid);
      p.reject(err);
    }
  }

  #connect(): void {
    this.#state = 'connecting';
    const addresses = splitAddressList(this.#opts.address);
    const address = addresses[this.#addressIndex % addresses.length]!;
    const [host, port] = splitAddress(address);
    const socket = net.connect({ host, port, noDelay: true, timeout: this.#opts.connectTimeoutMs });
    this.#socket = socket;
    const decoder = new FrameDecoder();
    const clientNonce = newNonce();
    let serverNonce: string | undefined;
    socket.on('timeout', () => {
      if (this.#state !== 'ready') socket.destroy(new Error('connect timed out'));
    });
    socket.on('error', (e) => this.#opts.log.debug({ address, err: e.message }, 'Connection failed'));
    socket.on('close', () => this.#onClose(socket));
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const f of decoder.push(chunk)) {
          if (this.#state === 'ready') this.#onReply(f);
          else if (!serverNonce) serverNonce = this.#onHello(socket, f, clientNonce);
          else this.#onAuthOk(socket, f, serverNonce, clientNonce);
        }
      } catch (e) {
        if (e instanceof KlError && e.code === 'EACCES') {
          this.#failAll(e);
          this.#backoffMs = this.#opts.backoffMaxMs;
        }
        this.#opts.log.warn({ address: this.#opts.address, err: (e as Error).message }, 'Dropped connection');
        socket.destroy();
      }
    });
  }

  #onHello(socket: net.Socket, f: Frame, clientNonce: string): string {
    if (f.kind !== FrameKind.hello)
      throw new KlError('EPROTO', `expected hello from ${this.#opts.address}, got kind ${f.kind}`);
    const hello = decodeMessage(Hello, f.meta, 'hello');
    this.#targetName = hello.target;
    const mac = clientMac(this.#opts.key, hello.nonce, clientNonce, this.#opts.clientUuid);
    socket.write(
      encodeFrame(
        FrameKind.auth,
        0,
        0,
        0,
        encodeMessage({ clientUuid: this.#opts.clientUuid, nonce: clientNonce, mac }),
      )[0]!,
    );
    return hello.nonce;
  }

  #onAuthOk(socket: net.Socket, f: Frame, serverNonce: string, clientNonce: string): void {
    if (f.kind === FrameKind.reply && f.status < 0) {
      const { message } = decodeMessage(ErrorReply, f.meta, 'handshake refusal');
      throw new KlError(codeOfErrno(-f.status), `${this.#opts.address} refused us: ${message}`);
    }
    if (f.kind !== FrameKind.authOk) throw new KlError('EPROTO', `expected authOk, got kind ${f.kind}`);
    const { mac } = decodeMessage(AuthOk, f.meta, 'authOk');
    if (!macsEqual(mac, serverMac(this.#opts.key, serverNonce, clientNonce, this.#opts.clientUuid))) {
      throw new KlError(
        'EACCES',
        `${this.#opts.address} failed authentication: it does not hold our shared key`,
      );
    }
    this.#state = 'ready';
    this.#backoffMs = this.#opts.backoffMinMs;
    socket.setTimeout(0);
    for (const p of this.#pending.values()) this.#send(p.parts);
  }

  #onReply(f: Frame): void {
    if (f.kind !== FrameKind.reply)
      throw new KlError('EPROTO', `unexpected frame kind ${f.kind} from ${this.#opts.address}`);
    const p = this.#pending.get(f.xid);
    if (!p) return; // answered before a reconnect, or timed out: nobody waits for it any more
    this.#pending.delete(f.xid);
    clearTimeout(p.timer);
    try {
      if (f.status < 0) {
        const { message } = decodeMessage(ErrorReply, f.meta, `${p.op.name} error reply`);
        p.reject(new KlError(codeOfErrno(-f.status), message));
      } else {
        p.resolve({ reply: decodeMessage(p.op.reply, f.meta, `${p.op.name} reply`), data: f.data });
      }
    } catch (e) {
      p.reject(e as Error);
    }
  }

  #onClose(socket: net.Socket): void {
    if (socket !== this.#socket || this.#state === 'closed') return;
    const neverReady = this.#state === 'connecting';
    this.#socket = undefined;
    this.#state = 'idle';
    if (this.#pending.size === 0) return;
    // A target with several addresses: one that never got as far as ready gives way to the next at
    // once; the backoff applies only after a whole round of them failed.
    const addressCount = splitAddressList(this.#opts.address).length;
    if (neverReady && addressCount > 1) {
      this.#addressIndex = (this.#addressIndex + 1) % addressCount;
      if (this.#addressIndex !== 0) {
        this.#connect();
        return;
      }
    }
    const delay = this.#backoffMs * (0.5 + Math.random() / 2);
    this.#backoffMs = Math.min(this.#backoffMs * 2, this.#opts.backoffMaxMs);
    this.#opts.log.debug(
      { address: this.#opts.address, delayMs: Math.round(delay), pending: this.#pending.size },
      'Reconnecting',
    );
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      if (this.#state === 'idle' && this.#pending.size > 0) this.#connect();
    }, delay);
  }
}

/** The addresses of a comma-separated list (`host:port,host:port`), each checked. */
export function splitAddressList(list: string): string[] {
  const addresses = list.split(',');
  for (const a of addresses) splitAddress(a);
  return addresses;
}

export function splitAddress(address: string): [string, number] {
  const i = address.lastIndexOf(':');
  const port = Number(address.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new KlError('EINVAL', `address "${address}" is not HOST:PORT`);
  }
  return [address.slice(0, i).replace(/^\[|\]$/g, ''), port];
}
