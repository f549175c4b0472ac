import { type Client, credentials, makeGenericClientConstructor, type ServiceError } from '@grpc/grpc-js';
import { controllerService, nodeService } from '../../csi-driver/src/csi-proto.ts';

const CALL_TIMEOUT_MS = 60_000;

/** A CSI client for tests: the Controller and Node services on one socket, calls as promises. */
export class CsiTestClient {
  readonly #controller: Client;
  readonly #node: Client;

  constructor(socket: string) {
    const address = `unix:${socket}`;
    const creds = credentials.createInsecure();
    this.#controller = new (makeGenericClientConstructor(controllerService, 'Controller'))(address, creds);
    this.#node = new (makeGenericClientConstructor(nodeService, 'Node'))(address, creds);
  }

  controller<T = Record<string, unknown>>(method: string, req: object): Promise<T> {
    return call(this.#controller, method, req);
  }

  node<T = Record<string, unknown>>(method: string, req: object): Promise<T> {
    return call(this.#node, method, req);
  }

  close(): void {
    this.#controller.close();
    this.#node.close();
  }
}

function call<T>(client: Client, method: string, req: object): Promise<T> {
  const f = (client as unknown as Record<string, (...args: unknown[]) => void>)[method]!.bind(client);
  return new Promise<T>((resolve, reject) => {
    f(req, { deadline: Date.now() + CALL_TIMEOUT_MS }, (e: ServiceError | null, res: T) =>
      e ? reject(e) : resolve(res),
    );
  });
}
