import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { status, type UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Logger } from '@kubelustre/protocol/log.ts';
import { CsiError } from './csi-error.ts';
import { unary } from './rpc-handler.ts';

export const DRIVER_NAME = 'csi.kubelustre.io';
export const DRIVER_VERSION = '0.1.0';

/** The mount helper the node runs for each filesystem (client/src/mount/mount-main.ts). */
const MOUNT_HELPER = fileURLToPath(import.meta.resolve('@kubelustre/client/mount/mount-main.ts'));

export interface IdentityOptions {
  /** Serves the Controller service (advertised as CONTROLLER_SERVICE). */
  controller: boolean;
  /** Serves the Node service: Probe then checks what mounting needs. */
  node: boolean;
}

/** The CSI Identity service: who we are, which services we run, and whether we can do our work now. */
export function identityHandlers(opts: IdentityOptions, log: Logger): UntypedServiceImplementation {
  return {
    GetPluginInfo: unary('GetPluginInfo', log, async () => ({
      name: DRIVER_NAME,
      vendorVersion: DRIVER_VERSION,
      manifest: {},
    })),
    // No VOLUME_ACCESSIBILITY_CONSTRAINTS: every node reaches every filesystem (no topology yet).
    GetPluginCapabilities: unary('GetPluginCapabilities', log, async () => ({
      // Volumes grow while in use: a volume's capacity is its project quota, raised in place.
      capabilities: [
        ...(opts.controller ? [{ service: { type: 'CONTROLLER_SERVICE' } }] : []),
        { volumeExpansion: { type: 'ONLINE' } },
      ],
    })),
    Probe: unary('Probe', log, async () => {
      if (opts.node) await checkCanMount();
      return { ready: { value: true } };
    }),
  };
}

/**
 * A node can mount when /dev/fuse opens for reading and writing and the mount helper is there: without
 * either, every NodeStage would fail, so Probe fails (and the livenessprobe reports it).
 */
async function checkCanMount(): Promise<void> {
  for (const [path, mode, what] of [
    ['/dev/fuse', constants.R_OK | constants.W_OK, 'the FUSE device'],
    [MOUNT_HELPER, constants.R_OK, 'the mount helper'],
  ] as const) {
    try {
      await access(path, mode);
    } catch (e) {
      throw new CsiError(
        status.FAILED_PRECONDITION,
        `${what} ${path} is not usable: ${(e as Error).message}`,
      );
    }
  }
}
