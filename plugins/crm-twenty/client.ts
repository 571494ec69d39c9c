import { PluginError, fromHttpStatus, toPluginError, type PluginContext } from '../../core/sdk/index.js';

export const PROVIDER = 'twenty';

export interface TwentyCredentials { apiKey: string; baseUrl: string }

/** A Twenty answer before interpretation. `messages` is Twenty's error envelope (`{statusCode,error,messages[]}`). */
export interface TwentyResponse { status: number; body: unknown; requestId?: string; messages: string[] }

export type Query = Record<string, string | number | undefined>;

export interface PageInfo { hasNextPage: boolean; endCursor: string | null }

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Query strings are built by hand so every value goes through encodeURIComponent: `+1` must reach Twenty as
 * `%2B1` (a bare `+` decodes to a space) and `%` wildcards as `%25`.
 */
function queryString(q: Query): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(q)) if (v !== undefined) parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
  return parts.length ? `?${parts.join('&')}` : '';
}

/** Accepts `https://host`, `https://host/` and `https://host/rest` as the same workspace root. */
export function apiRoot(baseUrl: string): string {
  return baseUrl.trim().replace(/\/+$/, '').replace(/\/rest$/, '');
}

/** The one place that speaks HTTP to Twenty: auth header, timeout, and transport failures → PluginError. */
export class TwentyClient {
  /** The workspace root the client talks to (no trailing slash, no `/rest`). */
  readonly root: string;
  constructor(private readonly ctx: PluginContext, private readonly o: { credentials: TwentyCredentials; timeoutMs: number }) {
    this.root = apiRoot(o.credentials.baseUrl);
  }

  /** Sends one request and returns whatever came back; only transport failures (timeout, refused) throw. */
  async send(r: { method: 'GET' | 'POST' | 'PATCH' | 'DELETE'; path: string; query?: Query; body?: unknown; signal?: AbortSignal; op: string }): Promise<TwentyResponse> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.o.credentials.apiKey}`, accept: 'application/json' };
    if (r.body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await this.ctx.http(`${this.root}${r.path}${queryString(r.query ?? {})}`, {
        method: r.method, headers, body: r.body === undefined ? undefined : JSON.stringify(r.body), signal: r.signal, timeoutMs: this.o.timeoutMs,
      });
    } catch (e) {
      const err = toPluginError(e, PROVIDER);
      this.ctx.logger.warn({ op: r.op, category: err.category }, 'twenty request failed before a response');
      throw err;
    }
    const requestId = res.headers.get('x-request-id') ?? undefined;
    let body: unknown;
    let text: string;
    try {
      text = await res.text();
    } catch (e) {
      throw toPluginError(e, PROVIDER);
    }
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      if (res.ok) throw new PluginError('upstream', `twenty ${r.op} returned a non-JSON body`, { provider: PROVIDER, status: res.status, providerRequestId: requestId });
      body = undefined;
    }
    const messages = isObject(body) && Array.isArray(body.messages) ? body.messages.filter((m): m is string => typeof m === 'string') : [];
    return { status: res.status, body, requestId, messages };
  }

  /** Like {@link send}, but any non-2xx becomes a PluginError by status (401 auth, 429 rate_limit, 5xx upstream). */
  async ok(r: Parameters<TwentyClient['send']>[0]): Promise<TwentyResponse> {
    const res = await this.send(r);
    if (res.status >= 200 && res.status < 300) return res;
    throw this.fail(res, r.op);
  }

  /** Maps a failed response. Twenty's messages can echo field values (phones, names), so they go to the log under `pii` only. */
  fail(res: TwentyResponse, op: string): PluginError {
    const err = fromHttpStatus(res.status, `twenty ${op} failed (${res.status})`, { provider: PROVIDER, providerRequestId: res.requestId });
    this.ctx.logger.warn({ op, status: res.status, category: err.category, providerRequestId: res.requestId, pii: { messages: res.messages } }, 'twenty request rejected');
    return err;
  }

  /**
   * Reads `data.<plural>` pages with cursor pagination until `want` items were accepted, the list ends, or
   * `maxPages` pages were read (a bound on latency for the voice path).
   */
  /**
   * Follows cursors until `want` accepted records, the last page or `maxPages`. With `mustFinish`, running out of
   * pages first is an error (`upstream`, not retryable) instead of a silently partial list.
   */
  async collect<T>(r: { path: string; plural: string; query: Query; want: number; pageSize: number; maxPages: number; mustFinish?: boolean; signal?: AbortSignal; op: string; accept: (rec: Record<string, unknown>) => T | null }): Promise<T[]> {
    const out: T[] = [];
    let cursor: string | undefined;
    for (let page = 0; out.length < r.want; page++) {
      if (page >= r.maxPages) {
        if (r.mustFinish) throw new PluginError('upstream', `twenty ${r.op} needed more than ${r.maxPages} pages`, { provider: PROVIDER, retryable: false });
        break;
      }
      const res = await this.ok({ method: 'GET', path: r.path, query: { ...r.query, limit: r.pageSize, depth: 0, starting_after: cursor }, signal: r.signal, op: r.op });
      const data = isObject(res.body) && isObject(res.body.data) ? res.body.data[r.plural] : undefined;
      if (!Array.isArray(data)) throw new PluginError('upstream', `twenty ${r.op} returned an unexpected envelope`, { provider: PROVIDER, status: res.status });
      for (const rec of data) {
        if (!isObject(rec)) continue;
        const v = r.accept(rec);
        if (v !== null) out.push(v);
        if (out.length >= r.want) break;
      }
      const info = isObject(res.body) && isObject(res.body.pageInfo) ? res.body.pageInfo : undefined;
      const next = info?.hasNextPage === true && typeof info.endCursor === 'string' ? info.endCursor : undefined;
      if (!next || data.length === 0) break;
      cursor = next;
    }
    return out;
  }
}

/** The record under `data.<key>` of a single-record answer (`createPerson`, `person`, …). */
export function dataRecord(res: TwentyResponse, key: string, op: string): Record<string, unknown> {
  const rec = isObject(res.body) && isObject(res.body.data) ? res.body.data[key] : undefined;
  if (!isObject(rec) || typeof rec.id !== 'string') throw new PluginError('upstream', `twenty ${op} returned an unexpected envelope`, { provider: PROVIDER, status: res.status });
  return rec;
}

/** Twenty answers a re-posted client-chosen id with 400 `Record already exists`: for an idempotent retry that is success. */
export function isAlreadyExists(res: TwentyResponse): boolean {
  return res.status === 400 && res.messages.some((m) => /already exists/i.test(m));
}

/** 400 naming a field the object doesn't have: the workspace is on the other schema generation. */
export function isUnknownField(res: TwentyResponse, field: string): boolean {
  return res.status === 400 && res.messages.some((m) => m.includes(`"${field}"`) || m.includes(`'${field}'`));
}
