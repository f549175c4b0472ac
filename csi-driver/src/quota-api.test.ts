import { describe, expect, it } from 'vitest';
import { PROJECT_ID_MIN, preferredProjectId } from './quota-api.ts';

describe('preferredProjectId', () => {
  it('is the same for the same name, differs between names, and stays in the volume range', () => {
    expect(preferredProjectId('pvc-1')).toBe(preferredProjectId('pvc-1'));
    expect(preferredProjectId('pvc-1')).not.toBe(preferredProjectId('pvc-2'));
    for (const name of ['a', 'pvc-0c5e', 'x'.repeat(250)]) {
      const id = preferredProjectId(name);
      expect(id).toBeGreaterThanOrEqual(PROJECT_ID_MIN);
      expect(id).toBeLessThan(2 ** 31);
    }
  });
});
