import { describe, expect, it } from 'vitest';
import { DEFAULT_BUILD_CONTEXT } from '../builders/names.ts';
import type { Condition } from '../k8s/objects.ts';
import { fsWith, sts } from '../testing/policy-fixtures.ts';
import {
  type FsConfigValue,
  fileSystemStatus,
  type MgsView,
  type StatusInputs,
} from './filesystem-status.ts';

const now = new Date('2026-05-01T12:00:00.123Z');
const GIB = 1024 ** 3;

function config(up: Array<['mdt' | 'ost', number, number?]>): FsConfigValue {
  return {
    fsName: 'demo',
    version: 1,
    pools: {},
    defaultLayout: {
      composite: false,
      generation: 0,
      components: [
        { id: 0, start: 0, end: -1, pattern: 'raid0', stripeSize: 0, stripeCount: 0, stripeOffset: -1 },
      ],
    },
    targets: up.map(([role, index, gib]) => ({
      role,
      index,
      uuid: `${role}${index}`,
      address: `h:${index + 1}`,
      state: 'up',
      lastSeenMs: 1,
      ...(gib !== undefined && {
        space: {
          totalBytes: gib * GIB,
          freeBytes: gib * GIB,
          availBytes: (gib / 2) * GIB,
          files: 1,
          filesFree: 1,
        },
      }),
    })),
  };
}

function inputs(mgs: MgsView, extra: Partial<StatusInputs> = {}): StatusInputs {
  return {
    fs: fsWith(2),
    replicas: { mgs: 1, mdt: 1, ost: 2 },
    workloads: { mgs: sts(1, 1), mdt: sts(1, 1), ost: sts(2, 2) },
    mgs,
    problems: [],
    ctx: DEFAULT_BUILD_CONTEXT,
    now,
    ...extra,
  };
}

const cond = (s: { conditions?: unknown }, type: string) =>
  (s.conditions as Condition[]).find((c) => c.type === type);

describe('fileSystemStatus', () => {
  it('is Ready when the MGS answers and every target is up, with capacity summed over the OSTs', () => {
    const s = fileSystemStatus(
      inputs({
        state: 'reachable',
        config: config([
          ['mdt', 0],
          ['ost', 0, 100],
          ['ost', 1, 156],
        ]),
      }),
    );
    expect(s).toMatchObject({
      phase: 'Ready',
      observedGeneration: 3,
      ready: { mgs: 1, mdts: 1, osts: 2 },
      capacity: { total: '256Gi', free: '128Gi' },
      mountTarget: 'demo-mgs.ns.svc.cluster.local:988:/demo',
    });
    expect(cond(s, 'Ready')).toMatchObject({
      status: 'True',
      reason: 'AllTargetsReady',
      observedGeneration: 3,
      lastTransitionTime: '2026-05-01T12:00:00Z',
    });
    expect(cond(s, 'Progressing')).toMatchObject({ status: 'False', reason: 'Reconciled' });
    expect(cond(s, 'Degraded')).toMatchObject({ status: 'False', reason: 'AsExpected' });
  });

  it('is Progressing while an OST has not registered, and says how many are ready', () => {
    const s = fileSystemStatus(
      inputs({
        state: 'reachable',
        config: config([
          ['mdt', 0],
          ['ost', 0, 1],
        ]),
      }),
    );
    expect(s.phase).toBe('Progressing');
    expect(cond(s, 'Ready')).toMatchObject({
      status: 'False',
      reason: 'TargetsNotReady',
      message: 'Ready: MGS 1/1, MDTs 1/1, OSTs 1/2',
    });
    expect(cond(s, 'Progressing')).toMatchObject({ status: 'True', reason: 'WaitingForTargets' });
  });

  it('omits capacity until an OST has reported its space', () => {
    const s = fileSystemStatus(
      inputs({
        state: 'reachable',
        config: config([
          ['mdt', 0],
          ['ost', 0],
        ]),
      }),
    );
    expect(s.capacity).toBeUndefined();
  });

  it('is Pending with counts from the StatefulSets while the MGS pod is not ready', () => {
    const s = fileSystemStatus(inputs({ state: 'notReady' }, { workloads: { mgs: sts(1, 0) } }));
    expect(s).toMatchObject({ phase: 'Pending', ready: { mgs: 0, mdts: 0, osts: 0 } });
    expect(s.capacity).toBeUndefined();
  });

  it('says the MGS is unreachable when its pod is ready but it does not answer', () => {
    const s = fileSystemStatus(
      inputs({ state: 'unreachable', message: 'the MGS at x:988 did not answer: ETIMEDOUT' }),
    );
    expect(cond(s, 'Ready')).toMatchObject({
      status: 'False',
      reason: 'MGSUnreachable',
      message: 'the MGS at x:988 did not answer: ETIMEDOUT',
    });
    expect(s.ready).toEqual({ mgs: 0, mdts: 1, osts: 2 });
  });

  it('is Degraded with the first problem as reason and every problem in the message', () => {
    const problems = [
      { reason: 'ScaleDownRefused', message: 'a' },
      { reason: 'DefaultLayoutNotFound', message: 'b' },
    ];
    const s = fileSystemStatus(
      inputs(
        {
          state: 'reachable',
          config: config([
            ['mdt', 0],
            ['ost', 0],
            ['ost', 1],
          ]),
        },
        { problems },
      ),
    );
    expect(s.phase).toBe('Degraded');
    expect(cond(s, 'Degraded')).toMatchObject({
      status: 'True',
      reason: 'ScaleDownRefused',
      message: 'a; b',
    });
    expect(cond(s, 'Ready')?.status).toBe('True');
  });

  it('gives a missing shared key as the reason it is not ready', () => {
    const problems = [{ reason: 'SharedKeyMissing', message: 'Secret demo-key does not exist' }];
    const s = fileSystemStatus(inputs({ state: 'notReady' }, { problems, workloads: {} }));
    expect(cond(s, 'Ready')).toMatchObject({ status: 'False', reason: 'SharedKeyMissing' });
  });

  it("keeps a condition's lastTransitionTime while its status holds, and moves it when it changes", () => {
    const fs = fsWith(2);
    const before: Condition[] = [
      {
        type: 'Ready',
        status: 'True',
        reason: 'AllTargetsReady',
        message: 'x',
        lastTransitionTime: '2026-01-01T00:00:00Z',
      },
      {
        type: 'Degraded',
        status: 'True',
        reason: 'Old',
        message: 'x',
        lastTransitionTime: '2026-01-01T00:00:00Z',
      },
    ];
    fs.status = { conditions: before as never };
    const s = fileSystemStatus(
      inputs(
        {
          state: 'reachable',
          config: config([
            ['mdt', 0],
            ['ost', 0],
            ['ost', 1],
          ]),
        },
        { fs },
      ),
    );
    expect(cond(s, 'Ready')?.lastTransitionTime).toBe('2026-01-01T00:00:00Z');
    expect(cond(s, 'Degraded')?.lastTransitionTime).toBe('2026-05-01T12:00:00Z');
  });

  it('does not count targets beyond the replicas or down', () => {
    const c = config([
      ['mdt', 0],
      ['ost', 0],
      ['ost', 1],
      ['ost', 7],
    ]);
    c.targets[1]!.state = 'down';
    const s = fileSystemStatus(inputs({ state: 'reachable', config: c }));
    expect(s.ready).toEqual({ mgs: 1, mdts: 1, osts: 1 });
  });
});
