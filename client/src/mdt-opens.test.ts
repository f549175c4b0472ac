import { KlError } from '@kubelustre/protocol/errors.ts';
import { silentLogger } from '@kubelustre/protocol/log.ts';
import type { OpDef } from '@kubelustre/protocol/messages/op.ts';
import { describe, expect, it } from 'vitest';
import { MdtOpens } from './mdt-opens.ts';
import type { TargetConnections } from './targets.ts';

const FID = '0x200000400:0x1:0x0';
const node = { attr: { fid: FID } };

/** An MDT connection that records calls and answers each when the test says so. */
function fakeMdt() {
  const calls: Array<{
    op: string;
    req: unknown;
    answer: (reply: unknown) => void;
    fail: (e: Error) => void;
  }> = [];
  const rpc = {
    call: (op: OpDef, req: unknown) =>
      new Promise((resolve, reject) => {
        calls.push({
          op: op.name,
          req,
          answer: (reply) => resolve({ reply, data: Buffer.alloc(0) }),
          fail: reject,
        });
      }),
  };
  const targets = { mdt: () => rpc } as unknown as TargetConnections;
  return { calls, targets };
}

const settle = () => new Promise((r) => setImmediate(r));

describe('MdtOpens', () => {
  it('sends one mdt.open for concurrent opens and one mdt.close after the last release', async () => {
    const { calls, targets } = fakeMdt();
    const opens = new MdtOpens({ targets, log: silentLogger, onOpenLost: () => {} });
    const first = opens.acquire(FID);
    const second = opens.acquire(FID);
    await settle();
    expect(calls.map((c) => c.op)).toEqual(['mdt.open2']);
    calls[0]!.answer({ node, leaseMs: 60_000 });
    expect(await first).toEqual(node);
    expect(await second).toBeUndefined();
    opens.release(FID);
    expect(calls).toHaveLength(1);
    opens.release(FID);
    expect(calls.map((c) => c.op)).toEqual(['mdt.open2', 'mdt.close']);
    expect(() => opens.release(FID)).toThrow(KlError);
    calls[1]!.answer({});
    await opens.settled();
    await opens.closeAll();
  });

  it('sends a reopen only after the MDT answered the close before it', async () => {
    const { calls, targets } = fakeMdt();
    const opens = new MdtOpens({ targets, log: silentLogger, onOpenLost: () => {} });
    const first = opens.acquire(FID);
    await settle();
    calls[0]!.answer({ node, leaseMs: 60_000 });
    await first;
    opens.release(FID);
    const again = opens.acquire(FID);
    await settle();
    expect(calls.map((c) => c.op)).toEqual(['mdt.open2', 'mdt.close']);
    calls[1]!.answer({});
    await settle();
    expect(calls.map((c) => c.op)).toEqual(['mdt.open2', 'mdt.close', 'mdt.open2']);
    calls[2]!.answer({ node, leaseMs: 60_000 });
    expect(await again).toEqual(node);
    const closing = opens.closeAll();
    await settle();
    calls[3]!.answer({});
    await closing;
  });

  it('forgets a failed open so the next one tries again', async () => {
    const { calls, targets } = fakeMdt();
    const opens = new MdtOpens({ targets, log: silentLogger, onOpenLost: () => {} });
    const failing = opens.acquire(FID);
    await settle();
    calls[0]!.fail(new KlError('ENOENT', 'gone'));
    await expect(failing).rejects.toMatchObject({ code: 'ENOENT' });
    expect(opens.openCount).toBe(0);
    const retry = opens.acquire(FID);
    await settle();
    expect(calls.map((c) => c.op)).toEqual(['mdt.open2', 'mdt.open2']);
    calls[1]!.answer({ node, leaseMs: 60_000 });
    expect(await retry).toEqual(node);
    const closing = opens.closeAll();
    await settle();
    calls[2]!.answer({});
    await closing;
  });

  it('renews its lease, and after an eviction reopens its files, reporting the ones gone', async () => {
    const { calls, targets } = fakeMdt();
    const lost: Array<[string, KlError]> = [];
    const opens = new MdtOpens({ targets, log: silentLogger, onOpenLost: (fid, e) => lost.push([fid, e]) });
    const opened = opens.acquire(FID);
    await settle();
    calls[0]!.answer({ node, leaseMs: 40 });
    await opened;
    await expect.poll(() => calls.map((c) => c.op)).toEqual(['mdt.open2', 'mdt.renew']);
    calls[1]!.answer({ evicted: true, leaseMs: 40 });
    await expect
      .poll(() => calls.map((c) => c.op).slice(0, 3))
      .toEqual(['mdt.open2', 'mdt.renew', 'mdt.open2']);
    calls[2]!.fail(new KlError('ENOENT', 'freed while we were away'));
    await expect.poll(() => lost.length).toBe(1);
    expect(lost[0]![0]).toBe(FID);
    expect(lost[0]![1].code).toBe('EIO');
    const closing = opens.closeAll();
    await expect.poll(() => calls.some((c) => c.op === 'mdt.close')).toBe(true);
    for (const c of calls.filter((x) => x.op !== 'mdt.open2')) c.answer({ evicted: false, leaseMs: 40 });
    await closing;
  });

  it('knows which files it holds open for write since they were untracked (PCC)', async () => {
    const { calls, targets } = fakeMdt();
    const opens = new MdtOpens({ targets, log: silentLogger, onOpenLost: () => {} });
    const OTHER = '0x200000400:0x2:0x0';
    const w = opens.acquire(FID, true);
    const r = opens.acquire(OTHER, false);
    await settle();
    expect(calls.map((c) => [c.op, c.req])).toEqual([
      ['mdt.open2', { fid: FID, write: true }],
      ['mdt.open2', { fid: OTHER, write: false }],
    ]);
    calls[0]!.answer({ node, leaseMs: 60_000, pccTracked: false });
    calls[1]!.answer({ node: { attr: { fid: OTHER } }, leaseMs: 60_000, pccTracked: false });
    await Promise.all([w, r]);
    expect(opens.writeUntracked(FID)).toBe(true);
    expect(opens.writeUntracked(OTHER)).toBe(false); // read-only open: a writer handle must announce
    // A second handle for write on the read-only open adds no write intent on the MDT.
    await opens.acquire(OTHER, true);
    expect(opens.writeUntracked(OTHER)).toBe(false);
    opens.release(FID);
    expect(opens.writeUntracked(FID)).toBe(false); // closed: the MDT's writer record goes with it
    const closing = opens.closeAll();
    await settle();
    for (const c of calls.filter((x) => x.op === 'mdt.close')) c.answer({});
    await closing;
  });

  it('treats a tracked file, and an MDT without mdt.open2, as needing announcements', async () => {
    const { calls, targets } = fakeMdt();
    const opens = new MdtOpens({ targets, log: silentLogger, onOpenLost: () => {} });
    const tracked = opens.acquire(FID, true);
    await settle();
    calls[0]!.answer({ node, leaseMs: 60_000, pccTracked: true });
    await tracked;
    expect(opens.writeUntracked(FID)).toBe(false);
    opens.release(FID);
    calls[1]!.answer({});
    await opens.settled();

    const old = opens.acquire(FID, true);
    await settle();
    calls[2]!.fail(new KlError('ENOSYS', 'no such op'));
    await settle();
    expect(calls.map((c) => c.op).slice(2)).toEqual(['mdt.open2', 'mdt.open']);
    calls[3]!.answer({ node, leaseMs: 60_000 });
    await old;
    expect(opens.writeUntracked(FID)).toBe(false);
    const closing = opens.closeAll();
    await settle();
    calls[4]!.answer({});
    await closing;
  });

  it('announces again after an eviction: its opens for write were dropped meanwhile', async () => {
    const { calls, targets } = fakeMdt();
    const opens = new MdtOpens({ targets, log: silentLogger, onOpenLost: () => {} });
    const opened = opens.acquire(FID, true);
    await settle();
    calls[0]!.answer({ node, leaseMs: 40, pccTracked: false });
    await opened;
    expect(opens.writeUntracked(FID)).toBe(true);
    await expect.poll(() => calls.map((c) => c.op)).toEqual(['mdt.open2', 'mdt.renew']);
    calls[1]!.answer({ evicted: true, leaseMs: 40 });
    await expect.poll(() => calls.length).toBeGreaterThan(2);
    expect(calls[2]).toMatchObject({ op: 'mdt.open2', req: { fid: FID, write: true } });
    expect(opens.writeUntracked(FID)).toBe(false);
    calls[2]!.answer({ node, leaseMs: 40, pccTracked: false });
    const closing = opens.closeAll();
    await expect.poll(() => calls.some((c) => c.op === 'mdt.close')).toBe(true);
    for (const c of calls.filter((x) => x.op !== 'mdt.open2')) c.answer({ evicted: false, leaseMs: 40 });
    await closing;
  });
});
