import type { KubeObject } from './objects.ts';
import { type Resource, resourceOf, resourcePath } from './resources.ts';
import { ContentType, isNotFound, type KubeRest } from './rest.ts';

/** Every write the operator makes is server-side apply under this one manager. */
export const FIELD_MANAGER = 'kubelustre-operator';

export interface ObjectKey {
  namespace?: string;
  name: string;
}

export interface ListResult<T> {
  metadata: { resourceVersion: string };
  items: T[];
}

/** The operations reconcilers need, over KubeRest, each naming the object in its errors. */
export class KubeClient {
  readonly rest: KubeRest;

  constructor(rest: KubeRest) {
    this.rest = rest;
  }

  async get<T extends KubeObject>(r: Resource, key: ObjectKey): Promise<T | undefined> {
    try {
      return await this.rest.request<T>('GET', resourcePath(r, key.namespace, key.name));
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  async list<T extends KubeObject>(
    r: Resource,
    opts: { namespace?: string; labelSelector?: string } = {},
  ): Promise<ListResult<T>> {
    const list = await this.rest.request<ListResult<T>>('GET', resourcePath(r, opts.namespace), {
      query: { labelSelector: opts.labelSelector },
    });
    // A list's items carry no apiVersion and kind; the informer's consumers expect them.
    for (const item of list.items) Object.assign(item, { apiVersion: r.apiVersion, kind: r.kind });
    return list;
  }

  /**
   * Server-side apply of `object` (all the fields the operator wants, and only those). Forced: the
   * operator is the authority on the fields it manages, and a conflict would otherwise stall it forever.
   */
  async apply<T extends KubeObject>(object: T): Promise<T> {
    const r = resourceOf(object.kind);
    return this.rest.request<T>('PATCH', resourcePath(r, object.metadata.namespace, object.metadata.name), {
      body: object,
      contentType: ContentType.apply,
      query: { fieldManager: FIELD_MANAGER, force: 'true' },
    });
  }

  /** Server-side apply of an object's status subresource: `status` is the whole status we own. */
  async applyStatus(owner: KubeObject, status: unknown): Promise<void> {
    const r = resourceOf(owner.kind);
    const { name, namespace } = owner.metadata;
    const body = { apiVersion: owner.apiVersion, kind: owner.kind, metadata: { name, namespace }, status };
    await this.rest.request('PATCH', resourcePath(r, namespace, name, 'status'), {
      body,
      contentType: ContentType.apply,
      query: { fieldManager: FIELD_MANAGER, force: 'true' },
    });
  }

  /**
   * Adds or removes `finalizer` by server-side apply: the operator's apply config for the object is that
   * finalizer or nothing, and applying nothing drops the entry it owned without touching anyone else's.
   */
  async setFinalizer(object: KubeObject, finalizer: string, present: boolean): Promise<void> {
    const r = resourceOf(object.kind);
    const { name, namespace } = object.metadata;
    const metadata = present ? { name, namespace, finalizers: [finalizer] } : { name, namespace };
    await this.rest.request('PATCH', resourcePath(r, namespace, name), {
      body: { apiVersion: object.apiVersion, kind: object.kind, metadata },
      contentType: ContentType.apply,
      query: { fieldManager: FIELD_MANAGER, force: 'true' },
    });
  }

  /** Creates `object`; its metadata may have a generateName instead of a name. */
  async create<T extends { apiVersion: string; kind: string; metadata: { namespace?: string } }>(
    object: T,
  ): Promise<T> {
    const r = resourceOf(object.kind);
    return this.rest.request<T>('POST', resourcePath(r, object.metadata.namespace), {
      body: object,
      query: { fieldManager: FIELD_MANAGER },
    });
  }

  async replace<T extends KubeObject>(object: T): Promise<T> {
    const r = resourceOf(object.kind);
    return this.rest.request<T>('PUT', resourcePath(r, object.metadata.namespace, object.metadata.name), {
      body: object,
      query: { fieldManager: FIELD_MANAGER },
    });
  }

  /** Deletes one object; false if it was already gone. Background: dependents go after it. */
  async delete(r: Resource, key: ObjectKey): Promise<boolean> {
    try {
      await this.rest.request('DELETE', resourcePath(r, key.namespace, key.name), {
        query: { propagationPolicy: 'Background' },
      });
      return true;
    } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
  }

  async deleteCollection(r: Resource, namespace: string, labelSelector: string): Promise<void> {
    await this.rest.request('DELETE', resourcePath(r, namespace), { query: { labelSelector } });
  }
}
