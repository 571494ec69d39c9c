import { PluginError, fromHttpStatus, toPluginError, type PluginContext } from '../../core/sdk/index.js';

export const PROVIDER = 'attio';
export const DEFAULT_BASE_URL = 'https://api.attio.com';

export interface AttioCredentials {
  apiKey: string;
  /** API origin; `https://api.attio.com` when absent. */
  baseUrl?: string;
}

/** A 429 whose Retry-After is at most this far away is waited out once; a longer one is the caller's to retry. */
const MAX_RETRY_WAIT_MS = 2000;

/** The one place that speaks HTTP to Attio: Bearer auth, one wait on a short 429, and the error envelope → PluginError. */
export class AttioClient {
  private readonly root: string;
  constructor(private readonly ctx: PluginContext, private readonly o: { credentials: AttioCredentials; timeoutMs: number }) {
    this.root = (o.credentials.baseUrl ?? DEFAULT_BASE_URL).replace(/\/+$/, '').replace(/\/v2$/, '');
  }

  async request<T>(r: { method: 'GET' | 'POST'; path: string; body?: unknown; signal?: AbortSignal; op: string }): Promise<{ status: number; body: T | undefined }> {
    for (let attempt = 0; ; attempt++) {
      let res: Response;
      try {
        res = await this.ctx.http(`${this.root}/v2${r.path}`, {
          method: r.method, signal: r.signal, timeoutMs: this.o.timeoutMs,
          headers: { authorization: `Bearer ${this.o.credentials.apiKey}`, accept: 'application/json', ...(r.body !== undefined ? { 'content-type': 'application/json' } : {}) },
          body: r.body === undefined ? undefined : JSON.stringify(r.body),
        });
      } catch (e) {
        const err = toPluginError(e, PROVIDER);
        this.ctx.logger.warn({ op: r.op, category: err.category }, 'attio request failed before a response');
        throw err;
      }
      const text = await res.text().catch((e: unknown) => { throw toPluginError(e, PROVIDER); });
      let body: unknown;
      try { body = text ? JSON.parse(text) : undefined; } catch { body = undefined; }
      if (res.ok) return { status: res.status, body: body as T };
      if (res.status === 404) return { status: 404, body: undefined };
      const code = typeof (body as { code?: unknown } | undefined)?.code === 'string' ? (body as { code: string }).code : undefined;
      if (res.status === 429 && attempt === 0) {
        // Retry-After is an HTTP date (usually the next second); the request was not processed, so repeating is safe.
        const at = Date.parse(res.headers.get('retry-after') ?? '');
        const secs = Number(res.headers.get('retry-after'));
        const waitMs = Number.isFinite(at) ? at - this.ctx.clock.now() : Number.isFinite(secs) ? secs * 1000 : NaN;
        if (Number.isFinite(waitMs) && waitMs <= MAX_RETRY_WAIT_MS) {
          await new Promise<void>((resolve, reject) => {
            const t = setTimeout(resolve, Math.max(0, waitMs));
            r.signal?.addEventListener('abort', () => { clearTimeout(t); reject(new PluginError('timeout', `attio ${r.op} aborted while waiting out a 429`, { provider: PROVIDER })); }, { once: true });
          });
          continue;
        }
      }
      this.ctx.logger.warn({ op: r.op, status: res.status, code }, 'attio request failed');
      if (res.status === 403) throw new PluginError('forbidden', `attio ${r.op}: the API key lacks a scope (${code ?? 'forbidden'})`, { provider: PROVIDER, status: 403 });
      throw fromHttpStatus(res.status, `attio ${r.op} failed${code ? ` (${code})` : ''}`, { provider: PROVIDER });
    }
  }
}
