import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'pino';
import type { Condition, KubeObject } from '../k8s/objects.ts';
import { findCondition, transitions } from '../policy/conditions.ts';
import type { OperatorContext } from './context.ts';

/** The condition types whose transitions make an Event, with the type of event for each status. */
const EVENTFUL: Record<string, { True: 'Normal' | 'Warning'; False: 'Normal' | 'Warning' }> = {
  Ready: { True: 'Normal', False: 'Warning' },
  Degraded: { True: 'Warning', False: 'Normal' },
};

/**
 * Writes `status` (server-side apply of the status subresource) only when it differs from what the
 * object already has, so an unchanged reconcile costs no write and starts no watch event; records an
 * Event for each Ready or Degraded transition.
 */
export async function writeStatus(
  ctx: OperatorContext,
  object: KubeObject & { status?: unknown },
  status: { conditions?: unknown },
  log: Logger,
  foreignFields: readonly string[] = [],
): Promise<boolean> {
  const before = object.status as { conditions?: Condition[] } | undefined;
  if (isDeepStrictEqual(normalize(before, foreignFields), normalize(status, foreignFields))) return false;
  await ctx.client.applyStatus(object, status);
  const name = `${object.kind} ${object.metadata.name}`;
  for (const c of transitions(before?.conditions, (status.conditions ?? []) as Condition[])) {
    const eventful = EVENTFUL[c.type];
    if (eventful === undefined || c.status === 'Unknown') continue;
    // A new object's first "not ready yet" or "not degraded" is expected, not news.
    if (findCondition(before?.conditions, c.type) === undefined && c.status !== 'True') continue;
    ctx.events.record(object, eventful[c.status], c.reason, `Set${c.type}${c.status}`, c.message);
    log.info({ condition: c.type, reason: c.reason }, `Set ${name} ${c.type}=${c.status}: ${c.message}`);
  }
  return true;
}

/**
 * Status as JSON would carry it (no undefined fields, so an echo from the API server compares equal),
 * without the fields another writer owns.
 */
function normalize(status: unknown, foreignFields: readonly string[]): unknown {
  const plain = (status === undefined ? {} : JSON.parse(JSON.stringify(status))) as Record<string, unknown>;
  for (const field of foreignFields) delete plain[field];
  return plain;
}
