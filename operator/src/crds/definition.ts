import type { TSchema } from '@sinclair/typebox';
import type { CelRule } from './cel.ts';

export const API_GROUP = 'kubelustre.io';
export const API_VERSION = 'v1alpha1';
/** `kubectl get kubelustre` lists every kind. */
export const CATEGORY = 'kubelustre';

export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  jsonPath: string;
  description?: string;
  /** 1: shown only by `kubectl get -o wide`. */
  priority?: number;
}

/** One kind, as the TypeScript schemas describe it; generate.ts turns it into a CustomResourceDefinition. */
export interface CrdDefinition {
  kind: string;
  plural: string;
  shortName: string;
  scope: 'Namespaced' | 'Cluster';
  description: string;
  spec: TSchema;
  status: TSchema;
  /** Rules on the whole object, e.g. on metadata.name (the only metadata CEL can read besides generateName). */
  objectRules?: CelRule[];
  /** Columns before Age, which every kind gets last. */
  printerColumns: PrinterColumn[];
}
