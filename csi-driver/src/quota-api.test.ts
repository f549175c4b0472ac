import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { mapError } from './csi-error.ts';
import { UnimplementedQuotaApi } from './quota-api.ts';

describe('UnimplementedQuotaApi', () => {
  it('claims no enforcement and answers UNIMPLEMENTED at the CSI edge', async () => {
    const quotas = new UnimplementedQuotaApi();
    expect(quotas.enforcesCapacity).toBe(false);
    const e = await quotas.setProjectQuota('/volumes/a').catch((err: unknown) => err);
    expect(mapError(e).code).toBe(status.UNIMPLEMENTED);
    const u = await quotas.getProjectUsage('/volumes/a').catch((err: unknown) => err);
    expect(mapError(u).code).toBe(status.UNIMPLEMENTED);
  });
});
