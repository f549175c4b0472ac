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
  const calls: Array<{ op: string; answer: (reply: unknown) => void; fail: (e: Error) => void }> = [];
  const rpc = {
    call: (op: OpDef) =>
      new Promise((resolve, reject) => {
        calls.push({
          op: op.name,
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
    expect(calls.map((c) => c.op)).toEqual(['mdt.open']);
    calls[0]!.answer({ node, leaseMs: 60_000 });
    expect(await first).toEqual(node);
    expect(await second).toBeUndefined();
    opens.release(FID);
    expect(calls).toHaveLength(1);
    opens.release(FID);
    expect(calls.map((c) => c.op)).toEqual(['mdt.open', 'mdt.close']);
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
    expect(calls.map((c) => c.op)).toEqual(['mdt.open', 'mdt.close']);
    calls[1]!.answer({});
    await settle();
    expect(calls.map((c) => c.op)).toEqual(['mdt.open', 'mdt.close', 'mdt.open']);
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
    expect(calls.map((c) => c.op)).toEqual(['mdt.open', 'mdt.open']);
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
    await expect.poll(() => calls.map((c) => c.op)).toEqual(['mdt.open', 'mdt.renew']);
    calls[1]!.answer({ evicted: true, leaseMs: 40 });
    await expect
      .poll(() => calls.map((c) => c.op).slice(0, 3))
      .toEqual(['mdt.open', 'mdt.renew', 'mdt.open']);
    calls[2]!.fail(new KlError('ENOENT', 'freed while we were away'));
    await expect.poll(() => lost.length).toBe(1);
    expect(lost[0]![0]).toBe(FID);
    expect(lost[0]![1].code).toBe('EIO');
    const closing = opens.closeAll();
    await expect.poll(() => calls.some((c) => c.op === 'mdt.close')).toBe(true);
    for (const c of calls.filter((x) => x.op !== 'mdt.open')) c.answer({ evicted: false, leaseMs: 40 });
    await closing;
  });
});
