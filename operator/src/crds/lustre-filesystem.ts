import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { celRules, immutable } from './cel.ts';
import type { CrdDefinition } from './definition.ts';
import {
  Affinity,
  conditions,
  NodeSelector,
  ObservedGeneration,
  ResourceRequirements,
  secretKeyRef,
  sizeQuantity,
  Toleration,
} from './k8s-types.ts';
import { LayoutComponents } from './layout-components.ts';

/** Lustre's MAXFSNAME (8): the fsname is part of every target name (`fs1-OST0000`). */
const FSNAME_LENGTH_MAX = 8;
/** Target names carry the index in four hex digits (`fs1-OST000a`), so indexes stop at 0xffff. */
const TARGET_COUNT_MAX = 0xffff;
/** The port LNet listens on in Lustre; ours is configurable but starts from the familiar number. */
const LUSTRE_PORT = 988;

/** What every role (MGS, MDT, OST) has besides its count: where its pods run and what they get. */
function targetFields(role: string) {
  return {
    storage: Type.Object(
      {
        size: sizeQuantity('storage.size', `Capacity of each ${role}'s volume, e.g. 100Gi.`),
        storageClassName: Type.Optional(
          Type.String({
            maxLength: 253,
            description: "StorageClass of the NVMe-backed claim; omitted: the cluster's default class.",
          }),
        ),
      },
      {
        description: `The PersistentVolumeClaim each ${role} stores its target in.`,
        ...celRules({
          rule: 'self == oldSelf',
          message:
            `${role} storage cannot change once set: every ${role}'s claim was made from it (StatefulSet ` +
            'volumeClaimTemplates are immutable); expand the PersistentVolumeClaims themselves instead',
        }),
      },
    ),
    nodeSelector: Type.Optional(NodeSelector),
    tolerations: Type.Optional(Type.Array(Toleration, { maxItems: 32 })),
    affinity: Type.Optional(Affinity),
    resources: Type.Optional(ResourceRequirements),
  };
}

function targetSpec<C extends TSchema>(role: string, count: C, description: string) {
  return Type.Object({ count, ...targetFields(role) }, { description });
}

/** A count of MDTs or OSTs: at least one, and never lowered (Lustre cannot drop a target's objects). */
function growOnlyCount(plural: string, why: string) {
  return Type.Integer({
    maximum: TARGET_COUNT_MAX,
    description: `How many ${plural}. Can grow, not shrink.`,
    ...celRules(
      { rule: 'self >= 1', message: `${plural.toLowerCase()}.count must be at least 1: ${why}` },
      {
        rule: 'self >= oldSelf',
        message: `${plural.toLowerCase()}.count cannot be lowered: Lustre cannot remove a target that holds data`,
      },
    ),
  });
}

export const LustreFileSystemSpec = Type.Object({
  fsName: Type.String({
    minLength: 1,
    // Generous bound so an overlong name reaches the CEL rule and its message; also caps CEL's cost.
    maxLength: 64,
    description: "Lustre's filesystem name (at most 8 of [a-zA-Z0-9_-]); clients mount HOST:PORT:/fsName.",
    ...celRules(
      {
        rule: `size(self) <= ${FSNAME_LENGTH_MAX}`,
        message: "fsName is at most 8 characters (Lustre's limit)",
      },
      {
        rule: "self.matches('^[a-zA-Z0-9_-]+$')",
        message: "fsName may contain only letters, digits, '_' and '-'",
      },
      immutable('fsName'),
    ),
  }),
  mgs: targetSpec(
    'MGS',
    Type.Optional(
      Type.Integer({
        default: 1,
        description: 'Always 1.',
        ...celRules({ rule: 'self == 1', message: 'mgs.count must be 1: a filesystem has exactly one MGS' }),
      }),
    ),
    'The management server: configuration and the registry of targets.',
  ),
  mdts: targetSpec(
    'MDT',
    growOnlyCount('MDTs', 'the namespace lives on the MDTs'),
    'Metadata targets: the namespace, and Data-on-MDT file data.',
  ),
  osts: targetSpec(
    'OST',
    growOnlyCount('OSTs', 'file data lives on the OSTs'),
    'Object storage targets: file data.',
  ),
  defaultLayout: Type.Optional(
    Type.Object(
      {
        policyName: Type.Optional(
          Type.String({ minLength: 1, maxLength: 253, description: 'A LayoutPolicy.' }),
        ),
        components: Type.Optional(LayoutComponents),
      },
      {
        description:
          "The filesystem's default layout: a LayoutPolicy in this namespace, or inline components.",
        ...celRules({
          rule: 'has(self.policyName) != has(self.components)',
          message: 'defaultLayout takes either policyName or components, exactly one',
        }),
      },
    ),
  ),
  image: Type.Optional(
    Type.String({
      maxLength: 512,
      description: "The target-server image; omitted: the operator's own version.",
    }),
  ),
  targetPort: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: 65535,
      default: LUSTRE_PORT,
      description: 'The port every target listens on.',
    }),
  ),
  sharedKeySecretRef: secretKeyRef('The Secret holding the key targets and clients authenticate with.'),
  reclaimPolicy: Type.Optional(
    Type.Union([Type.Literal('Retain'), Type.Literal('Delete')], {
      default: 'Retain',
      description:
        "What deleting the filesystem does to its targets' PersistentVolumeClaims: Retain keeps them " +
        '(the data survives and a filesystem of the same name finds it again), Delete removes them.',
    }),
  ),
});

export const LustreFileSystemStatus = Type.Object({
  phase: Type.Optional(
    Type.Union([
      Type.Literal('Pending'),
      Type.Literal('Progressing'),
      Type.Literal('Ready'),
      Type.Literal('Degraded'),
    ]),
  ),
  conditions: Type.Optional(conditions(['Ready', 'Progressing', 'Degraded'] as const)),
  observedGeneration: Type.Optional(ObservedGeneration),
  ready: Type.Optional(
    Type.Object(
      {
        mgs: Type.Integer({ minimum: 0 }),
        mdts: Type.Integer({ minimum: 0 }),
        osts: Type.Integer({ minimum: 0 }),
      },
      { description: 'Targets registered with the MGS and serving, per role.' },
    ),
  ),
  capacity: Type.Optional(
    Type.Object(
      {
        total: Type.Optional(Type.String({ maxLength: 64, description: 'OST space in total, e.g. 2Ti.' })),
        free: Type.Optional(Type.String({ maxLength: 64, description: 'OST space free.' })),
      },
      { description: 'As the MGS reports it, summed over the OSTs.' },
    ),
  ),
  mountTarget: Type.Optional(
    Type.String({ maxLength: 512, description: 'What clients mount: HOST:PORT:/fsname.' }),
  ),
});

export type LustreFileSystemSpec = Static<typeof LustreFileSystemSpec>;
export type LustreFileSystemStatus = Static<typeof LustreFileSystemStatus>;

export const lustreFileSystemCrd: CrdDefinition = {
  kind: 'LustreFileSystem',
  plural: 'lustrefilesystems',
  shortName: 'klfs',
  scope: 'Namespaced',
  description: 'A Lustre filesystem: its MGS, MDTs and OSTs run as StatefulSets in this namespace.',
  spec: LustreFileSystemSpec,
  status: LustreFileSystemStatus,
  printerColumns: [
    { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
    { name: 'MDTs', type: 'integer', jsonPath: '.status.ready.mdts', description: 'Ready MDTs.' },
    { name: 'OSTs', type: 'integer', jsonPath: '.status.ready.osts', description: 'Ready OSTs.' },
    { name: 'Capacity', type: 'string', jsonPath: '.status.capacity.total' },
    { name: 'FSName', type: 'string', jsonPath: '.spec.fsName', priority: 1 },
    { name: 'Mount', type: 'string', jsonPath: '.status.mountTarget', priority: 1 },
  ],
};
