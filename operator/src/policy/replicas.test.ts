import { describe, expect, it } from 'vitest';
import { fsWith, sts } from '../testing/policy-fixtures.ts';
import { planReplicas } from './replicas.ts';

describe('planReplicas', () => {
  it('takes the spec counts for new StatefulSets', () => {
    expect(planReplicas(fsWith(4), {})).toEqual({ replicas: { mgs: 1, mdt: 1, ost: 4 }, problems: [] });
  });

  it('grows a StatefulSet to the spec', () => {
    expect(planReplicas(fsWith(4), { ost: sts(2) }).replicas.ost).toBe(4);
  });

  it('refuses to shrink a StatefulSet that runs more OSTs, saying why', () => {
    const plan = planReplicas(fsWith(2), { ost: sts(3) });
    expect(plan.replicas.ost).toBe(3);
    expect(plan.problems).toEqual([
      {
        reason: 'ScaleDownRefused',
        message:
          'spec.osts.count is 2 but StatefulSet demo-ost runs 3 OSTs: removing an OST would lose the data on it ' +
          '(Lustre cannot migrate it off), so all 3 are kept',
      },
    ]);
  });

  it('refuses for MDTs too, and names the MDT count field', () => {
    expect(planReplicas(fsWith(1), { mdt: sts(2) }).problems[0]?.message).toMatch(
      /^spec\.mdts\.count is 1 but StatefulSet demo-mdt runs 2 MDTs/,
    );
  });
});
