import { type handleUnaryCall, Metadata, type ServerErrorResponse, status } from '@grpc/grpc-js';
import type { Logger } from '@kubelustre/protocol/log.ts';
import { mapError } from './csi-error.ts';

/** A CSI method as the services write it: the request in, the response out, errors thrown. */
export type CsiHandler<Req, Res> = (req: Req, log: Logger) => Promise<Res>;

/** Methods a CO polls (capabilities, probes, stats): logged at debug so they do not flood the log. */
const POLLED = new Set([
  'GetPluginInfo',
  'GetPluginCapabilities',
  'Probe',
  'ControllerGetCapabilities',
  'GetCapacity',
  'ListVolumes',
  'NodeGetCapabilities',
  'NodeGetInfo',
  'NodeGetVolumeStats',
]);

/**
 * The one wrapper every gRPC method goes through: a child logger naming the method and volume, the
 * request logged with every `secrets` map redacted, the time taken, and each error mapped once to a
 * gRPC status (an unexpected one becomes INTERNAL with its stack in the log), so no plain error ever
 * escapes to arrive as UNKNOWN.
 */
export function unary<Req extends object, Res>(
  method: string,
  log: Logger,
  handler: CsiHandler<Req, Res>,
): handleUnaryCall<Req, Res> {
  const polled = POLLED.has(method);
  return (call, callback) => {
    const started = performance.now();
    const req = call.request;
    const volumeId = (req as { volumeId?: string }).volumeId || undefined;
    const name = (req as { name?: string }).name || undefined;
    const callLog = log.child({ method, ...(volumeId && { volumeId }), ...(name && { name }) });
    callLog.debug({ request: redactSecrets(req) }, `Received ${method}`);
    handler(req, callLog).then(
      (res) => {
        const durationMs = Math.round(performance.now() - started);
        if (polled) callLog.debug({ durationMs }, `Answered ${method}`);
        else callLog.info({ durationMs }, `Answered ${method}`);
        callback(null, res);
      },
      (e: unknown) => {
        const durationMs = Math.round(performance.now() - started);
        const mapped = mapError(e);
        const fields = { durationMs, code: status[mapped.code], err: mapped.message };
        if (mapped.unexpected) callLog.error({ ...fields, stack: (e as Error)?.stack }, `Failed ${method}`);
        else callLog.warn(fields, `Refused ${method}`);
        const err: ServerErrorResponse = Object.assign(new Error(mapped.message), {
          code: mapped.code,
          details: mapped.message,
          metadata: new Metadata(),
        });
        callback(err, null);
      },
    );
  };
}

/** A copy of `value` whose every `secrets` map keeps its keys and loses its values. */
export function redactSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactSecrets);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (k === 'secrets' && v !== null && typeof v === 'object') {
      out[k] = Object.fromEntries(Object.keys(v).map((key) => [key, '<redacted>']));
    } else {
      out[k] = redactSecrets(v);
    }
  }
  return out;
}
