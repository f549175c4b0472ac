/**
 * How a reconcile ended. `done`: the world matches the object (until the next change). `requeueAfter`:
 * matched as far as possible now, look again later (waiting on something that has no event, such as a
 * target process starting). `terminal`: the object is wrong in a way only its author can fix; retrying
 * would fail the same way, so the key is dropped until the object changes. `retry`: something outside
 * the object failed (the MGS did not answer) and the status already says so; the key comes back after
 * its exponential backoff. A thrown error is an unexpected failure: retried with the same backoff.
 */
export type ReconcileResult =
  | { kind: 'done' }
  | { kind: 'requeueAfter'; delayMs: number; why: string }
  | { kind: 'terminal'; reason: string; message: string }
  | { kind: 'retry'; reason: string; message: string };

export const done: ReconcileResult = { kind: 'done' };

export function requeueAfter(delayMs: number, why: string): ReconcileResult {
  return { kind: 'requeueAfter', delayMs, why };
}

export function terminal(reason: string, message: string): ReconcileResult {
  return { kind: 'terminal', reason, message };
}

export function retry(reason: string, message: string): ReconcileResult {
  return { kind: 'retry', reason, message };
}
