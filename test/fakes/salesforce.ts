/**
 * Loopback fake of one Salesforce org: the OAuth token endpoint and the REST API pieces crm-salesforce uses
 * (`/services/oauth2/token`, `/services/data/vNN.0/{query,search,sobjects}`).
 *
 * Documented behaviour it reproduces (Salesforce REST API and OAuth docs):
 * - token: form POST, `grant_type=refresh_token` (optional rotation: a new `refresh_token` invalidates the
 *   old one) or `client_credentials`; response `{access_token, instance_url, id, token_type, issued_at,
 *   signature, scope}`; a bad grant is 400 `{"error":"invalid_grant","error_description":…}`.
 * - errors are a JSON ARRAY `[{"message","errorCode","fields"?}]`: 401 `INVALID_SESSION_ID` for an expired or
 *   unknown token, 400 `MALFORMED_QUERY`/`INVALID_FIELD`/`REQUIRED_FIELD_MISSING`, 404 `NOT_FOUND`,
 *   403 `REQUEST_LIMIT_EXCEEDED` (the org's 24 h API limit; 403, not 429).
 * - query: `{totalSize, done, nextRecordsUrl?, records:[{attributes:{type,url}, …}]}`, paged by `nextRecordsUrl`.
 * - search: SOSL `FIND {…} IN PHONE FIELDS RETURNING Obj(fields)` → `{searchRecords:[…]}` (v36+ shape).
 * - create: 201 `{id, success: true, errors: []}`; ids are 18 characters with the object's key prefix.
 * - every API response carries `Sforce-Limit-Info: api-usage=<used>/<limit>`.
 * Inferred (not confirmed against a sandbox): SOSL phone search matching on digits regardless of the stored
 * format (the fake strips non-digits on both sides and matches the last 10); SOQL `=` and `LIKE` on text are
 * case-insensitive (as documented); only a flat WHERE of `=`/`LIKE` terms joined by all-AND or all-OR is parsed.
 */
import { randomBytes } from 'node:crypto';
import type http from 'node:http';
import {
  FaultInjector, applyTransportFault, bearerToken, readBody, parseJsonBody, parseFormBody, requestUrl, sendJson, startLoopbackServer,
  type DownMode,
} from './http-util.js';

export const SF_API_VERSION = 'v62.0';
const PREFIX: Record<string, string> = { Contact: '003', Lead: '00Q', Task: '00T', Event: '00U', Asset: '02i', WorkOrder: '0WO', Vehicle__c: 'a0V', Service_Record__c: 'a0S' };
const PAGE = 2000;

export type SfRecord = Record<string, unknown> & { Id: string };

export interface FakeSalesforceOptions {
  clientId?: string;
  clientSecret?: string;
  refreshToken?: string;
  /** Issue a new refresh token on every refresh (and invalidate the old one). */
  rotateRefreshTokens?: boolean;
  /** The org's daily API limit (`Sforce-Limit-Info`). */
  apiLimit?: number;
  /** Records per query page (2000 in Salesforce; smaller to exercise paging). */
  pageSize?: number;
}

export interface FakeSalesforce {
  url: string;
  /** Records by object name. */
  records: Map<string, SfRecord[]>;
  /** Every API request (not token requests): method, path with query, body. */
  requests: Array<{ method: string; path: string; body: unknown }>;
  tokenRequests: URLSearchParams[];
  /** The refresh token currently valid (changes with rotation). */
  readonly refreshToken: string;
  /** Invalidate every access token issued so far (the next API call gets 401 INVALID_SESSION_ID). */
  expireTokens(): void;
  /** Set used API calls (the limit header and REQUEST_LIMIT_EXCEEDED follow it). */
  setApiUsage(used: number): void;
  seed(object: string, fields: Record<string, unknown>): SfRecord;
  setDown(down: boolean, mode?: DownMode, status?: number): void;
  faults: FaultInjector;
  close(): Promise<void>;
}

function sfId(object: string): string {
  const prefix = PREFIX[object] ?? 'a0X';
  return (prefix + randomBytes(12).toString('hex').toUpperCase()).slice(0, 18);
}

function sfError(res: http.ServerResponse, status: number, errorCode: string, message: string, headers: Record<string, string> = {}): void {
  sendJson(res, status, [{ message, errorCode }], headers);
}

const digits = (s: unknown) => String(s ?? '').replace(/\D/g, '');

interface Cond { field: string; op: '=' | 'LIKE'; value: string }
interface Soql { fields: string[]; object: string; conds: Cond[]; join: 'AND' | 'OR'; limit?: number; orderBy?: { field: string; desc: boolean } }

/** The SOQL subset crm-salesforce sends; anything else is MALFORMED_QUERY, as the real parser would say for garbage. */
export function parseSoql(q: string): Soql | null {
  const m = /^\s*SELECT\s+(.+?)\s+FROM\s+([A-Za-z_][A-Za-z0-9_]*)(?:\s+WHERE\s+(.+?))?(?:\s+ORDER\s+BY\s+([A-Za-z_][A-Za-z0-9_]*)(\s+DESC|\s+ASC)?)?(?:\s+LIMIT\s+(\d+))?\s*$/is.exec(q);
  if (!m) return null;
  const fields = m[1]!.split(',').map((f) => f.trim());
  if (fields.some((f) => !/^[A-Za-z_][A-Za-z0-9_.]*$/.test(f))) return null;
  const conds: Cond[] = [];
  let join: 'AND' | 'OR' = 'AND';
  if (m[3]) {
    const termRe = /\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=|LIKE)\s*'((?:[^'\\]|\\.)*)'\s*(AND|OR)?/iy;
    let pos = 0;
    const joins = new Set<string>();
    while (pos < m[3].length) {
      termRe.lastIndex = pos;
      const t = termRe.exec(m[3]);
      if (!t) return null;
      conds.push({ field: t[1]!, op: t[2]!.toUpperCase() as Cond['op'], value: t[3]!.replace(/\\(.)/g, '$1') });
      if (t[4]) joins.add(t[4].toUpperCase());
      pos = termRe.lastIndex;
    }
    if (joins.size > 1) return null;
    join = (joins.values().next().value as 'AND' | 'OR' | undefined) ?? 'AND';
  }
  return { fields, object: m[2]!, conds, join, limit: m[6] ? Number(m[6]) : undefined, orderBy: m[4] ? { field: m[4], desc: /DESC/i.test(m[5] ?? '') } : undefined };
}

function likeMatch(value: string, pattern: string): boolean {
  const re = new RegExp(`^${pattern.split('').map((c) => (c === '%' ? '.*' : c === '_' ? '.' : c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('')}$`, 'is');
  return re.test(value);
}

export async function startFakeSalesforce(o: FakeSalesforceOptions = {}): Promise<FakeSalesforce> {
  const clientId = o.clientId ?? 'sf-client-id';
  const clientSecret = o.clientSecret ?? 'sf-client-secret';
  let refreshToken = o.refreshToken ?? 'sf-refresh-token';
  const pageSize = o.pageSize ?? PAGE;
  const apiLimit = o.apiLimit ?? 100_000;
  let apiUsed = 0;
  const tokens = new Set<string>();
  const records = new Map<string, SfRecord[]>();
  const cursors = new Map<string, { rows: SfRecord[]; object: string; fields: string[] }>();
  const requests: FakeSalesforce['requests'] = [];
  const tokenRequests: URLSearchParams[] = [];
  const faults = new FaultInjector();
  let url = '';

  const table = (object: string) => {
    let t = records.get(object);
    if (!t) { t = []; records.set(object, t); }
    return t;
  };
  const view = (object: string, r: SfRecord, fields: string[]) => ({
    attributes: { type: object, url: `/services/data/${SF_API_VERSION}/sobjects/${object}/${r.Id}` },
    ...Object.fromEntries(fields.map((f) => [f, r[f] ?? null])),
  });

  const issue = (res: http.ServerResponse, rotate: boolean) => {
    const access = `00D${randomBytes(8).toString('hex')}!${randomBytes(24).toString('base64url')}`;
    tokens.add(access);
    const body: Record<string, unknown> = {
      access_token: access, instance_url: url, id: `${url}/id/00Dxx0000000001/005xx0000000001`, token_type: 'Bearer',
      issued_at: String(Date.now()), signature: randomBytes(32).toString('base64'), scope: 'api refresh_token',
    };
    if (rotate) { refreshToken = `sf-refresh-${randomBytes(8).toString('hex')}`; body.refresh_token = refreshToken; }
    sendJson(res, 200, body);
  };

  const server = await startLoopbackServer(async (req, res) => {
    const u = requestUrl(req);
    const method = req.method ?? 'GET';
    const raw = await readBody(req);
    const fault = faults.take(method, u.pathname);
    if (fault) {
      if (applyTransportFault(req, fault)) return;
      if (fault.kind === 'status') {
        if (fault.body !== undefined) { sendJson(res, fault.status, fault.body, fault.headers); return; }
        const code = fault.status === 401 ? 'INVALID_SESSION_ID' : fault.status === 403 ? 'REQUEST_LIMIT_EXCEEDED' : fault.status === 429 ? 'REQUEST_LIMIT_EXCEEDED' : 'SERVER_UNAVAILABLE';
        if (u.pathname === '/services/oauth2/token' && (fault.status === 401 || fault.status === 400)) { sendJson(res, 400, { error: 'invalid_grant', error_description: 'expired access/refresh token' }); return; }
        sfError(res, fault.status, code, code === 'INVALID_SESSION_ID' ? 'Session expired or invalid' : 'fault injected', fault.headers);
        return;
      }
    }

    if (u.pathname === '/services/oauth2/token' && method === 'POST') {
      const form = parseFormBody(raw);
      tokenRequests.push(form);
      if (form.get('client_id') !== clientId || form.get('client_secret') !== clientSecret) {
        sendJson(res, 400, { error: 'invalid_client', error_description: 'invalid client credentials' });
        return;
      }
      const grant = form.get('grant_type');
      if (grant === 'refresh_token') {
        if (form.get('refresh_token') !== refreshToken) { sendJson(res, 400, { error: 'invalid_grant', error_description: 'expired access/refresh token' }); return; }
        issue(res, o.rotateRefreshTokens === true);
        return;
      }
      if (grant === 'client_credentials') { issue(res, false); return; }
      sendJson(res, 400, { error: 'unsupported_grant_type', error_description: 'grant type not supported' });
      return;
    }

    const base = `/services/data/${SF_API_VERSION}`;
    if (!u.pathname.startsWith('/services/data/')) { sfError(res, 404, 'NOT_FOUND', 'The requested resource does not exist'); return; }
    const token = bearerToken(req);
    if (!token || !tokens.has(token)) { sfError(res, 401, 'INVALID_SESSION_ID', 'Session expired or invalid'); return; }
    if (apiUsed >= apiLimit) { sfError(res, 403, 'REQUEST_LIMIT_EXCEEDED', `TotalRequests Limit exceeded.`); return; }
    apiUsed++;
    const limitHeader = { 'sforce-limit-info': `api-usage=${apiUsed}/${apiLimit}` };
    let body: unknown;
    try { body = parseJsonBody(raw); } catch { sfError(res, 400, 'JSON_PARSER_ERROR', 'Unexpected character'); return; }
    requests.push({ method, path: u.pathname + u.search, body });
    if (!u.pathname.startsWith(base)) { sfError(res, 404, 'NOT_FOUND', 'The requested resource does not exist', limitHeader); return; }
    const rest = u.pathname.slice(base.length);

    if (rest === '/query' || rest === '/query/') {
      const q = parseSoql(u.searchParams.get('q') ?? '');
      if (!q) { sfError(res, 400, 'MALFORMED_QUERY', 'unexpected token', limitHeader); return; }
      let rows = table(q.object).filter((r) => {
        if (q.conds.length === 0) return true;
        const test = (c: Cond) => (c.op === '=' ? String(r[c.field] ?? '').toLowerCase() === c.value.toLowerCase() : likeMatch(String(r[c.field] ?? ''), c.value));
        return q.join === 'AND' ? q.conds.every(test) : q.conds.some(test);
      });
      if (q.orderBy) {
        const f = q.orderBy.field;
        rows = [...rows].sort((a, b) => String(a[f] ?? '').localeCompare(String(b[f] ?? '')) * (q.orderBy!.desc ? -1 : 1));
      }
      if (q.limit !== undefined) rows = rows.slice(0, q.limit);
      const page = rows.slice(0, pageSize);
      const out: Record<string, unknown> = { totalSize: rows.length, done: rows.length <= pageSize, records: page.map((r) => view(q.object, r, q.fields)) };
      if (rows.length > pageSize) {
        const id = `01g${randomBytes(6).toString('hex')}`;
        cursors.set(id, { rows: rows.slice(pageSize), object: q.object, fields: q.fields });
        out.nextRecordsUrl = `${base}/query/${id}-${pageSize}`;
      }
      sendJson(res, 200, out, limitHeader);
      return;
    }
    const more = /^\/query\/(01g[0-9a-f]+)-\d+$/.exec(rest);
    if (more) {
      const c = cursors.get(more[1]!);
      if (!c) { sfError(res, 400, 'INVALID_QUERY_LOCATOR', 'invalid query locator', limitHeader); return; }
      const page = c.rows.slice(0, pageSize);
      c.rows = c.rows.slice(pageSize);
      const out: Record<string, unknown> = { totalSize: page.length, done: c.rows.length === 0, records: page.map((r) => view(c.object, r, c.fields)) };
      if (c.rows.length) out.nextRecordsUrl = `${base}/query/${more[1]}-${pageSize}`;
      sendJson(res, 200, out, limitHeader);
      return;
    }
    if (rest === '/search' || rest === '/search/') {
      const m = /^FIND\s+\{([^}]*)\}\s+IN\s+PHONE\s+FIELDS\s+RETURNING\s+([A-Za-z_][A-Za-z0-9_]*)\(([^)]*)\)\s*$/i.exec(u.searchParams.get('q') ?? '');
      if (!m) { sfError(res, 400, 'MALFORMED_SEARCH', 'No search term found', limitHeader); return; }
      const want = digits(m[1]).slice(-10);
      if (want.length < 2) { sfError(res, 400, 'MALFORMED_SEARCH', 'search term must be longer than one character', limitHeader); return; }
      const fields = m[3]!.split(',').map((f) => f.trim());
      const hits = table(m[2]!).filter((r) => ['Phone', 'MobilePhone', 'HomePhone', 'OtherPhone'].some((f) => digits(r[f]).slice(-10) === want && want.length === 10));
      sendJson(res, 200, { searchRecords: hits.map((r) => view(m[2]!, r, fields)) }, limitHeader);
      return;
    }
    const so = /^\/sobjects\/([A-Za-z_][A-Za-z0-9_]*)(?:\/([A-Za-z0-9]{15,18}))?$/.exec(rest);
    if (so) {
      const object = so[1]!;
      if (!PREFIX[object]) { sfError(res, 404, 'NOT_FOUND', `The requested resource does not exist`, limitHeader); return; }
      if (method === 'POST' && !so[2]) {
        if (typeof body !== 'object' || body === null || Array.isArray(body)) { sfError(res, 400, 'JSON_PARSER_ERROR', 'body must be an object', limitHeader); return; }
        const fields = body as Record<string, unknown>;
        if (object === 'Contact' && !fields.LastName) {
          sendJson(res, 400, [{ message: 'Required fields are missing: [LastName]', errorCode: 'REQUIRED_FIELD_MISSING', fields: ['LastName'] }], limitHeader);
          return;
        }
        const r = { ...fields, Id: sfId(object), CreatedDate: new Date().toISOString() } as SfRecord;
        table(object).push(r);
        sendJson(res, 201, { id: r.Id, success: true, errors: [] }, limitHeader);
        return;
      }
      if (method === 'GET' && so[2]) {
        const r = table(object).find((x) => x.Id === so[2] || x.Id.slice(0, 15) === so[2]);
        if (!r) { sfError(res, 404, 'NOT_FOUND', 'The requested resource does not exist', limitHeader); return; }
        sendJson(res, 200, view(object, r, Object.keys(r)), limitHeader);
        return;
      }
    }
    sfError(res, 404, 'NOT_FOUND', 'The requested resource does not exist', limitHeader);
  });
  url = server.url;

  return {
    url, records, requests, tokenRequests, faults,
    get refreshToken() { return refreshToken; },
    expireTokens: () => tokens.clear(),
    setApiUsage: (n) => { apiUsed = n; },
    seed: (object, fields) => { const r = { ...fields, Id: sfId(object) } as SfRecord; table(object).push(r); return r; },
    setDown: (down, mode, status) => faults.setDown(down, mode, status),
    close: () => server.close(),
  };
}
