import { isKlError, KlError } from '@kubelustre/protocol/errors.ts';
import { describe, expect, it } from 'vitest';
import { ByteBudget } from './byte-budget.ts';
import { WritebackCache } from './writeback.ts';

/** A sink that records what reached "the targets", optionally failing or pausing. */
function recordingSink() {
  const writes: Array<[number, string]> = [];
  const file = Buffer.alloc(1024);
  let fail: KlError | undefined;
  let gate: Promise<void> | undefined;
  return {
    writes,
    file,
    failWith(e: KlError | undefined) {
      fail = e;
    },
    hold(p: Promise<void> | undefined) {
      gate = p;
    },
    sink: async (offset: number, data: Buffer) => {
      if (gate) await gate;
      if (fail) throw fail;
      writes.push([offset, data.toString()]);
      data.copy(file, offset);
    },
  };
}

describe('WritebackCache', () => {
  it('merges small adjacent writes and flushes them as one extent', async () => {
    const s = recordingSink();
    const wb = new WritebackCache(s.sink, () => {}, { budget: new ByteBudget(1 << 20) });
    for (const [i, ch] of [...'abcdefgh'].entries()) await wb.write(i, Buffer.from(ch));
    expect(s.writes).toEqual([]);
    await wb.flush();
    expect(s.writes).toEqual([[0, 'abcdefgh']]);
    wb.close();
  });

  it('copies the caller buffer, so reusing it after write does not change the data', async () => {
    const s = recordingSink();
    const wb = new WritebackCache(s.sink, () => {}, { budget: new ByteBudget(1 << 20) });
    const buf = Buffer.from('one');
    await wb.write(0, buf);
    buf.write('two');
    await wb.flush();
    expect(s.writes).toEqual([[0, 'one']]);
    wb.close();
  });

  it('shows a read the bytes of a flush that landed after the objects answered it', async () => {
    const s = recordingSink();
    s.file.write('OLD');
    const wb = new WritebackCache(s.sink, () => {}, { budget: new ByteBudget(1 << 20) });
    await wb.write(0, Buffer.from('NEW'));
    const token = wb.beginRead();
    // The read reached the objects before the flush did; the flush lands and leaves the cache before
    // the read's answer is overlaid.
    const seen = Buffer.from(s.file.subarray(0, 3));
    await wb.flush();
    const late = Buffer.from(seen);
    wb.overlay(late, 0);
    expect(late.toString()).toBe('OLD'); // what a read without its token would have answered
    wb.overlay(seen, 0, token);
    expect(seen.toString()).toBe('NEW');
    wb.endRead(token);
    // A read begun now finds the bytes in the objects, and nothing retired is kept for it.
    const next = wb.beginRead();
    const fresh = Buffer.from(s.file.subarray(0, 3));
    wb.overlay(fresh, 0, next);
    expect(fresh.toString()).toBe('NEW');
    wb.endRead(next);
    wb.close();
  });

  it('shows dirty and in-flight bytes to reads', async () => {
    const s = recordingSink();
    const wb = new WritebackCache(s.sink, () => {}, { budget: new ByteBudget(1 << 20) });
    let open!: () => void;
    s.hold(new Promise<void>((r) => (open = r)));
    await wb.write(0, Buffer.from('old!'));
    const flushing = wb.flush();
    await wb.write(2, Buffer.from('NEW'));
    const seen = Buffer.from('.......');
    wb.overlay(seen, 0);
    expect(seen.toString()).toBe('olNEW..');
    open();
    s.hold(undefined);
    await flushing;
    await wb.flush();
    expect(s.file.subarray(0, 5).toString()).toBe('olNEW');
    wb.close();
  });

  it('makes a write wait while the file is over its dirty bound, and flushes to make room', async () => {
    const s = recordingSink();
    const wb = new WritebackCache(s.sink, () => {}, {
      budget: new ByteBudget(1 << 20),
      fileDirtyBytesMax: 8,
      flushTriggerBytes: 1000,
    });
    await wb.write(0, Buffer.from('12345678'));
    expect(s.writes).toEqual([]);
    await wb.write(8, Buffer.from('9'));
    expect(s.writes).toEqual([[0, '12345678']]);
    expect(wb.dirtyBytes).toBe(1);
    wb.close();
  });

  it('flushes other files when the client budget is exhausted', async () => {
    const budget = new ByteBudget(8);
    const a = recordingSink();
    const b = recordingSink();
    const wbA = new WritebackCache(a.sink, () => {}, { budget, flushTriggerBytes: 1000 });
    const wbB = new WritebackCache(b.sink, () => {}, { budget, flushTriggerBytes: 1000 });
    await wbA.write(0, Buffer.from('aaaaaaaa'));
    await wbB.write(0, Buffer.from('b'));
    expect(a.writes).toEqual([[0, 'aaaaaaaa']]);
    expect(budget.usedBytes).toBe(1);
    wbA.close();
    wbB.close();
  });

  it('reports a failed flush to onError and releases its budget', async () => {
    const s = recordingSink();
    const errors: KlError[] = [];
    const budget = new ByteBudget(1 << 20);
    const wb = new WritebackCache(s.sink, (e) => errors.push(e), { budget });
    await wb.write(0, Buffer.from('data'));
    s.failWith(new KlError('ENOSPC', 'OST0000 is full'));
    await wb.flush();
    expect(errors).toHaveLength(1);
    expect(isKlError(errors[0], 'ENOSPC')).toBe(true);
    expect(budget.usedBytes).toBe(0);
    wb.close();
  });

  it('drops dirty bytes past a truncated size', async () => {
    const s = recordingSink();
    const budget = new ByteBudget(1 << 20);
    const wb = new WritebackCache(s.sink, () => {}, { budget });
    await wb.write(0, Buffer.from('abcdef'));
    wb.truncate(2);
    expect(budget.usedBytes).toBe(2);
    await wb.flush();
    expect(s.writes).toEqual([[0, 'ab']]);
    wb.close();
  });

  it('flushes dirty data by itself after the expiry time', async () => {
    const s = recordingSink();
    const wb = new WritebackCache(s.sink, () => {}, { budget: new ByteBudget(1 << 20), dirtyExpireMs: 10 });
    await wb.write(0, Buffer.from('late'));
    await expect.poll(() => s.writes, { timeout: 2000 }).toEqual([[0, 'late']]);
    wb.close();
  });

  it('runs disjoint flush rounds at the same time, and holds an overlapping one until the older lands', async () => {
    const started: number[] = [];
    const landed: Array<[number, string]> = [];
    const releases: Array<() => void> = [];
    const sink = (offset: number, data: Buffer) => {
      started.push(offset);
      return new Promise<void>((resolve) => {
        releases.push(() => {
          landed.push([offset, data.toString()]);
          resolve();
        });
      });
    };
    const wb = new WritebackCache(sink, () => {}, { budget: new ByteBudget(1 << 20), flushTriggerBytes: 1 });
    await wb.write(0, Buffer.from('old'));
    await wb.write(100, Buffer.from('far'));
    await new Promise((r) => setTimeout(r, 10));
    expect(started).toEqual([0, 100]);
    await wb.write(0, Buffer.from('new'));
    await new Promise((r) => setTimeout(r, 10));
    expect(started).toEqual([0, 100]);
    releases[0]!();
    await new Promise((r) => setTimeout(r, 10));
    expect(started).toEqual([0, 100, 0]);
    releases[1]!();
    releases[2]!();
    await wb.flush();
    expect(landed.filter(([o]) => o === 0).map(([, d]) => d)).toEqual(['old', 'new']);
    wb.close();
  });
});
