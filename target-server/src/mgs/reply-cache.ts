import { errnoOf, toKlError } from '@kubelustre/protocol/errors.ts';
import type { OpDef } from '@kubelustre/protocol/messages/op.ts';
import { encodeMessage } from '@kubelustre/protocol/messages/validate.ts';
import type { Handler, ReplyCache } from '@kubelustre/protocol/wire/rpc-server.ts';

/** Replies remembered; a resend comes within seconds of the original, so the recent ones suffice. */
export const REPLIES_MAX = 4096;

interface CachedReply {
  status: number;
  meta: Buffer;
  data: Buffer;
}

const EMPTY = Buffer.alloc(0);

/**
 * Remembers the outcome of recent mutating MGS requests, so that a request resent after a reconnect is
 * answered as the first time instead of done again (a resent pool_add would otherwise fail with "already
 * in pool"). In memory only: MGS changes are few and cheap to check, unlike the MDT's, whose replies
 * must survive a restart.
 */
export class RecentReplies implements ReplyCache {
  readonly #replies = new Map<string, CachedReply>();
  readonly #max: number;

  constructor(max = REPLIES_MAX) {
    this.#max = max;
  }

  lookup(clientUuid: string, xid: number): CachedReply | undefined {
    return this.#replies.get(`${clientUuid}/${xid}`);
  }

  /** Wraps a handler so that its reply or error is remembered under the request's client and xid. */
  remembering<O extends OpDef>(handler: Handler<O>): Handler<O> {
    return async (req, data, ctx) => {
      try {
        const result = await handler(req, data, ctx);
        this.#remember(ctx.clientUuid, ctx.xid, {
          status: 0,
          meta: encodeMessage(result.reply),
          data: result.data ?? EMPTY,
        });
        return result;
      } catch (e) {
        const err = toKlError(e, 'MGS request');
        const meta = encodeMessage({ message: err.reason });
        this.#remember(ctx.clientUuid, ctx.xid, { status: -errnoOf(err.code), meta, data: EMPTY });
        throw e; // as thrown, so the server still logs unexpected errors with their stack
      }
    };
  }

  #remember(clientUuid: string, xid: number, reply: CachedReply): void {
    if (this.#replies.size >= this.#max) {
      // Maps iterate in insertion order: the first key is the oldest reply.
      this.#replies.delete(this.#replies.keys().next().value!);
    }
    this.#replies.set(`${clientUuid}/${xid}`, reply);
  }
}
