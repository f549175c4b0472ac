import { describe, expect, it } from 'vitest';
import { headroomFor } from './quota-master.ts';

describe('headroomFor', () => {
  it('leaves the limit less what every other OST holds or may still use', () => {
    expect(headroomFor(1000, [])).toBe(1000);
    expect(headroomFor(1000, [{ usedBytes: 300, grantedBytes: 0 }])).toBe(700);
    // An OST that did not answer the revoke keeps its grant, so it counts as held.
    expect(
      headroomFor(1000, [
        { usedBytes: 100, grantedBytes: 400 },
        { usedBytes: 200, grantedBytes: 0 },
      ]),
    ).toBe(400);
  });

  it('never grants below zero when the others already hold more than the limit', () => {
    expect(headroomFor(1000, [{ usedBytes: 5000, grantedBytes: 0 }])).toBe(0);
  });
});
