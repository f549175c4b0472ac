import { codeOfErrno, errnoOf, KlError } from '@kubelustre/protocol/errors.ts';
import type { Logger } from '@kubelustre/protocol/log.ts';
import type { OpDef, ReplyOf, RequestOf } from '@kubelustre/protocol/messages/op.ts';
import { encodeMessage } from '@kubelustre/protocol/messages/validate.ts';
import type {
  Handler,
  HandlerResult,
  ReplyCache,
  RequestContext,
} from '@kubelustre/protocol/wire/rpc-server.ts';
import { blobOf, type Store } from './store.ts';

/** Replies kept per client: a client resends only calls still pending, far fewer than this. */
export const REPLIES_PER_CLIENT_MAX = 1024;
/** Replies older than this are dropped: no client waits that long (RpcClient times calls out sooner). */
export const REPLY_KEEP_MS = 60 * 60 * 1000;

interface CachedReply {
  status: number;
  meta: Buffer;
  data: Buffer;
}

/**
 * Lustre's last_rcvd reply reconstruction, durable: each mutating request's reply is stored in the same
 * transaction as its change, keyed by the client's uuid and the request's xid. A request resent after a
 * reconnect (or an MDT restart) gets the stored reply instead of running again.
 */
export class DurableReplyCache implements ReplyCache {
  readonly #store: Store;

  constructor(store: Store) {
    this.#store = store;
  }

  lookup(clientUuid: string, xid: number): CachedReply | undefined {
    const r = this.#store.get(
      'SELECT status, meta, data FROM replies WHERE client = ? AND xid = ?',
      clientUuid,
      xid,
    );
    if (r === undefined) return undefined;
    return {
      status: r.status as number,
      meta: Buffer.from(blobOf(r.meta)),
      data: Buffer.from(blobOf(r.data)),
    };
  }

  /** Stores a reply; call inside the transaction that made the change. Keeps the newest per client. */
  record(clientUuid: string, xid: number, reply: CachedReply): void {
    this.#store.run(
      'INSERT OR REPLACE INTO replies (client, xid, status, meta, data, at_ms) VALUES (?, ?, ?, ?, ?, ?)',
      clientUuid,
      xid,
      reply.status,
      reply.meta,
      reply.data,
      Date.now(),
    );
    this.#store.run(
      `DELETE FROM replies WHERE client = ?1 AND xid <
        (SELECT xid FROM replies WHERE client = ?1 ORDER BY xid DESC LIMIT 1 OFFSET ?2)`,
      clientUuid,
      REPLIES_PER_CLIENT_MAX - 1,
    );
  }

  /** Drops replies of clients gone quiet (older than REPLY_KEEP_MS). */
  prune(nowMs: number): number {
    return this.#store.run('DELETE FROM replies WHERE at_ms < ?', nowMs - REPLY_KEEP_MS);
  }
}

/** Runs `fn` in one transaction that also records its reply in the reply cache. */
export type Txn = <R>(fn: () => HandlerResult<R>) => HandlerResult<R>;

/** A mutating handler: it must make its change through `txn`, exactly once. */
export type Mutation<O extends OpDef> = (
  req: RequestOf<O>,
  data: Buffer,
  txn: Txn,
  ctx: RequestContext,
) => Promise<HandlerResult<ReplyOf<O>>> | HandlerResult<ReplyOf<O>>;

/**
 * Wraps mutating handlers with reply reconstruction. The RPC server is created without a reply cache
 * (by main.ts), so the lookup happens here: a stored reply (success or error) is returned as it was; a
 * resend arriving while the original still runs waits for the original's outcome; otherwise the mutation
 * runs and its reply is stored with its change. An error reply is stored in a transaction of its own
 * (the failed change rolled back), so a resend cannot run a request that once failed.
 */
export class MutationRunner {
  readonly #store: Store;
  readonly #cache: DurableReplyCache;
  readonly #log: Logger;
  readonly #running = new Map<string, Promise<HandlerResult<unknown>>>();

  constructor(store: Store, cache: DurableReplyCache, log: Logger) {
    this.#store = store;
    this.#cache = cache;
    this.#log = log;
  }

  wrap<O extends OpDef>(op: O, mutation: Mutation<O>): Handler<O> {
    return async (req, data, ctx) => {
      const cached = this.#cache.lookup(ctx.clientUuid, ctx.xid);
      if (cached !== undefined) {
        this.#log.info(
          { op: op.name, xid: ctx.xid, clientUuid: ctx.clientUuid },
          'Answered resent request from the reply cache',
        );
        return replay(cached) as HandlerResult<ReplyOf<O>>;
      }
      const key = `${ctx.clientUuid}:${ctx.xid}`;
      const running = this.#running.get(key);
      if (running !== undefined) return (await running) as HandlerResult<ReplyOf<O>>;
      const run = this.#run(mutation, req, data, ctx);
      this.#running.set(key, run);
      try {
        return await run;
      } finally {
        this.#running.delete(key);
      }
    };
  }

  async #run<O extends OpDef>(
    mutation: Mutation<O>,
    req: RequestOf<O>,
    data: Buffer,
    ctx: RequestContext,
  ): Promise<HandlerResult<ReplyOf<O>>> {
    let recorded = false;
    const txn: Txn = (fn) =>
      this.#store.txn(() => {
        const result = fn();
        const meta = encodeMessage(result.reply);
        this.#cache.record(ctx.clientUuid, ctx.xid, {
          status: 0,
          meta,
          data: result.data ?? Buffer.alloc(0),
        });
        recorded = true;
        return result;
      });
    try {
      return await mutation(req, data, txn, ctx);
    } catch (e) {
      if (e instanceof KlError && !recorded) {
        const meta = encodeMessage({ message: e.reason });
        this.#store.txn(() =>
          this.#cache.record(ctx.clientUuid, ctx.xid, {
            status: -errnoOf(e.code),
            meta,
            data: Buffer.alloc(0),
          }),
        );
      }
      throw e;
    }
  }
}

function replay(cached: CachedReply): HandlerResult<unknown> {
  if (cached.status < 0) {
    const { message } = JSON.parse(cached.meta.toString('utf8')) as { message: string };
    throw new KlError(codeOfErrno(-cached.status), message);
  }
  return { reply: JSON.parse(cached.meta.toString('utf8')), data: cached.data };
}
