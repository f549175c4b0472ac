import { KlError } from '@kubelustre/protocol/errors.ts';
import { describe, expect, it } from 'vitest';
import { retryWhileRestoring } from './restore-wait.ts';

describe('retryWhileRestoring', () => {
  it('retries EAGAIN until the call succeeds', async () => {
    let calls = 0;
    const r = await retryWhileRestoring(async () => {
      if (++calls < 3) throw new KlError('EAGAIN', 'restoring');
      return 'opened';
    });
    expect(r).toBe('opened');
    expect(calls).toBe(3);
  });

  it('gives up after the bound, and never retries other errors', async () => {
    const started = Date.now();
    await expect(
      retryWhileRestoring(async () => {
        throw new KlError('EAGAIN', 'restoring');
      }, 100),
    ).rejects.toMatchObject({ code: 'EAGAIN' });
    expect(Date.now() - started).toBeLessThan(1000);
    let calls = 0;
    await expect(
      retryWhileRestoring(async () => {
        calls++;
        throw new KlError('EIO', 'broken');
      }),
    ).rejects.toMatchObject({ code: 'EIO' });
    expect(calls).toBe(1);
  });
});
