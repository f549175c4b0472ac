import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

/**
 * A small JSON client for the Kubernetes REST API, authenticated by client-node's KubeConfig. Not
 * client-node's typed APIs: their serializers keep only the fields their models know, which drops every
 * field of our custom objects and any newer field of built-in ones, and server-side apply wants the
 * object exactly as written.
 */

/** Bounds one API call; the API server answers in milliseconds unless it is unreachable. */
const REQUEST_TIMEOUT_MS = 30_000;
/** Error bodies are short Status objects; anything longer is cut in messages. */
const ERROR_BODY_CHARS_MAX = 2000;

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export const ContentType = {
  json: 'application/json',
  mergePatch: 'application/merge-patch+json',
  /** JSON is YAML, so server-side apply takes our JSON body as it is. */
  apply: 'application/apply-patch+yaml',
} as const;

/** An API call the server refused: the HTTP status and the Status object's reason and message. */
export class ApiError extends Error {
  readonly status: number;
  readonly reason: string;
  readonly method: string;
  readonly path: string;

  constructor(method: string, path: string, status: number, body: string) {
    const parsed = parseStatus(body);
    super(`${method} ${path} failed with HTTP ${status} (${parsed.reason}): ${parsed.message}`);
    this.name = 'ApiError';
    this.status = status;
    this.reason = parsed.reason;
    this.method = method;
    this.path = path;
  }
}

export function isNotFound(e: unknown): boolean {
  return e instanceof ApiError && e.status === 404;
}

export function isConflict(e: unknown): boolean {
  return e instanceof ApiError && e.status === 409;
}

export interface RequestOptions {
  body?: unknown;
  contentType?: string;
  query?: Record<string, string | undefined>;
}

export class KubeRest {
  readonly #kc: KubeConfig;
  readonly #server: URL;
  #agent: https.Agent | undefined;

  constructor(kc: KubeConfig) {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('the kubeconfig has no current cluster');
    this.#kc = kc;
    this.#server = new URL(cluster.server);
  }

  async request<T>(method: Method, path: string, opts: RequestOptions = {}): Promise<T> {
    const url = new URL(this.#server.pathname.replace(/\/$/, '') + path, this.#server);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, v);
    const reqOpts: https.RequestOptions = {};
    await this.#kc.applyToHTTPSOptions(reqOpts);
    const { ca, cert, key, pfx, passphrase, rejectUnauthorized, servername } = reqOpts;
    this.#agent ??= new https.Agent({
      ca,
      cert,
      key,
      pfx,
      passphrase,
      rejectUnauthorized,
      servername,
      keepAlive: true,
    });
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const headers: Record<string, string> = { accept: ContentType.json, ...(reqOpts.headers as object) };
    if (body !== undefined) headers['content-type'] = opts.contentType ?? ContentType.json;
    const { status, text } = await send(url, method, headers, this.#agent, body);
    if (status < 200 || status > 299) throw new ApiError(method, url.pathname, status, text);
    return (text === '' ? undefined : JSON.parse(text)) as T;
  }
}

function send(
  url: URL,
  method: Method,
  headers: Record<string, string>,
  agent: https.Agent,
  body: string | undefined,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method, headers, agent, timeout: REQUEST_TIMEOUT_MS }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('timeout', () =>
      req.destroy(new Error(`${method} ${url.pathname} had no answer within ${REQUEST_TIMEOUT_MS} ms`)),
    );
    req.on('error', reject);
    req.end(body);
  });
}

function parseStatus(body: string): { reason: string; message: string } {
  try {
    const s = JSON.parse(body) as { reason?: string; message?: string };
    return { reason: s.reason ?? 'Unknown', message: s.message ?? body.slice(0, ERROR_BODY_CHARS_MAX) };
  } catch {
    return { reason: 'Unknown', message: body.slice(0, ERROR_BODY_CHARS_MAX) };
  }
}
