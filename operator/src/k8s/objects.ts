import type { LayoutPolicySpec, LayoutPolicyStatus } from '../crds/layout-policy.ts';
import type { LustreFileSystemSpec, LustreFileSystemStatus } from '../crds/lustre-filesystem.ts';
import type { OstPoolSpec, OstPoolStatus } from '../crds/ost-pool.ts';
import type { PccClassSpec, PccClassStatus } from '../crds/pcc-class.ts';

/**
 * The objects the operator reads and writes, as plain JSON. Only the fields the operator uses are typed;
 * everything else passes through untouched.
 */

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: OwnerReference[];
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
}

export interface LustreFileSystem extends KubeObject {
  spec: LustreFileSystemSpec;
  status?: LustreFileSystemStatus;
}

export interface OstPool extends KubeObject {
  spec: OstPoolSpec;
  status?: OstPoolStatus;
}

export interface LayoutPolicy extends KubeObject {
  spec: LayoutPolicySpec;
  status?: LayoutPolicyStatus;
}

export interface PccClass extends KubeObject {
  spec: PccClassSpec;
  status?: PccClassStatus;
}

export interface StatefulSet extends KubeObject {
  spec: { replicas?: number; [field: string]: unknown };
  status?: { replicas?: number; readyReplicas?: number; observedGeneration?: number };
}

export interface Secret extends KubeObject {
  data?: Record<string, string>;
}

/** A metav1.Condition. */
export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  observedGeneration?: number;
  lastTransitionTime: string;
}
