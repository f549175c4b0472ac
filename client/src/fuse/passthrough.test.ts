import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '@kubelustre/protocol/log.ts';
import { afterAll, describe, expect, it } from 'vitest';
import { FOPEN_DIRECT_IO, FOPEN_KEEP_CACHE, FOPEN_PASSTHROUGH } from './kernel-abi.ts';
import { type BackingFiles, type BackingOpened, PassthroughTable } from './passthrough.ts';

/** Fake backing files: ids from 1, a scripted failure, and what is still open. */
class FakeBackingFiles implements BackingFiles {
  readonly openIds = new Set<number>();
  fail: string | undefined;
  #next = 1;

  open(_fd: number): BackingOpened {
    if (this.fail) return { error: this.fail };
    const id = this.#next++;
    this.openIds.add(id);
    return { backingId: id };
  }

  close(id: number): void {
    expect(this.openIds.delete(id)).toBe(true);
  }
}

const dir = mkdtempSync(join(tmpdir(), 'kl-pt-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const fds: number[] = [];
afterAll(() => {
  for (const fd of fds) closeSync(fd);
});

function copyFd(name: string): number {
  writeFileSync(join(dir, name), name);
  const fd = openSync(join(dir, name), 'r');
  fds.push(fd);
  return fd;
}

const O_RDONLY = 0;
const O_RDWR = 2;

describe('PassthroughTable', () => {
  it('passes a read-only open through, shares the backing id per inode, closes it at the last release', () => {
    const backing = new FakeBackingFiles();
    const t = new PassthroughTable(backing, silentLogger);
    const fd = copyFd('a');
    const a = t.onOpen(2, O_RDONLY, { fh: 10, openFlags: FOPEN_KEEP_CACHE, passthroughFd: fd });
    expect(a).toEqual({ fh: 10, openFlags: FOPEN_PASSTHROUGH, backingId: 1 });
    // The same copy again (another fd on it): the same backing id, no new registration.
    const fd2 = openSync(join(dir, 'a'), 'r');
    fds.push(fd2);
    expect(t.onOpen(2, O_RDONLY, { fh: 11, openFlags: 0, passthroughFd: fd2 })).toEqual({
      fh: 11,
      openFlags: FOPEN_PASSTHROUGH,
      backingId: 1,
    });
    // A writer while readers pass through: must be a passthrough open too, with reads/writes to us.
    expect(t.onOpen(2, O_RDWR, { fh: 12, openFlags: FOPEN_KEEP_CACHE })).toEqual({
      fh: 12,
      openFlags: FOPEN_PASSTHROUGH | FOPEN_DIRECT_IO,
      backingId: 1,
    });
    // Another copy of the file (re-attached): not the registered one, so reads come to us.
    expect(t.onOpen(2, O_RDONLY, { fh: 13, openFlags: 0, passthroughFd: copyFd('b') }).openFlags).toBe(
      FOPEN_PASSTHROUGH | FOPEN_DIRECT_IO,
    );
    expect(t.registered).toBe(1);
    for (const fh of [10, 11, 12]) t.onRelease(fh);
    expect(backing.openIds.size).toBe(1);
    t.onRelease(13);
    expect(backing.openIds.size).toBe(0);
    // All closed: the next open registers afresh.
    expect(t.onOpen(2, O_RDONLY, { fh: 14, openFlags: 0, passthroughFd: fd })).toMatchObject({
      backingId: 2,
    });
  });

  it('never passes through while the inode is open without passthrough, nor a write open', () => {
    const backing = new FakeBackingFiles();
    const t = new PassthroughTable(backing, silentLogger);
    const fd = copyFd('c');
    expect(t.onOpen(3, O_RDONLY, { fh: 20, openFlags: FOPEN_KEEP_CACHE })).toEqual({
      fh: 20,
      openFlags: FOPEN_KEEP_CACHE,
    });
    expect(t.onOpen(3, O_RDONLY, { fh: 21, openFlags: 0, passthroughFd: fd })).toEqual({
      fh: 21,
      openFlags: 0,
    });
    expect(t.onOpen(4, O_RDWR, { fh: 22, openFlags: 0, passthroughFd: fd })).toEqual({
      fh: 22,
      openFlags: 0,
    });
    t.onRelease(20);
    t.onRelease(21);
    expect(t.onOpen(3, O_RDONLY, { fh: 23, openFlags: 0, passthroughFd: fd }).openFlags).toBe(
      FOPEN_PASSTHROUGH,
    );
    expect(backing.openIds.size).toBe(1);
  });

  it('turns passthrough off for the connection on EPERM, but not on a per-file failure', () => {
    const backing = new FakeBackingFiles();
    const t = new PassthroughTable(backing, silentLogger);
    const fd = copyFd('d');
    backing.fail = 'EBADF';
    expect(t.onOpen(5, O_RDONLY, { fh: 30, openFlags: 0, passthroughFd: fd }).openFlags).toBe(0);
    t.onRelease(30);
    backing.fail = 'EPERM';
    expect(t.onOpen(5, O_RDONLY, { fh: 31, openFlags: 0, passthroughFd: fd }).openFlags).toBe(0);
    t.onRelease(31);
    expect(t.disabledBy).toBe('EPERM');
    backing.fail = undefined;
    expect(t.onOpen(5, O_RDONLY, { fh: 32, openFlags: 0, passthroughFd: fd }).openFlags).toBe(0);
    expect(t.registered).toBe(0);
  });

  it('refuses an fd that is not open without asking the kernel', () => {
    const backing = new FakeBackingFiles();
    const t = new PassthroughTable(backing, silentLogger);
    expect(t.onOpen(6, O_RDONLY, { fh: 40, openFlags: 0, passthroughFd: 1_000_000 }).openFlags).toBe(0);
    expect([t.registered, t.disabledBy]).toEqual([0, undefined]);
  });
});
