import { describe, expect, it } from 'vitest';
import { fsWith, layoutPolicy } from '../testing/policy-fixtures.ts';
import { defaultLayoutSource } from './default-layout.ts';

describe('defaultLayoutSource', () => {
  it('has none when nothing names a default', () => {
    expect(
      defaultLayoutSource(fsWith(2), [layoutPolicy('dirs', { appliesTo: { directories: ['/a'] } })]),
    ).toEqual({ kind: 'none' });
  });

  it("prefers the filesystem's inline components", () => {
    const fs = fsWith(2, { defaultLayout: { components: [{ end: -1, stripeCount: 4 }] } });
    expect(defaultLayoutSource(fs, [layoutPolicy('p')])).toEqual({
      kind: 'inline',
      components: [{ end: -1, stripeCount: 4 }],
    });
  });

  it('takes the policy the filesystem names, even one not marked fileSystemDefault', () => {
    const fs = fsWith(2, { defaultLayout: { policyName: 'named' } });
    const named = layoutPolicy('named', { appliesTo: { directories: ['/x'] } });
    expect(defaultLayoutSource(fs, [layoutPolicy('other'), named])).toEqual({
      kind: 'policy',
      policy: named,
    });
  });

  it('reports a named policy that is missing or belongs to another filesystem', () => {
    const fs = fsWith(2, { defaultLayout: { policyName: 'gone' } });
    expect(defaultLayoutSource(fs, [])).toMatchObject({
      kind: 'problem',
      problem: { reason: 'DefaultLayoutNotFound' },
    });
    const foreign = layoutPolicy('gone', { fileSystem: 'other' });
    expect(defaultLayoutSource(fs, [foreign])).toMatchObject({
      problem: { message: 'LayoutPolicy gone belongs to another filesystem' },
    });
  });

  it('takes the oldest fileSystemDefault policy of this filesystem when several claim it', () => {
    const newer = layoutPolicy('b', {}, '2026-02-01T00:00:00Z');
    const older = layoutPolicy('z', {}, '2026-01-01T00:00:00Z');
    const foreign = layoutPolicy('a', { fileSystem: 'other' }, '2025-01-01T00:00:00Z');
    expect(defaultLayoutSource(fsWith(2), [newer, foreign, older])).toEqual({
      kind: 'policy',
      policy: older,
    });
  });
});
