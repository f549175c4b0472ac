import { describe, expect, it } from 'vitest';
import { formatPccState, formatPccStats, newPccCounters, parsePccCommand } from './pcc-state.ts';

describe('lustre.pcc values', () => {
  it('parses attach and detach commands', () => {
    expect(parsePccCommand(Buffer.from('attach'))).toEqual({
      op: 'attach',
      archiveId: undefined,
      readWrite: false,
    });
    expect(parsePccCommand(Buffer.from('attach 3\0'))).toEqual({
      op: 'attach',
      archiveId: 3,
      readWrite: false,
    });
    expect(parsePccCommand(Buffer.from('attach_rw 2'))).toEqual({
      op: 'attach',
      archiveId: 2,
      readWrite: true,
    });
    expect(parsePccCommand(Buffer.from('detach'))).toEqual({ op: 'detach' });
    expect(parsePccCommand(Buffer.from('attach_rw 2 0x200000400:0x2a:0x0'))).toEqual({
      op: 'attach',
      archiveId: 2,
      readWrite: true,
      fid: '0x200000400:0x2a:0x0',
    });
    expect(parsePccCommand(Buffer.from('detach 0x1:0x2:0x0'))).toEqual({ op: 'detach', fid: '0x1:0x2:0x0' });
    for (const bad of [
      '',
      'attach 0',
      'attach x',
      'detach 1',
      'attach 1 2',
      'state',
      'attach 0x1:0x2:0x0 1',
    ]) {
      expect(() => parsePccCommand(Buffer.from(bad))).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    }
  });

  it('prints state as Lustre lfs does', () => {
    expect(formatPccState('/mnt/f', { enabled: true, type: 'none' })).toBe('file: /mnt/f, type: none\n');
    const attached = { enabled: true, type: 'readonly' as const, path: '/nvme/0x1:0x2:0x0', users: 2 };
    expect(formatPccState('/mnt/f', attached)).toBe(
      'file: /mnt/f, type: readonly, PCC file: /nvme/0x1:0x2:0x0, user number: 2, flags: 0\n',
    );
    const counters = { ...newPccCounters(), hits: 4, bytesFromCache: 10 };
    expect(formatPccStats({ enabled: true, type: 'none', attachedFiles: 1, counters })).toBe(
      'pcc: enabled, attached files: 1, hits: 4, misses: 0, bytes from cache: 10, attaches: 0, detaches: 0, ' +
        'evictions: 0, writebacks: 0, passthrough opens: 0, cache bytes used: 0\n',
    );
  });
});
