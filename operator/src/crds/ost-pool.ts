import { type Static, Type } from '@sinclair/typebox';
import { celRules, immutable } from './cel.ts';
import type { CrdDefinition } from './definition.ts';
import { conditions, ObservedGeneration, sizeQuantity } from './k8s-types.ts';

/**
 * An OST pool (`lctl pool_new fs.pool`, `pool_add`): a named set of OSTs that layouts allocate from,
 * with optional pool quotas. Whether the member indexes exist depends on the filesystem's OST count,
 * which CEL cannot read: the reconciler reports a missing OST as the Ready condition's reason.
 */

/** Lustre's LOV_MAXPOOLNAME: the object's name is the Lustre pool name. */
const POOL_NAME_LENGTH_MAX = 15;
const OST_INDEX_MAX = 0xffff;

const OstRange = Type.Object(
  {
    first: Type.Integer({ minimum: 0, maximum: OST_INDEX_MAX }),
    last: Type.Integer({ minimum: 0, maximum: OST_INDEX_MAX }),
  },
  {
    description: 'OSTs first..last, both included (lctl pool_add fs.pool OST[first-last]).',
    ...celRules({ rule: 'self.first <= self.last', message: 'an OST range needs first <= last' }),
  },
);

const QuotaLimit = Type.Object(
  {
    type: Type.Union([Type.Literal('User'), Type.Literal('Group'), Type.Literal('Project')]),
    id: Type.Integer({ minimum: 0, maximum: 0xffffffff, description: 'The uid, gid or project id.' }),
    blockSoftLimit: Type.Optional(
      sizeQuantity('blockSoftLimit', 'Space over which the grace period starts.'),
    ),
    blockHardLimit: Type.Optional(sizeQuantity('blockHardLimit', 'Space that cannot be exceeded.')),
  },
  {
    // Lustre's pool quotas limit blocks only: inode limits are per filesystem, not per pool.
    description: 'A pool quota (lfs setquota --pool) for one user, group or project.',
    ...celRules(
      {
        rule: 'has(self.blockSoftLimit) || has(self.blockHardLimit)',
        message: 'a quota sets blockSoftLimit, blockHardLimit or both',
      },
      {
        rule:
          '!has(self.blockSoftLimit) || !has(self.blockHardLimit) || !isQuantity(self.blockSoftLimit) || ' +
          '!isQuantity(self.blockHardLimit) || quantity(self.blockSoftLimit).compareTo(quantity(self.blockHardLimit)) <= 0',
        message: 'blockSoftLimit cannot exceed blockHardLimit',
      },
    ),
  },
);

export const OstPoolSpec = Type.Object({
  fileSystem: Type.String({
    minLength: 1,
    maxLength: 253,
    description: 'The LustreFileSystem, in this namespace.',
    ...celRules(immutable('fileSystem')),
  }),
  osts: Type.Object(
    {
      indexes: Type.Optional(
        Type.Array(Type.Integer({ minimum: 0, maximum: OST_INDEX_MAX }), {
          maxItems: 1024,
          'x-kubernetes-list-type': 'set',
        }),
      ),
      ranges: Type.Optional(Type.Array(OstRange, { maxItems: 64 })),
    },
    {
      description: 'The member OSTs by index: single indexes, ranges, or both.',
      ...celRules({
        rule: '(has(self.indexes) && size(self.indexes) > 0) || (has(self.ranges) && size(self.ranges) > 0)',
        message: 'a pool needs at least one OST in osts.indexes or osts.ranges',
      }),
    },
  ),
  quotas: Type.Optional(
    Type.Array(QuotaLimit, {
      maxItems: 256,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['type', 'id'],
    }),
  ),
});

export const OstPoolStatus = Type.Object({
  conditions: Type.Optional(conditions(['Ready'] as const)),
  observedGeneration: Type.Optional(ObservedGeneration),
  ostCount: Type.Optional(Type.Integer({ minimum: 0, description: 'OSTs in the pool.' })),
});

export type OstPoolSpec = Static<typeof OstPoolSpec>;
export type OstPoolStatus = Static<typeof OstPoolStatus>;

export const ostPoolCrd: CrdDefinition = {
  kind: 'OSTPool',
  plural: 'ostpools',
  shortName: 'klpool',
  scope: 'Namespaced',
  description: "A pool of a LustreFileSystem's OSTs; the object's name is the pool's name.",
  spec: OstPoolSpec,
  status: OstPoolStatus,
  objectRules: [
    {
      rule: `size(self.metadata.name) <= ${POOL_NAME_LENGTH_MAX}`,
      message: "an OSTPool's name is its Lustre pool name: at most 15 characters",
    },
    {
      rule: "!self.metadata.name.contains('.')",
      message: "an OSTPool's name is its Lustre pool name, which cannot contain '.'",
    },
  ],
  printerColumns: [
    { name: 'FileSystem', type: 'string', jsonPath: '.spec.fileSystem' },
    { name: 'OSTs', type: 'integer', jsonPath: '.status.ostCount' },
    { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
  ],
};
