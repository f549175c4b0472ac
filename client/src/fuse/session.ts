import { constants } from 'node:os';
import { errnoOf, KlError } from '@kubelustre/protocol/errors.ts';
import type { Logger } from '@kubelustre/protocol/log.ts';
import type { RequestChannel } from './device.ts';
import { type DecodeContext, handlers, type Payload } from './dispatch.ts';
import type { FuseChannel, FuseOps, RequestContext } from './fuse-ops.ts';
import { DEFAULT_INIT_LIMITS, type InitLimits, negotiateInit, readBufferBytes } from './init.ts';
import {
  decodeInHeader,
  decodeInitIn,
  encodeInitOut,
  encodeNotifyInvalInode,
  encodeOutHeader,
  FUSE_NOTIFY_INVAL_INODE,
  IN_HEADER_BYTES,
  type InHeader,
  Opcode,
  OUT_HEADER_BYTES,
  opcodeName,
} from './kernel-abi.ts';
import { PassthroughTable } from './passthrough.ts';
import { decodeBatchForgetIn, decodeForgetIn, decodeInterruptIn } from './request-decoders.ts';

/** How long an INTERRUPT for a request we have not seen waits before EAGAIN asks the kernel to resend. */
const INTERRUPT_RETRY_MS = 10;

export interface FuseSessionOptions {
  /** The fd the mount was made with; more readers are cloned from it. */
  device: RequestChannel;
  ops: FuseOps;
  log: Logger;
  /** Reader fds, each with one read outstanding (each blocks one libuv threadpool thread). */
  readers: number;
  limits?: InitLimits;
  /**
   * Ask the kernel for FUSE_PASSTHROUGH (default true), so opens whose result carries `passthroughFd`
   * are read by the kernel from that file. Off, or not offered, the fds are ignored.
   */
  passthrough?: boolean;
}

interface Pending {
  dev: RequestChannel;
  unique: number;
  opcode: number;
  interruptible: boolean;
  answered: boolean;
}

/**
 * One FUSE connection served: reads requests on several fds, negotiates INIT, dispatches each request
 * to FuseOps and answers it exactly once (ENOSYS for operations we do not serve, the KlError's errno
 * for failures, EIO for anything else). Requests in flight are bounded by the kernel: max_background
 * for its own (readahead, async I/O) plus one per calling thread.
 */
export class FuseSession {
  readonly #opts: FuseSessionOptions;
  readonly #log: Logger;
  readonly #limits: InitLimits;
  readonly #devices: RequestChannel[] = [];
  readonly #pending = new Map<number, Pending>();
  readonly #freeBuffers: Buffer[] = [];
  #decode: DecodeContext = { setxattrExt: false };
  #initialized = false;
  #running = 0;
  #drained: (() => void) | undefined;
  readonly #initDone = Promise.withResolvers<void>();

  constructor(opts: FuseSessionOptions) {
    this.#opts = opts;
    this.#log = opts.log;
    this.#limits = opts.limits ?? DEFAULT_INIT_LIMITS;
    // Nobody need wait for INIT; a connection that ends before it must not be an unhandled rejection.
    this.#initDone.promise.catch(() => undefined);
  }

  /** Resolves once the kernel's INIT has been answered (the mount is usable). */
  get initialized(): Promise<void> {
    return this.#initDone.promise;
  }

  /**
   * Serves until the connection ends (unmount or abort), then waits for handlers still running and
   * tells the filesystem it is destroyed. Closes every device fd it used.
   */
  async run(): Promise<void> {
    const main = this.#opts.device;
    this.#devices.push(main);
    try {
      for (let i = 1; i < this.#opts.readers; i++) this.#devices.push(main.clone());
      await Promise.all(this.#devices.map((dev) => this.#readLoop(dev)));
      if (this.#running > 0) await new Promise<void>((resolve) => (this.#drained = resolve));
      await this.#opts.ops.destroy();
    } finally {
      for (const dev of this.#devices) dev.close();
      this.#initDone.reject(new KlError('ESHUTDOWN', 'the FUSE connection ended before INIT'));
    }
  }

  async #readLoop(dev: RequestChannel): Promise<void> {
    let buf = this.#takeBuffer();
    for (;;) {
      const n = await dev.read(buf);
      if (n === undefined) return;
      let retained = false;
      try {
        retained = this.#onRequest(dev, buf, n);
      } catch (e) {
        // Only a body too short for its struct gets here (FORGET, INTERRUPT): nothing to answer.
        this.#log.error({ err: (e as Error).message }, 'Dropped a malformed FUSE request');
      }
      if (retained) buf = this.#takeBuffer();
    }
  }

  /** Handles one request; answers true when its buffer now belongs to a running handler. */
  #onRequest(dev: RequestChannel, buf: Buffer, n: number): boolean {
    const header = decodeInHeader(buf);
    const body = buf.subarray(IN_HEADER_BYTES + header.totalExtlen * 8, n);
    switch (header.opcode) {
      case Opcode.INIT:
        void this.#init(dev, header, body);
        return false;
      case Opcode.FORGET:
        this.#opts.ops.forget(header.nodeid, decodeForgetIn(body));
        return false;
      case Opcode.BATCH_FORGET:
        for (const f of decodeBatchForgetIn(body)) this.#opts.ops.forget(f.nodeid, f.nlookup);
        return false;
      case Opcode.INTERRUPT:
        this.#interrupt(dev, header, body);
        return false;
      case Opcode.DESTROY:
        void this.#send(dev, header.unique, 0, []);
        return false;
    }
    return this.#dispatch(dev, header, buf, body);
  }

  #dispatch(dev: RequestChannel, header: InHeader, buf: Buffer, body: Buffer): boolean {
    const h = handlers.get(header.opcode);
    const p: Pending = {
      dev,
      unique: header.unique,
      opcode: header.opcode,
      interruptible: h?.interruptible ?? false,
      answered: false,
    };
    if (!h || !this.#initialized) {
      void this.#answer(p, errnoOf(h ? 'EIO' : 'ENOSYS'), []);
      return false;
    }
    let args: unknown;
    try {
      args = h.decode(body, header.nodeid, this.#decode);
    } catch (e) {
      void this.#answer(p, this.#errnoOf(e, p), []);
      return false;
    }
    const ctx: RequestContext = { unique: header.unique, uid: header.uid, gid: header.gid, pid: header.pid };
    this.#pending.set(p.unique, p);
    this.#running++;
    const retained = h.retainsBody === true;
    Promise.resolve()
      .then(() => h.run(this.#opts.ops, ctx, args, this.#decode))
      .then(
        (payload) => this.#answer(p, 0, payload),
        (e: unknown) => this.#answer(p, this.#errnoOf(e, p), []),
      )
      .finally(() => {
        if (retained) this.#giveBuffer(buf);
        if (--this.#running === 0) this.#drained?.();
      });
    return retained;
  }

  async #init(dev: RequestChannel, header: InHeader, body: Buffer): Promise<void> {
    const init = decodeInitIn(body);
    const wantsPassthrough = this.#opts.passthrough !== false && this.#opts.device.backing !== undefined;
    const negotiated = negotiateInit(init, this.#limits, { passthrough: wantsPassthrough });
    if (!negotiated.reply) {
      this.#log.error({ major: init.major, minor: init.minor }, 'Refused FUSE INIT from a too old kernel');
      await this.#send(dev, header.unique, -errnoOf('EPROTO'), []);
      return;
    }
    if (negotiated.reply.major !== init.major) {
      await this.#send(dev, header.unique, 0, [encodeInitOut(negotiated.reply)]);
      return;
    }
    this.#decode = { setxattrExt: negotiated.setxattrExt, ...this.#passthroughTable(negotiated.passthrough) };
    this.#opts.ops.init(this.#channel());
    this.#initialized = true;
    await this.#send(dev, header.unique, 0, [encodeInitOut(negotiated.reply)]);
    this.#log.info(
      {
        kernel: `${init.major}.${init.minor}`,
        minor: negotiated.reply.minor,
        flags: negotiated.flags,
        passthrough: this.#decode.passthrough !== undefined,
      },
      'Negotiated FUSE INIT',
    );
    this.#initDone.resolve();
  }

  /**
   * INTERRUPT: a request whose only effect is its answer is answered EINTR at once (its late result
   * is dropped); others are left to finish, which is always safe. An interrupt for a request not seen
   * yet (read by another fd, not dispatched) is answered EAGAIN after a moment: the kernel requeues it.
   */
  #interrupt(dev: RequestChannel, header: InHeader, body: Buffer): void {
    const { unique } = decodeInterruptIn(body);
    const p = this.#pending.get(unique);
    if (p) {
      if (p.interruptible) void this.#answer(p, constants.errno.EINTR, []);
      return;
    }
    setTimeout(() => void this.#send(dev, header.unique, -errnoOf('EAGAIN'), []), INTERRUPT_RETRY_MS).unref();
  }

  async #answer(p: Pending, errno: number, payload: Payload): Promise<void> {
    if (p.answered) return;
    p.answered = true;
    this.#pending.delete(p.unique);
    await this.#send(p.dev, p.unique, -errno, errno === 0 ? payload : []);
  }

  /** Writes a reply; a failure is logged (the kernel may have dropped the request or the connection). */
  async #send(dev: RequestChannel, unique: number, error: number, payload: Payload): Promise<void> {
    const len = payload.reduce((n, b) => n + b.length, OUT_HEADER_BYTES);
    try {
      await dev.write([encodeOutHeader(len, error, unique), ...payload]);
    } catch (e) {
      this.#log.error({ unique, error, err: (e as Error).message }, 'Failed to write a FUSE reply');
    }
  }

  #errnoOf(e: unknown, p: Pending): number {
    if (e instanceof KlError) {
      this.#log.debug({ op: opcodeName(p.opcode), code: e.code, reason: e.reason }, 'FUSE request failed');
      return e.errno;
    }
    this.#log.error(
      { op: opcodeName(p.opcode), err: e instanceof Error ? e.stack : String(e) },
      'FUSE handler threw a non-KlError; answered EIO',
    );
    return errnoOf('EIO');
  }

  /**
   * Passthrough needs the kernel's consent and the device's backing-file ioctls (on the fd the mount was
   * made with, which every clone shares the connection of).
   */
  #passthroughTable(negotiated: boolean): { passthrough?: PassthroughTable } {
    const backing = this.#opts.device.backing;
    if (this.#opts.passthrough === false || !backing) return {};
    if (!negotiated) {
      this.#log.info({}, 'FUSE passthrough not offered by the kernel; cached reads go through this process');
      return {};
    }
    return { passthrough: new PassthroughTable(backing, this.#log) };
  }

  #channel(): FuseChannel {
    const dev = this.#opts.device;
    return {
      invalidateInode: async (nodeid, offset, length) => {
        const body = encodeNotifyInvalInode(nodeid, offset, length);
        const header = encodeOutHeader(OUT_HEADER_BYTES + body.length, FUSE_NOTIFY_INVAL_INODE, 0);
        await dev.write([header, body]);
      },
    };
  }

  #takeBuffer(): Buffer {
    return this.#freeBuffers.pop() ?? Buffer.allocUnsafeSlow(readBufferBytes(this.#limits));
  }

  /** Keeps a few buffers for reuse (one per reader is enough between WRITE bursts). */
  #giveBuffer(buf: Buffer): void {
    if (this.#freeBuffers.length < this.#opts.readers) this.#freeBuffers.push(buf);
  }
}
