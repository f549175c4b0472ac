import { type Static, Type } from '@sinclair/typebox';
import { celRules, immutable } from './cel.ts';
import type { CrdDefinition } from './definition.ts';
import { conditions, ObservedGeneration } from './k8s-types.ts';
import { LayoutComponents } from './layout-components.ts';

/**
 * A named layout (`lfs setstripe` on the filesystem root or on directories). Pools it names must exist
 * in the filesystem: the reconciler reports one that does not as the Ready condition's reason.
 */

const Directory = Type.String({
  minLength: 1,
  maxLength: 4096,
  description: "A directory inside the filesystem, from its root: '/projects/a'.",
  ...celRules(
    {
      rule: "self.startsWith('/')",
      message: "directories are absolute paths in the filesystem, starting with '/'",
    },
    {
      rule: "!self.contains('/../') && !self.endsWith('/..')",
      message: "directories cannot contain '..'",
    },
  ),
});

export const LayoutPolicySpec = Type.Object({
  fileSystem: Type.String({
    minLength: 1,
    maxLength: 253,
    description: 'The LustreFileSystem, in this namespace.',
    ...celRules(immutable('fileSystem')),
  }),
  components: LayoutComponents,
  appliesTo: Type.Object(
    {
      fileSystemDefault: Type.Optional(Type.Boolean({ description: "The filesystem's default layout." })),
      directories: Type.Optional(
        Type.Array(Directory, {
          maxItems: 128,
          'x-kubernetes-list-type': 'set',
          description: 'Directories whose default layout this is (new files inherit it).',
        }),
      ),
    },
    {
      description: "Where the layout applies: the filesystem's default, or directories' defaults.",
      ...celRules({
        rule:
          '(has(self.fileSystemDefault) && self.fileSystemDefault) != ' +
          '(has(self.directories) && size(self.directories) > 0)',
        message: 'appliesTo takes either fileSystemDefault: true or a list of directories, exactly one',
      }),
    },
  ),
});

export const LayoutPolicyStatus = Type.Object({
  conditions: Type.Optional(conditions(['Ready'] as const)),
  observedGeneration: Type.Optional(ObservedGeneration),
});

export type LayoutPolicySpec = Static<typeof LayoutPolicySpec>;
export type LayoutPolicyStatus = Static<typeof LayoutPolicyStatus>;

export const layoutPolicyCrd: CrdDefinition = {
  kind: 'LayoutPolicy',
  plural: 'layoutpolicies',
  shortName: 'kllayout',
  scope: 'Namespaced',
  description: 'A progressive file layout (PFL) for a LustreFileSystem: its default, or some directories.',
  spec: LayoutPolicySpec,
  status: LayoutPolicyStatus,
  printerColumns: [
    { name: 'FileSystem', type: 'string', jsonPath: '.spec.fileSystem' },
    { name: 'Default', type: 'boolean', jsonPath: '.spec.appliesTo.fileSystemDefault' },
    { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
  ],
};
