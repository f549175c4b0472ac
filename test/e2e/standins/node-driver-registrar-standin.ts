#!/usr/bin/env node
/**
 * The e2e cluster's stand-in for kubernetes-csi/node-driver-registrar, which cannot be had on this machine
 * (the Go module proxy here refuses every version of it). Same flags as the chart passes to the real one,
 * same job: ask the CSI plugin its name (GetPluginInfo), then serve the kubelet's plugin registration API
 * on PLUGIN_REGISTRATION_PATH/NAME-reg.sock, which the kubelet's plugin watcher finds and calls.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  loadPackageDefinition,
  Server,
  ServerCredentials,
  type ServerUnaryCall,
  type ServiceDefinition,
  type sendUnaryData,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { IdentityClient } from './identity-client.ts';

const PLUGIN_INFO_TIMEOUT_MS = 10_000;
const PLUGIN_WAIT_MS = 1_000;
const STOP_GRACE_MS = 2_000;
/** The CSI versions the kubelet may speak to the plugin. */
const SUPPORTED_VERSIONS = ['1.0.0'];

const log = (message: string) =>
  console.error(`${new Date().toISOString()} e2e-node-driver-registrar: ${message}`);

const { values } = parseArgs({
  options: {
    'csi-address': { type: 'string', default: '/run/csi/socket' },
    'kubelet-registration-path': { type: 'string' },
    'plugin-registration-path': { type: 'string', default: '/registration' },
    v: { type: 'string' },
  },
});
const endpoint = values['kubelet-registration-path'];
if (!endpoint) {
  log('--kubelet-registration-path is required');
  process.exit(2);
}

const registrationService = (
  loadPackageDefinition(
    loadSync(fileURLToPath(new URL('plugin-registration.proto', import.meta.url)), { keepCase: false }),
  ) as unknown as { pluginregistration: { Registration: { service: ServiceDefinition } } }
).pluginregistration.Registration.service;

/** The plugin's name, waiting for the plugin to come up (it starts beside us in the same pod). */
async function driverName(socketPath: string): Promise<string> {
  const identity = new IdentityClient(socketPath);
  try {
    for (;;) {
      try {
        return await identity.pluginName(PLUGIN_INFO_TIMEOUT_MS);
      } catch (e) {
        log(`waiting for the CSI plugin on ${socketPath}: ${(e as Error).message}`);
        await new Promise((r) => setTimeout(r, PLUGIN_WAIT_MS));
      }
    }
  } finally {
    identity.close();
  }
}

const name = await driverName(values['csi-address']);
const socket = join(values['plugin-registration-path'], `${name}-reg.sock`);
await rm(socket, { force: true });
const server = new Server();
server.addService(registrationService, {
  GetInfo: (_call: ServerUnaryCall<unknown, unknown>, done: sendUnaryData<unknown>) => {
    log(`kubelet asked for the plugin info of ${name}`);
    done(null, { type: 'CSIPlugin', name, endpoint, supportedVersions: SUPPORTED_VERSIONS });
  },
  NotifyRegistrationStatus: (
    call: ServerUnaryCall<{ pluginRegistered: boolean; error: string }, unknown>,
    done: sendUnaryData<unknown>,
  ) => {
    done(null, {});
    if (call.request.pluginRegistered) log(`kubelet registered ${name}`);
    else {
      log(`kubelet refused the registration of ${name}: ${call.request.error}`);
      void stop(1);
    }
  },
});
await new Promise<void>((resolve, reject) =>
  server.bindAsync(`unix:${socket}`, ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())),
);
log(`serving the registration of ${name} (endpoint ${endpoint}) on ${socket}`);

/** Stops serving once the answers in flight went out (the kubelet's last call gets its reply). */
async function stop(code: number): Promise<never> {
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, STOP_GRACE_MS);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
  await rm(socket, { force: true });
  process.exit(code);
}
process.once('SIGTERM', () => void stop(0));
process.once('SIGINT', () => void stop(0));
