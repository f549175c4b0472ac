import { describe, expect, it } from 'vitest';
import { ClientLeases } from './leases.ts';

describe('ClientLeases', () => {
  it('expires holders silent for the lease, counting unknown holders as heard from now', () => {
    const leases = new ClientLeases();
    leases.touch('a', 1000);
    expect(leases.expired(['a', 'b'], 1500, 1000)).toEqual([]); // b: first seen now
    expect(leases.expired(['a', 'b'], 2000, 1000)).toEqual(['a']);
    leases.touch('a', 2000);
    expect(leases.expired(['a', 'b'], 2500, 1000)).toEqual(['b']);
  });

  it('forgets clients that no longer hold opens', () => {
    const leases = new ClientLeases();
    leases.touch('a', 0);
    expect(leases.expired([], 5000, 1000)).toEqual([]);
    // Holding opens again later, a is heard from at that check, not at its old touch.
    expect(leases.expired(['a'], 6000, 1000)).toEqual([]);
    expect(leases.expired(['a'], 7000, 1000)).toEqual(['a']);
  });
});
