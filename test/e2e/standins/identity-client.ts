import { type Client, credentials, makeGenericClientConstructor, type ServiceError } from '@grpc/grpc-js';
import { identityService } from '../../../csi-driver/src/csi-proto.ts';

/** The CSI Identity calls the stand-ins make, on the plugin's unix socket. */
export class IdentityClient {
  readonly #client: Client;

  constructor(socketPath: string) {
    const ctor = makeGenericClientConstructor(identityService, 'Identity');
    this.#client = new ctor(`unix:${socketPath}`, credentials.createInsecure());
  }

  pluginName(timeoutMs: number): Promise<string> {
    return this.#call<{ name: string }>('GetPluginInfo', timeoutMs).then((r) => r.name);
  }

  /** Whether the plugin says it is ready (an unset `ready` means ready, as the CSI spec says). */
  probe(timeoutMs: number): Promise<boolean> {
    return this.#call<{ ready: { value: boolean } | null }>('Probe', timeoutMs).then(
      (r) => r.ready?.value !== false,
    );
  }

  close(): void {
    this.#client.close();
  }

  #call<T>(method: string, timeoutMs: number): Promise<T> {
    const f = (this.#client as unknown as Record<string, (...args: unknown[]) => void>)[method]!;
    return new Promise<T>((resolve, reject) => {
      f.call(this.#client, {}, { deadline: Date.now() + timeoutMs }, (e: ServiceError | null, r: T) =>
        e ? reject(e) : resolve(r),
      );
    });
  }
}
