import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { CsiError } from './csi-error.ts';
import { redactSecrets } from './rpc-handler.ts';
import { KeyedMutex, VolumeLocks } from './volume-locks.ts';

describe('VolumeLocks', () => {
  it('answers ABORTED while the volume is busy and frees it after', () => {
    const locks = new VolumeLocks();
    {
      using _a = locks.acquire('v1');
      using _b = locks.acquire('v2');
      expect(() => locks.acquire('v1')).toThrow(CsiError);
      try {
        locks.acquire('v1');
      } catch (e) {
        expect((e as CsiError).code).toBe(status.ABORTED);
      }
    }
    using _again = locks.acquire('v1');
  });
});

describe('KeyedMutex', () => {
  it('runs work for one key one at a time, in order, even when some fails', async () => {
    const mutex = new KeyedMutex();
    const order: string[] = [];
    const step = (name: string, ms: number, fail = false) =>
      mutex.run('fs', async () => {
        order.push(`start ${name}`);
        await new Promise((r) => setTimeout(r, ms));
        order.push(`end ${name}`);
        if (fail) throw new Error(name);
        return name;
      });
    const results = await Promise.allSettled([step('a', 20, true), step('b', 1), step('c', 1)]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled', 'fulfilled']);
    expect(order).toEqual(['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
  });
});

describe('redactSecrets', () => {
  it('keeps the keys of every secrets map and drops the values', () => {
    const req = { volumeId: 'v', secrets: { key: 'abc' }, nested: [{ secrets: { token: 't' } }] };
    expect(redactSecrets(req)).toEqual({
      volumeId: 'v',
      secrets: { key: '<redacted>' },
      nested: [{ secrets: { token: '<redacted>' } }],
    });
  });
});
