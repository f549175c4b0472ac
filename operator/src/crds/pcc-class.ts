import { type Static, Type } from '@sinclair/typebox';
import { celRules } from './cel.ts';
import type { CrdDefinition } from './definition.ts';
import { conditions, labelSelector, ObservedGeneration, sizeQuantity } from './k8s-types.ts';

/**
 * Persistent Client Cache on client nodes (lpcc): a local cache that files are attached to, whole, by
 * rules. Cluster-scoped like a StorageClass: it describes nodes, not one namespace's workload.
 */

const ID_MAX = 0xffffffff;

const idList = (what: string) =>
  Type.Optional(
    Type.Array(Type.Integer({ minimum: 0, maximum: ID_MAX }), { maxItems: 64, description: what }),
  );

const AutoAttachRule = Type.Object(
  {
    fileNames: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 255 }), {
        maxItems: 32,
        description: "File name patterns (fname={'*.h5'}), shell globs on the last path component.",
      }),
    ),
    uids: idList('Owners (uid={...}).'),
    gids: idList('Groups (gid={...}).'),
    projids: idList('Project ids (projid={...}).'),
  },
  {
    description: 'Files matching every list given here (any value of a list) are attached on open.',
    ...celRules({
      rule: 'has(self.fileNames) || has(self.uids) || has(self.gids) || has(self.projids)',
      message: 'an autoAttach rule needs at least one of fileNames, uids, gids or projids',
    }),
  },
);

export const PccClassSpec = Type.Object({
  nodeSelector: Type.Optional(labelSelector('The client nodes with this cache; omitted: every node.')),
  cache: Type.Object(
    {
      hostPath: Type.Optional(Type.String({ maxLength: 4096, description: 'A directory on the node.' })),
      device: Type.Optional(
        Type.String({
          maxLength: 4096,
          description:
            'A local NVMe block device for the cache. Not implemented yet: volumes of such a class mount without PCC (the node plugin logs why); use hostPath.',
        }),
      ),
      size: sizeQuantity('cache.size', 'The most the cache holds, e.g. 500Gi.'),
    },
    {
      description: 'Where the cache lives on each node: hostPath or device, exactly one.',
      ...celRules(
        {
          rule: 'has(self.hostPath) != has(self.device)',
          message: 'cache takes either hostPath or device, exactly one',
        },
        {
          rule: "!has(self.hostPath) || self.hostPath.startsWith('/')",
          message: 'cache.hostPath must be absolute',
        },
        {
          rule: "!has(self.device) || self.device.startsWith('/dev/')",
          message: "cache.device must be under '/dev/'",
        },
      ),
    },
  ),
  mode: Type.Union([Type.Literal('readonly'), Type.Literal('readwrite')], {
    description:
      'readonly: reads are served from the cache; readwrite: writes go to the cache and sync back.',
  }),
  autoAttach: Type.Optional(Type.Array(AutoAttachRule, { maxItems: 32 })),
  eviction: Type.Optional(
    Type.Object(
      {
        highWatermarkPercent: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 90 })),
        lowWatermarkPercent: Type.Optional(Type.Integer({ minimum: 0, maximum: 99, default: 75 })),
      },
      {
        description:
          'Eviction starts when the cache is highWatermarkPercent full and stops at lowWatermarkPercent.',
        ...celRules({
          rule: 'self.lowWatermarkPercent < self.highWatermarkPercent',
          message: 'eviction.lowWatermarkPercent must be below highWatermarkPercent',
        }),
      },
    ),
  ),
});

export const PccClassStatus = Type.Object({
  conditions: Type.Optional(conditions(['Ready'] as const)),
  observedGeneration: Type.Optional(ObservedGeneration),
  readyNodes: Type.Optional(Type.Integer({ minimum: 0, description: 'Nodes whose cache is attached.' })),
});

export type PccClassSpec = Static<typeof PccClassSpec>;
export type PccClassStatus = Static<typeof PccClassStatus>;

export const pccClassCrd: CrdDefinition = {
  kind: 'PCCClass',
  plural: 'pccclasses',
  shortName: 'klpcc',
  scope: 'Cluster',
  description: 'A Persistent Client Cache for Lustre clients on a set of nodes.',
  spec: PccClassSpec,
  status: PccClassStatus,
  printerColumns: [
    { name: 'Mode', type: 'string', jsonPath: '.spec.mode' },
    { name: 'Size', type: 'string', jsonPath: '.spec.cache.size' },
    { name: 'Nodes', type: 'integer', jsonPath: '.status.readyNodes' },
  ],
};
