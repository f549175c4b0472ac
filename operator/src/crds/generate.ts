import { join } from 'node:path';
import { stringify } from 'yaml';
import { API_GROUP, API_VERSION, CATEGORY, type CrdDefinition } from './definition.ts';
import { layoutPolicyCrd } from './layout-policy.ts';
import { lustreFileSystemCrd } from './lustre-filesystem.ts';
import { ostPoolCrd } from './ost-pool.ts';
import { pccClassCrd } from './pcc-class.ts';
import { toStructural } from './structural.ts';

/** Where the generated CRDs live: the repository's crds/. */
export const CRD_DIR = join(import.meta.dirname, '..', '..', '..', 'crds');

/** Every kind we define, in the order `crds/` lists them. */
export const crdDefinitions: readonly CrdDefinition[] = [
  lustreFileSystemCrd,
  ostPoolCrd,
  layoutPolicyCrd,
  pccClassCrd,
];

/** The CustomResourceDefinition of one kind: the plain object that is written to crds/ and applied. */
export function customResourceDefinition(def: CrdDefinition) {
  const singular = def.kind.toLowerCase();
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${def.plural}.${API_GROUP}`,
      labels: { 'app.kubernetes.io/part-of': 'kubelustre' },
    },
    spec: {
      group: API_GROUP,
      names: {
        kind: def.kind,
        listKind: `${def.kind}List`,
        plural: def.plural,
        singular,
        shortNames: [def.shortName],
        categories: [CATEGORY],
      },
      scope: def.scope,
      versions: [
        {
          name: API_VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            ...def.printerColumns,
            // Listing any column drops kubectl's default Age, so it is added back, last as usual.
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: { openAPIV3Schema: objectSchema(def) },
        },
      ],
    },
  };
}

export type CustomResourceDefinition = ReturnType<typeof customResourceDefinition>;

function objectSchema(def: CrdDefinition) {
  const rules = def.objectRules ?? [];
  return {
    description: def.description,
    type: 'object',
    required: ['spec'],
    properties: {
      apiVersion: { type: 'string' },
      kind: { type: 'string' },
      metadata: { type: 'object' },
      spec: toStructural(def.spec, 'spec'),
      status: toStructural(def.status, 'status'),
    },
    ...(rules.length > 0 ? { 'x-kubernetes-validations': rules } : {}),
  };
}

/** The file in crds/ holding a kind's CRD (kubebuilder's naming: group_plural.yaml). */
export function crdFileName(def: CrdDefinition): string {
  return `${API_GROUP}_${def.plural}.yaml`;
}

/** The text of a kind's file in crds/: what write-crds.ts writes and crds.test.ts compares. */
export function renderCrdYaml(def: CrdDefinition): string {
  const header =
    '# Generated from operator/src/crds by `node operator/src/crds/write-crds.ts`: do not edit.\n';
  // lineWidth 0: never fold long strings (CEL rules, patterns), so diffs stay one line per change.
  return header + stringify(customResourceDefinition(def), { lineWidth: 0 });
}
