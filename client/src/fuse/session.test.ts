import { KlError } from '@kubelustre/protocol/errors.ts';
import { silentLogger } from '@kubelustre/protocol/log.ts';
import { describe, expect, it } from 'vitest';
import type { RequestChannel } from './device.ts';
import type { FuseOps } from './fuse-ops.ts';
import { InitFlag, Opcode } from './kernel-abi.ts';
import { FuseSession } from './session.ts';

interface Reply {
  unique: number;
  error: number;
  payload: Buffer;
}

/** A /dev/fuse stand-in: requests are queued by the test, replies recorded. */
class FakeFuseDevice implements RequestChannel {
  readonly replies: Reply[] = [];
  readonly #queue: Buffer[] = [];
  #waiting: (() => void) | undefined;
  #ended = false;
  #replied: (() => void) | undefined;

  push(opcode: number, unique: number, nodeid: number, body: Buffer): void {
    const header = Buffer.alloc(40);
    header.writeUInt32LE(40 + body.length, 0);
    header.writeUInt32LE(opcode, 4);
    header.writeBigUInt64LE(BigInt(unique), 8);
    header.writeBigUInt64LE(BigInt(nodeid), 16);
    this.#queue.push(Buffer.concat([header, body]));
    this.#waiting?.();
  }

  end(): void {
    this.#ended = true;
    this.#waiting?.();
  }

  async read(buf: Buffer): Promise<number | undefined> {
    while (this.#queue.length === 0 && !this.#ended) await new Promise<void>((r) => (this.#waiting = r));
    const next = this.#queue.shift();
    if (!next) return undefined;
    next.copy(buf);
    return next.length;
  }

  async write(parts: Buffer[]): Promise<boolean> {
    const b = Buffer.concat(parts);
    expect(b.readUInt32LE(0)).toBe(b.length);
    this.replies.push({
      unique: Number(b.readBigUInt64LE(8)),
      error: b.readInt32LE(4),
      payload: b.subarray(16),
    });
    this.#replied?.();
    return true;
  }

  /** Resolves once `count` replies were written in all. */
  async replied(count: number): Promise<void> {
    while (this.replies.length < count) await new Promise<void>((r) => (this.#replied = r));
  }

  clone(): RequestChannel {
    throw new Error('the fake serves one reader');
  }

  close(): void {}
}

const u64 = (n: number) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
};

function initBody(): Buffer {
  const b = Buffer.alloc(64);
  [7, 45, 131072, InitFlag.ASYNC_READ | InitFlag.INIT_EXT].forEach((v, i) => {
    b.writeUInt32LE(v >>> 0, i * 4);
  });
  return b;
}

describe('FuseSession', () => {
  it('answers every request exactly once, with ENOSYS, errnos, EIO and EINTR as due', async () => {
    const dev = new FakeFuseDevice();
    const read = Promise.withResolvers<Buffer>();
    const forgotten: Array<[number, number]> = [];
    let destroyed = false;
    const ops = {
      init: () => undefined,
      lookup: async () => {
        throw new KlError('ENOENT', 'no such entry');
      },
      getattr: async () => {
        throw new Error('a bug');
      },
      read: () => read.promise,
      forget: (nodeid: number, n: number) => forgotten.push([nodeid, n]),
      destroy: async () => {
        destroyed = true;
      },
    } as unknown as FuseOps;
    const session = new FuseSession({ device: dev, ops, log: silentLogger, readers: 1 });
    const running = session.run();

    dev.push(Opcode.INIT, 2, 0, initBody());
    await session.initialized;
    dev.push(Opcode.LOOKUP, 4, 1, Buffer.from('missing\0'));
    dev.push(Opcode.GETLK, 6, 1, Buffer.alloc(48));
    dev.push(Opcode.GETATTR, 8, 1, Buffer.alloc(16));
    dev.push(Opcode.READ, 10, 2, Buffer.alloc(40));
    dev.push(Opcode.FORGET, 12, 2, u64(3));
    await dev.replied(4);
    dev.push(Opcode.INTERRUPT, 14 | 1, 0, u64(10));
    dev.push(Opcode.INTERRUPT, 16 | 1, 0, u64(99));
    await dev.replied(6);
    read.resolve(Buffer.from('late'));
    dev.end();
    await running;

    const byUnique = new Map(dev.replies.map((r) => [r.unique, r]));
    expect(dev.replies.map((r) => r.unique).sort((a, b) => a - b)).toEqual([2, 4, 6, 8, 10, 17]);
    expect(byUnique.get(2)).toMatchObject({ error: 0 });
    expect(byUnique.get(2)?.payload.readUInt32LE(4)).toBe(40);
    expect(byUnique.get(4)?.error).toBe(-2);
    expect(byUnique.get(6)?.error).toBe(-38);
    expect(byUnique.get(8)?.error).toBe(-5);
    expect(byUnique.get(10)?.error).toBe(-4);
    expect(byUnique.get(17)?.error).toBe(-11);
    expect(forgotten).toEqual([[2, 3]]);
    expect(destroyed).toBe(true);
  });
});
