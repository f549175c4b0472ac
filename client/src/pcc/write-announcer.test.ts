import { KlError } from '@kubelustre/protocol/errors.ts';
import type { RpcClient } from '@kubelustre/protocol/wire/rpc-client.ts';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { WriteAnnouncer } from './write-announcer.ts';

/** A fake MDT connection recording the calls it got, answering each after `delayMs`. */
function fakeMdt(delayMs = 0, fail?: string) {
  const calls: string[] = [];
  const mdt = {
    call: async (op: { name: string }, req: { fid: string }) => {
      calls.push(`${op.name} ${req.fid}`);
      await new Promise((r) => setTimeout(r, delayMs));
      if (fail) throw new KlError(fail as 'ENOSYS', 'fake');
      return { reply: { dataVersion: 1 } };
    },
  } as unknown as RpcClient;
  return { calls, mdt: () => mdt };
}

const log = pino({ level: 'silent' });

describe('WriteAnnouncer', () => {
  it('announces once per file however many handles write; the mdt.close ends it', async () => {
    const { calls, mdt } = fakeMdt();
    const dropped: string[] = [];
    const w = new WriteAnnouncer({ mdt, log, beforeAnnounce: async (fid) => void dropped.push(fid) });
    await Promise.all([w.beforeChange('f', 1), w.beforeChange('f', 1), w.beforeChange('f', 2)]);
    expect(calls).toEqual(['mdt.pcc_write_open f']);
    expect(dropped).toEqual(['f']);
    await w.released('f', 1);
    await w.released('f', 3); // never wrote: nothing
    await w.released('f', 2);
    expect(calls).toEqual(['mdt.pcc_write_open f']); // one round trip per written file
    expect(w.writingCount).toBe(0);
  });

  it('ends the write itself when a handle had no open on the MDT', async () => {
    const { calls, mdt } = fakeMdt();
    const w = new WriteAnnouncer({ mdt, log });
    await w.beforeChange('f', 1);
    await w.beforeChange('f', 2);
    await w.released('f', 1, false); // its open failed
    expect(calls).toEqual(['mdt.pcc_write_open f']);
    await w.released('f', 2);
    expect(calls).toEqual(['mdt.pcc_write_open f', 'mdt.pcc_write_close f']);
  });

  it('sends a new announcement only after the previous close was answered', async () => {
    const { calls, mdt } = fakeMdt(20);
    const w = new WriteAnnouncer({ mdt, log });
    await w.beforeChange('f', 1);
    const closing = w.released('f', 1, false);
    const again = w.beforeChange('f', 2);
    await Promise.all([closing, again]);
    expect(calls).toEqual(['mdt.pcc_write_open f', 'mdt.pcc_write_close f', 'mdt.pcc_write_open f']);
  });

  it('lets writes through to an MDT without PCC, and fails them when the MDT cannot be told', async () => {
    await new WriteAnnouncer({ mdt: fakeMdt(0, 'ENOSYS').mdt, log }).beforeChange('f', 1);
    const w = new WriteAnnouncer({ mdt: fakeMdt(0, 'ETIMEDOUT').mdt, log });
    await expect(w.beforeChange('f', 1)).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    expect(w.writingCount).toBe(0);
  });

  it('brackets a change without a handle', async () => {
    const { calls, mdt } = fakeMdt();
    const w = new WriteAnnouncer({ mdt, log });
    expect(await w.around('f', async () => 7)).toBe(7);
    expect(calls).toEqual(['mdt.pcc_write_open f', 'mdt.pcc_write_close f']);
  });

  it('announces nothing through handles of a file the MDT counts this client a writer of, untracked', async () => {
    const { calls, mdt } = fakeMdt();
    const untracked = new Set(['u']);
    const w = new WriteAnnouncer({ mdt, log, writeUntracked: (fid) => untracked.has(fid) });
    await w.beforeChange('u', 1);
    await w.beforeChange('t', 2);
    expect(calls).toEqual(['mdt.pcc_write_open t']);
    expect(w.writingCount).toBe(1);
    // A change with no handle (truncate by path) is announced: no open of ours covers its end.
    await w.around('u', async () => undefined);
    expect(calls).toEqual(['mdt.pcc_write_open t', 'mdt.pcc_write_open u', 'mdt.pcc_write_close u']);
    await w.released('u', 1);
    await w.released('t', 2);
    expect(w.writingCount).toBe(0);
  });
});
