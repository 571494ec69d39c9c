import { PluginError, fromHttpStatus, toPluginError, type PluginContext } from '../../core/sdk/index.js';

export const PROVIDER = 'salesforce';
export const API_VERSION_PATH = 'v62.0';

/**
 * A connected app's OAuth client, and either a refresh token (web-server flow, done once by the dealership's
 * admin) or nothing (client-credentials flow, with a run-as user set on the connected app).
 */
export interface SalesforceCredentials {
  clientId: string;
  clientSecret: string;
  refreshToken?: string;
  /** `https://login.salesforce.com`, `https://test.salesforce.com` or the org's My Domain. */
  loginUrl: string;
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

interface Session { accessToken: string; instanceUrl: string }

/** `Sforce-Limit-Info: api-usage=18/15000` → the fraction of the org's 24 h API limit used. */
export function parseLimitInfo(h: string | null): number | undefined {
  const m = h ? /api-usage=(\d+)\/(\d+)/.exec(h) : null;
  if (!m || Number(m[2]) === 0) return undefined;
  return Number(m[1]) / Number(m[2]);
}

/**
 * The one place that speaks HTTP to Salesforce: OAuth (token kept in memory; a rotated refresh token kept in
 * the plugin store so the next instance uses it), one refresh and retry on 401 `INVALID_SESSION_ID`, the
 * org's API usage from `Sforce-Limit-Info`, and Salesforce's error arrays → PluginError categories.
 */
export class SalesforceClient {
  private session: Promise<Session> | null = null;
  /** Last seen share of the org's daily API limit (0–1). */
  apiUsage = 0;

  constructor(private readonly ctx: PluginContext, private readonly o: { credentials: SalesforceCredentials; timeoutMs: number }) {}

  private loginRoot(): string {
    return this.o.credentials.loginUrl.replace(/\/+$/, '');
  }

  private async refreshTokenValue(): Promise<string | undefined> {
    return (await this.ctx.store.get<string>('refreshToken')) ?? this.o.credentials.refreshToken;
  }

  private async authenticate(signal?: AbortSignal): Promise<Session> {
    const c = this.o.credentials;
    const refresh = await this.refreshTokenValue();
    const form = new URLSearchParams(refresh
      ? { grant_type: 'refresh_token', refresh_token: refresh, client_id: c.clientId, client_secret: c.clientSecret }
      : { grant_type: 'client_credentials', client_id: c.clientId, client_secret: c.clientSecret });
    let res: Response;
    try {
      res = await this.ctx.http(`${this.loginRoot()}/services/oauth2/token`, {
        method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }, body: form.toString(),
        signal, timeoutMs: this.o.timeoutMs,
      });
    } catch (e) {
      throw toPluginError(e, PROVIDER);
    }
    const body = await res.json().catch(() => undefined) as Record<string, unknown> | undefined;
    if (!res.ok) {
      const error = typeof body?.error === 'string' ? body.error : '';
      // A revoked or rotated-away refresh token: the dealership must reconnect Salesforce.
      if (res.status === 400 && /invalid_grant|invalid_client|unauthorized_client/.test(error)) {
        this.ctx.logger.warn({ error }, 'salesforce refused the OAuth grant; the connection must be re-authorised');
        throw new PluginError('auth', `salesforce OAuth grant refused (${error}); reconnect Salesforce`, { provider: PROVIDER, status: 400 });
      }
      throw fromHttpStatus(res.status, 'salesforce token request failed', { provider: PROVIDER });
    }
    if (typeof body?.access_token !== 'string' || typeof body.instance_url !== 'string') {
      throw new PluginError('upstream', 'salesforce token response lacks access_token or instance_url', { provider: PROVIDER });
    }
    // With refresh-token rotation on, the old token is now dead: keep the new one before anything else.
    if (typeof body.refresh_token === 'string') await this.ctx.store.set('refreshToken', body.refresh_token);
    return { accessToken: body.access_token, instanceUrl: body.instance_url.replace(/\/+$/, '') };
  }

  private currentSession(signal?: AbortSignal): Promise<Session> {
    if (!this.session) {
      const p = this.authenticate(signal);
      this.session = p;
      p.catch(() => { if (this.session === p) this.session = null; });
    }
    return this.session;
  }

  /**
   * One REST call under `/services/data/vNN.0`; returns the parsed body (undefined for 204). A 401 gets one
   * fresh token and one retry; every other failure is mapped by {@link fail}.
   */
  async request<T = unknown>(r: { method: 'GET' | 'POST' | 'PATCH'; path: string; body?: unknown; signal?: AbortSignal; op: string }): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const session = await this.currentSession(r.signal);
      const url = r.path.startsWith('/services/') ? `${session.instanceUrl}${r.path}` : `${session.instanceUrl}/services/data/${API_VERSION_PATH}${r.path}`;
      let res: Response;
      try {
        res = await this.ctx.http(url, {
          method: r.method, signal: r.signal, timeoutMs: this.o.timeoutMs,
          headers: { authorization: `Bearer ${session.accessToken}`, accept: 'application/json', ...(r.body !== undefined ? { 'content-type': 'application/json' } : {}) },
          body: r.body === undefined ? undefined : JSON.stringify(r.body),
        });
      } catch (e) {
        const err = toPluginError(e, PROVIDER);
        this.ctx.logger.warn({ op: r.op, category: err.category }, 'salesforce request failed before a response');
        throw err;
      }
      const usage = parseLimitInfo(res.headers.get('sforce-limit-info'));
      if (usage !== undefined) this.apiUsage = usage;
      const text = await res.text().catch((e: unknown) => { throw toPluginError(e, PROVIDER); });
      let body: unknown;
      try { body = text ? JSON.parse(text) : undefined; } catch { body = undefined; }
      if (res.ok) return body as T;
      const first = Array.isArray(body) && isObject(body[0]) ? body[0] : undefined;
      const code = typeof first?.errorCode === 'string' ? first.errorCode : undefined;
      if (res.status === 401 && attempt === 0) {
        // Expired access token (INVALID_SESSION_ID): drop it, refresh once, retry once.
        this.session = null;
        continue;
      }
      throw this.fail(res.status, code, r.op);
    }
  }

  /** Salesforce's error code wins over the status where they disagree (REQUEST_LIMIT_EXCEEDED is a 403). */
  private fail(status: number, code: string | undefined, op: string): PluginError {
    this.ctx.logger.warn({ op, status, errorCode: code }, 'salesforce request failed');
    if (code === 'REQUEST_LIMIT_EXCEEDED' || status === 429) return new PluginError('rate_limit', `salesforce ${op}: API limit exceeded`, { provider: PROVIDER, status });
    if (code === 'INVALID_SESSION_ID' || status === 401) return new PluginError('auth', `salesforce ${op}: session rejected after a token refresh`, { provider: PROVIDER, status });
    if (code === 'NOT_FOUND' || code === 'INVALID_CROSS_REFERENCE_KEY' || code === 'MALFORMED_ID') return new PluginError('not_found', `salesforce ${op}: not found`, { provider: PROVIDER, status });
    if (code === 'INSUFFICIENT_ACCESS' || code === 'INSUFFICIENT_ACCESS_OR_READONLY' || code === 'API_DISABLED_FOR_ORG') return new PluginError('forbidden', `salesforce ${op}: ${code}`, { provider: PROVIDER, status });
    if (code === 'DUPLICATE_VALUE' || code === 'DUPLICATES_DETECTED') return new PluginError('conflict', `salesforce ${op}: ${code}`, { provider: PROVIDER, status });
    return fromHttpStatus(status, `salesforce ${op} failed${code ? ` (${code})` : ''}`, { provider: PROVIDER });
  }
}

/** A SOQL string literal: backslash and quote escaped (the only escapes SOQL needs inside quotes). */
export function soqlString(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** A LIKE prefix: `%` and `_` typed by the caller are escaped (`\%`, `\_`), so they match themselves. */
export function soqlLikePrefix(s: string): string {
  const escaped = s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/%/g, '\\%').replace(/_/g, '\\_');
  return `'${escaped}%'`;
}
