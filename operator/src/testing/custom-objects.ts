import { ApiException, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { API_GROUP, API_VERSION } from '../crds/definition.ts';
import { CRD_DIR, crdDefinitions } from '../crds/generate.ts';
import type { ControlPlane } from './control-plane.ts';

/**
 * Test helpers for our custom objects against a real API server. Installing CRDs lives here, not in
 * the operator: a chart installs them in a cluster (an operator that installs its own CRDs needs rights
 * over every CRD and fights upgrades).
 */

const FIELD_MANAGER = 'kubelustre-tests';
const ESTABLISHED_TIMEOUT_S = 30;

export interface CustomObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [key: string]: unknown };
  spec?: unknown;
  status?: unknown;
}

/**
 * Applies crds/ as a user does (`kubectl apply --server-side`) and waits until every CRD is Established.
 * Not through client-node's typed API: its serializer keeps only the fields its model names
 * (`xKubernetesValidations`, `_enum`, `_default`), so our plain CRD objects would lose their CEL rules,
 * enums and defaults on the way.
 */
export async function installCrds(controlPlane: ControlPlane): Promise<void> {
  await controlPlane.kubectl(
    'apply',
    '--server-side',
    '--field-manager',
    FIELD_MANAGER,
    '--filename',
    CRD_DIR,
  );
  await controlPlane.kubectl(
    'wait',
    '--for',
    'condition=Established',
    '--timeout',
    `${ESTABLISHED_TIMEOUT_S}s`,
    'customresourcedefinitions',
    '--selector',
    'app.kubernetes.io/part-of=kubelustre',
  );
}

/** Creates and replaces our objects through their CRD's plural and scope. */
export class CustomObjectClient {
  readonly #api: CustomObjectsApi;

  constructor(kc: KubeConfig) {
    this.#api = kc.makeApiClient(CustomObjectsApi);
  }

  async create(object: CustomObject, dryRun?: 'All'): Promise<CustomObject> {
    const { plural, namespace } = route(object);
    const common = {
      group: API_GROUP,
      version: API_VERSION,
      plural,
      body: object,
      dryRun,
      fieldManager: FIELD_MANAGER,
    };
    return namespace === undefined
      ? await this.#api.createClusterCustomObject(common)
      : await this.#api.createNamespacedCustomObject({ ...common, namespace });
  }

  async replace(object: CustomObject): Promise<CustomObject> {
    const { namespace, request } = this.#writeRequest(object);
    return namespace === undefined
      ? await this.#api.replaceClusterCustomObject(request)
      : await this.#api.replaceNamespacedCustomObject({ ...request, namespace });
  }

  async replaceStatus(object: CustomObject): Promise<CustomObject> {
    const { namespace, request } = this.#writeRequest(object);
    return namespace === undefined
      ? await this.#api.replaceClusterCustomObjectStatus(request)
      : await this.#api.replaceNamespacedCustomObjectStatus({ ...request, namespace });
  }

  /** The parameters every replace of `object` shares, and its namespace (none: cluster-scoped). */
  #writeRequest(object: CustomObject) {
    const { plural, namespace } = route(object);
    const request = {
      group: API_GROUP,
      version: API_VERSION,
      plural,
      name: object.metadata.name,
      body: object,
      fieldManager: FIELD_MANAGER,
    };
    return { namespace, request };
  }

  /** The API server's message refusing `write` (422 Invalid); throws if it was accepted or failed otherwise. */
  static async refusal(write: Promise<unknown>): Promise<string> {
    try {
      await write;
    } catch (error) {
      if (error instanceof ApiException && error.code === 422) return statusMessage(error.body);
      throw error;
    }
    throw new Error('the API server accepted an object it should have refused');
  }
}

function route(object: CustomObject): { plural: string; namespace: string | undefined } {
  const def = crdDefinitions.find((d) => d.kind === object.kind);
  if (def === undefined) throw new Error(`${object.kind} is not one of our kinds`);
  const namespace = def.scope === 'Namespaced' ? (object.metadata.namespace ?? 'default') : undefined;
  return { plural: def.plural, namespace };
}

function statusMessage(body: unknown): string {
  const status = typeof body === 'string' ? (JSON.parse(body) as unknown) : body;
  const message = (status as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? message : JSON.stringify(status);
}
