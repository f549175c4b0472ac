import { describe, expect, it } from 'vitest';
import { negotiateInit, readBufferBytes, WANTED_INIT_FLAGS } from './init.ts';
import { InitFlag, InitFlag2 } from './kernel-abi.ts';

const ALL_FLAGS = 0xffffffff | 0;

describe('FUSE INIT negotiation', () => {
  it('speaks the smaller minor and asks only for flags the kernel offered', () => {
    const offered =
      InitFlag.ASYNC_READ | InitFlag.WRITEBACK_CACHE | InitFlag.BIG_WRITES | InitFlag.POSIX_LOCKS;
    const { reply, flags } = negotiateInit({
      major: 7,
      minor: 45,
      maxReadahead: 131072,
      flags: offered,
      flags2: 0,
    });
    expect(reply?.minor).toBe(40);
    expect(flags).toBe(InitFlag.ASYNC_READ | InitFlag.BIG_WRITES);
    expect(negotiateInit({ major: 7, minor: 31, maxReadahead: 0, flags: 0, flags2: 0 }).reply?.minor).toBe(
      31,
    );
  });

  it('keeps the page cache write-through and leaves locks, splice and ACLs to the kernel', () => {
    const { flags, setxattrExt } = negotiateInit({
      major: 7,
      minor: 45,
      maxReadahead: 131072,
      flags: ALL_FLAGS,
      flags2: ALL_FLAGS,
    });
    expect(flags).toBe(WANTED_INIT_FLAGS);
    for (const off of [
      'WRITEBACK_CACHE',
      'POSIX_LOCKS',
      'FLOCK_LOCKS',
      'SPLICE_READ',
      'POSIX_ACL',
      'EXPORT_SUPPORT',
    ] as const) {
      expect(flags & InitFlag[off]).toBe(0);
    }
    expect(setxattrExt).toBe(true);
  });

  it('asks for 1 MiB requests (256 pages), nanosecond times and 64 background requests', () => {
    const { reply } = negotiateInit({
      major: 7,
      minor: 45,
      maxReadahead: 131072,
      flags: ALL_FLAGS,
      flags2: 0,
    });
    expect(reply).toMatchObject({
      maxWrite: 1 << 20,
      maxPages: 256,
      timeGran: 1,
      maxBackground: 64,
      congestionThreshold: 48,
      maxReadahead: 131072,
      flags2: 0,
      maxStackDepth: 0,
    });
    expect(readBufferBytes({ maxWriteBytes: 1 << 20, maxBackground: 64 })).toBe((1 << 20) + 4096);
  });

  it('answers a newer major with ours only, and refuses an older one', () => {
    const newer = negotiateInit({ major: 8, minor: 0, maxReadahead: 0, flags: ALL_FLAGS, flags2: 0 });
    expect(newer.reply).toMatchObject({ major: 7, minor: 40, flags: 0, maxWrite: 0 });
    expect(negotiateInit({ major: 6, minor: 9, maxReadahead: 0, flags: 0, flags2: 0 }).reply).toBeUndefined();
  });

  it('asks for passthrough (flags2) with max_stack_depth 1 when the kernel offers it and we want it', () => {
    const offer = { major: 7, minor: 45, maxReadahead: 0, flags: ALL_FLAGS, flags2: InitFlag2.PASSTHROUGH };
    const on = negotiateInit(offer);
    expect(on.passthrough).toBe(true);
    expect(on.reply).toMatchObject({ flags2: InitFlag2.PASSTHROUGH, maxStackDepth: 1 });
    expect(on.flags & InitFlag.WRITEBACK_CACHE).toBe(0);
    const off = negotiateInit(offer, undefined, { passthrough: false });
    expect([off.passthrough, off.reply?.flags2, off.reply?.maxStackDepth]).toEqual([false, 0, 0]);
    const notOffered = negotiateInit({ ...offer, flags2: 0 });
    expect([notOffered.passthrough, notOffered.reply?.flags2]).toEqual([false, 0]);
    // Without INIT_EXT the kernel sent no flags2 and reads none back.
    const noExt = negotiateInit({ ...offer, flags: InitFlag.ASYNC_READ });
    expect(noExt.passthrough).toBe(false);
  });
});
