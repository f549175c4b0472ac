import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type Client,
  credentials,
  loadPackageDefinition,
  makeGenericClientConstructor,
  Server,
  ServerCredentials,
  type ServiceDefinition,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { freePort } from '@kubelustre/protocol/free-ports.ts';
import { silentLogger } from '@kubelustre/protocol/log.ts';
import { afterEach, describe, expect, it } from 'vitest';
import { identityService } from '../../../csi-driver/src/csi-proto.ts';
import { DRIVER_NAME, identityHandlers } from '../../../csi-driver/src/identity-server.ts';

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));
const WAIT_MS = 20_000;
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Our real CSI Identity service on a unix socket, as the plugin container serves it. */
async function startIdentity(dir: string): Promise<{ socket: string; server: Server }> {
  const socket = join(dir, 'csi.sock');
  const server = new Server();
  server.addService(identityService, identityHandlers({ controller: false, node: false }, silentLogger));
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`unix:${socket}`, ServerCredentials.createInsecure(), (e) =>
      e ? reject(e) : resolve(),
    ),
  );
  cleanups.push(async () => server.forceShutdown());
  return { socket, server };
}

function startStandin(file: string, args: string[]): ChildProcess {
  const child = spawn(process.execPath, [here(file), ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  });
  return child;
}

async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The kubelet's side of plugin registration: a client of the stand-in's registration socket. */
function kubeletClient(socket: string): Client & Record<string, (...args: unknown[]) => void> {
  const proto = loadPackageDefinition(loadSync(here('plugin-registration.proto'))) as unknown as {
    pluginregistration: { Registration: { service: ServiceDefinition } };
  };
  const ctor = makeGenericClientConstructor(proto.pluginregistration.Registration.service, 'Registration');
  const client = new ctor(`unix:${socket}`, credentials.createInsecure());
  cleanups.push(async () => client.close());
  return client as Client & Record<string, (...args: unknown[]) => void>;
}

function call<T>(
  client: Record<string, (...args: unknown[]) => void>,
  method: string,
  req: object,
): Promise<T> {
  return new Promise<T>((resolve, reject) =>
    client[method]!(req, (e: Error | null, r: T) => (e ? reject(e) : resolve(r))),
  );
}

describe('e2e stand-ins for the CSI sidecars', () => {
  it('node-driver-registrar: registers the plugin under its own name, and exits when the kubelet refuses it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kl-registrar-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const { socket } = await startIdentity(dir);
    const endpoint = '/var/lib/kubelet/plugins/csi.kubelustre.io/csi.sock';
    const child = startStandin('node-driver-registrar-standin.ts', [
      `--csi-address=${socket}`,
      `--kubelet-registration-path=${endpoint}`,
      `--plugin-registration-path=${dir}`,
    ]);
    const regSocket = join(dir, `${DRIVER_NAME}-reg.sock`);
    await until(() => existsSync(regSocket), 'the registration socket');
    const kubelet = kubeletClient(regSocket);
    const info = await call<Record<string, unknown>>(kubelet, 'GetInfo', {});
    expect(info).toMatchObject({
      type: 'CSIPlugin',
      name: DRIVER_NAME,
      endpoint,
      supportedVersions: ['1.0.0'],
    });
    await call(kubelet, 'NotifyRegistrationStatus', { pluginRegistered: true });
    expect(child.exitCode).toBeNull();
    const exited = once(child, 'exit');
    await call(kubelet, 'NotifyRegistrationStatus', { pluginRegistered: false, error: 'version clash' });
    expect((await exited)[0]).toBe(1);
    expect(existsSync(regSocket)).toBe(false);
  });

  it('livenessprobe: /healthz answers 200 while the plugin answers Probe, 500 once it does not', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kl-liveness-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const { socket, server } = await startIdentity(dir);
    const port = await freePort();
    startStandin('livenessprobe-standin.ts', [
      `--csi-address=${socket}`,
      `--health-port=${port}`,
      '--probe-timeout=2s',
    ]);
    const healthz = () =>
      fetch(`http://127.0.0.1:${port}/healthz`).then(
        (r) => r.status,
        () => 0,
      );
    await until(async () => (await healthz()) === 200, '/healthz to answer 200');
    server.forceShutdown();
    await until(async () => (await healthz()) === 500, '/healthz to answer 500');
  });
});
