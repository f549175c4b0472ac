import { fileURLToPath } from 'node:url';
import { loadPackageDefinition, type ServiceDefinition } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';

const PROTO_PATH = fileURLToPath(new URL('../proto/csi.proto', import.meta.url));

/**
 * How messages look in TypeScript: camelCase fields, enums as their names, int64 as numbers (byte and
 * inode counts stay far below 2^53), every field present with its default (as proto3 has no "unset"
 * but for messages, which stay null).
 */
const definition = loadSync(PROTO_PATH, {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
});

interface CsiPackage {
  csi: {
    v1: Record<'Identity' | 'Controller' | 'Node', { service: ServiceDefinition }>;
  };
}

const csiV1 = (loadPackageDefinition(definition) as unknown as CsiPackage).csi.v1;

export const identityService = csiV1.Identity.service;
export const controllerService = csiV1.Controller.service;
export const nodeService = csiV1.Node.service;

export type AccessModeName =
  | 'UNKNOWN'
  | 'SINGLE_NODE_WRITER'
  | 'SINGLE_NODE_READER_ONLY'
  | 'MULTI_NODE_READER_ONLY'
  | 'MULTI_NODE_SINGLE_WRITER'
  | 'MULTI_NODE_MULTI_WRITER'
  | 'SINGLE_NODE_SINGLE_WRITER'
  | 'SINGLE_NODE_MULTI_WRITER';

export interface VolumeCapability {
  block?: Record<string, never> | null;
  mount?: { fsType: string; mountFlags: string[]; volumeMountGroup: string } | null;
  accessType?: 'block' | 'mount';
  accessMode: { mode: AccessModeName } | null;
}

export type StringMap = Record<string, string>;

export interface Volume {
  capacityBytes: number;
  volumeId: string;
  volumeContext: StringMap;
}

export interface CreateVolumeRequest {
  name: string;
  capacityRange: { requiredBytes: number; limitBytes: number } | null;
  volumeCapabilities: VolumeCapability[];
  parameters: StringMap;
  secrets: StringMap;
  volumeContentSource: object | null;
  mutableParameters: StringMap;
}

export interface DeleteVolumeRequest {
  volumeId: string;
  secrets: StringMap;
}

export interface ValidateVolumeCapabilitiesRequest {
  volumeId: string;
  volumeContext: StringMap;
  volumeCapabilities: VolumeCapability[];
  parameters: StringMap;
  secrets: StringMap;
  mutableParameters: StringMap;
}

export interface ListVolumesRequest {
  maxEntries: number;
  startingToken: string;
}

export interface GetCapacityRequest {
  volumeCapabilities: VolumeCapability[];
  parameters: StringMap;
}

export interface NodeStageVolumeRequest {
  volumeId: string;
  stagingTargetPath: string;
  volumeCapability: VolumeCapability | null;
  secrets: StringMap;
  volumeContext: StringMap;
}

export interface NodeUnstageVolumeRequest {
  volumeId: string;
  stagingTargetPath: string;
}

export interface NodePublishVolumeRequest {
  volumeId: string;
  stagingTargetPath: string;
  targetPath: string;
  volumeCapability: VolumeCapability | null;
  readonly: boolean;
  secrets: StringMap;
  volumeContext: StringMap;
}

export interface NodeUnpublishVolumeRequest {
  volumeId: string;
  targetPath: string;
}

export interface NodeGetVolumeStatsRequest {
  volumeId: string;
  volumePath: string;
  stagingTargetPath: string;
}

export interface ControllerExpandVolumeRequest {
  volumeId: string;
  capacityRange: { requiredBytes: number; limitBytes: number } | null;
  secrets: StringMap;
  volumeCapability: VolumeCapability | null;
}

export interface NodeExpandVolumeRequest {
  volumeId: string;
  volumePath: string;
  capacityRange: { requiredBytes: number; limitBytes: number } | null;
  stagingTargetPath: string;
  volumeCapability: VolumeCapability | null;
  secrets: StringMap;
}
