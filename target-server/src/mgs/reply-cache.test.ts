import { KlError } from '@kubelustre/protocol/errors.ts';
import { silentLogger } from '@kubelustre/protocol/log.ts';
import type { pool } from '@kubelustre/protocol/messages/mgs.ts';
import type { RequestContext } from '@kubelustre/protocol/wire/rpc-server.ts';
import { describe, expect, it } from 'vitest';
import { RecentReplies } from './reply-cache.ts';

const req = { op: 'new' as const, pool: 'p', osts: [] };
const ctx = (xid: number): RequestContext => ({ clientUuid: 'c1', xid, peer: 'test', log: silentLogger });

describe('RecentReplies', () => {
  it('remembers replies and errors under client and xid', async () => {
    const replies = new RecentReplies();
    const ok = replies.remembering<typeof pool>(() => ({ reply: { version: 7 } }));
    const refused = replies.remembering<typeof pool>(() => {
      throw new KlError('EEXIST', 'Pool fs1.p already exists');
    });
    await ok(req, Buffer.alloc(0), ctx(1));
    await expect(refused(req, Buffer.alloc(0), ctx(2))).rejects.toThrow('already exists');
    expect(JSON.parse(replies.lookup('c1', 1)!.meta.toString())).toEqual({ version: 7 });
    const err = replies.lookup('c1', 2)!;
    expect(err.status).toBe(-17);
    expect(JSON.parse(err.meta.toString())).toEqual({ message: 'Pool fs1.p already exists' });
    expect(replies.lookup('c2', 1)).toBeUndefined();
  });

  it('forgets the oldest replies beyond its bound', async () => {
    const replies = new RecentReplies(2);
    const ok = replies.remembering<typeof pool>(() => ({ reply: { version: 1 } }));
    for (const xid of [1, 2, 3]) await ok(req, Buffer.alloc(0), ctx(xid));
    expect(replies.lookup('c1', 1)).toBeUndefined();
    expect(replies.lookup('c1', 3)).toBeDefined();
  });
});
