import type { Logger } from 'pino';
import type { KubeClient } from './client.ts';
import { microTime } from './micro-time.ts';
import type { KubeObject } from './objects.ts';

/** The controller name events carry (events.k8s.io/v1 reportingController). */
const REPORTING_CONTROLLER = 'kubelustre.io/operator';
/** Events of cluster-scoped objects (PCCClass) go here, as the API server itself does. */
const CLUSTER_EVENTS_NAMESPACE = 'default';
/** The API server caps an event's note at 1 KiB. */
const NOTE_CHARS_MAX = 1024;

export type EventType = 'Normal' | 'Warning';

/**
 * Records events.k8s.io/v1 Events about our objects, for `kubectl describe` and `kubectl events`.
 * Fire and forget: an event that cannot be written is logged, never fails a reconcile.
 */
export class EventRecorder {
  readonly #client: KubeClient;
  readonly #instance: string;
  readonly #log: Logger;

  constructor(client: KubeClient, instance: string, log: Logger) {
    this.#client = client;
    this.#instance = instance;
    this.#log = log;
  }

  record(regarding: KubeObject, type: EventType, reason: string, action: string, note: string): void {
    const { name, namespace, uid } = regarding.metadata;
    const event = {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { generateName: `${name}-`, namespace: namespace ?? CLUSTER_EVENTS_NAMESPACE },
      eventTime: microTime(new Date()),
      reportingController: REPORTING_CONTROLLER,
      reportingInstance: this.#instance,
      action,
      reason,
      type,
      note: note.slice(0, NOTE_CHARS_MAX),
      regarding: { apiVersion: regarding.apiVersion, kind: regarding.kind, name, namespace, uid },
    };
    this.#client.create(event).catch((e: unknown) => {
      this.#log.warn({ err: e, reason, object: name }, `Failed to record event ${reason} on ${name}`);
    });
  }
}
