import { describe, expect, it } from 'vitest';
import type { Secret } from '../k8s/objects.ts';
import { fsWith } from '../testing/policy-fixtures.ts';
import { sharedKeyOf } from './shared-key.ts';

const secret = (data: Record<string, string>): Secret => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name: 'demo-key' },
  data,
});
const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');

describe('sharedKeyOf', () => {
  it('reads hex text as the bytes it spells', () => {
    const key = sharedKeyOf(fsWith(1), secret({ key: b64(`${'0a'.repeat(32)}\n`) }));
    expect(key).toEqual({ ok: true, key: Buffer.alloc(32, 0x0a) });
  });

  it('takes binary keys as they are', () => {
    const raw = Buffer.alloc(40, 0xff);
    expect(sharedKeyOf(fsWith(1), secret({ key: b64(raw) }))).toEqual({ ok: true, key: raw });
  });

  it('says what is missing or too short', () => {
    expect(sharedKeyOf(fsWith(1), undefined)).toEqual({
      ok: false,
      reason: 'SharedKeyMissing',
      message: 'Secret demo-key does not exist',
    });
    expect(sharedKeyOf(fsWith(1), secret({ other: 'x' }))).toMatchObject({
      reason: 'SharedKeyMissing',
      message: 'Secret demo-key has no key "key"',
    });
    expect(sharedKeyOf(fsWith(1), secret({ key: b64('abcd') }))).toMatchObject({
      reason: 'SharedKeyInvalid',
      message: 'Secret demo-key key "key" holds 2 bytes of key; at least 32 are required',
    });
  });
});
