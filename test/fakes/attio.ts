/**
 * Loopback fake of one Attio workspace (REST v2), the parts crm-attio uses.
 *
 * Documented (docs.attio.com): Bearer auth; `POST /v2/objects/{object}/records/query` with an unwrapped
 * `{filter, limit, offset}` body answering `{data:[record]}`; create `POST …/records` with `{data:{values}}`;
 * `GET …/records/{id}`; `GET /v2/objects/{object}` (404 when the workspace has no such object);
 * `POST /v2/notes` with `{data:{parent_object, parent_record_id, title, format, content}}`; records carry
 * `values` where every attribute is an ARRAY of historical value objects (`active_from`, `active_until`,
 * `created_by_actor`, `attribute_type`, …); phone values have `original_phone_number`,
 * `normalized_phone_number` (E.164) and `country_code`; errors are `{status_code, type, code, message}`;
 * 429 `rate_limit_exceeded` with `Retry-After` as an HTTP date.
 * Inferred (pin with a sandbox contract test): the `phone_numbers` string shorthand filter matching the
 * normalized number (by analogy with the documented `email_addresses` shorthand); `$starts_with` on
 * `name.first_name`/`name.last_name` being case-insensitive; `{owner: {target_record_id: {$eq}}}` on a
 * record-reference attribute.
 */
import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import {
  FaultInjector, applyTransportFault, bearerToken, readJson, requestUrl, sendJson, startLoopbackServer, type DownMode,
} from './http-util.js';

type Values = Record<string, Array<Record<string, unknown>>>;
export interface AttioRecord { id: { workspace_id: string; object_id: string; record_id: string }; created_at: string; web_url: string; values: Values }
export interface AttioNote { id: { workspace_id: string; note_id: string }; parent_object: string; parent_record_id: string; title: string; content_plaintext: string; format: string; created_at: string }

export interface FakeAttio {
  url: string;
  records: Map<string, AttioRecord[]>;
  notes: AttioNote[];
  requests: Array<{ method: string; path: string; body: unknown }>;
  /** Objects the workspace has (people always; add `vehicles` to give it the custom object). */
  objects: Set<string>;
  setDown(down: boolean, mode?: DownMode, status?: number): void;
  faults: FaultInjector;
  close(): Promise<void>;
}

const WORKSPACE = '14beef7a-99f7-4534-a87e-70b564330a4c';

function attioError(res: http.ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  const type = status === 429 ? 'rate_limit_error' : status === 401 ? 'auth_error' : status >= 500 ? 'api_error' : 'invalid_request_error';
  sendJson(res, status, { status_code: status, type, code, message }, headers);
}

function historic(attributeType: string, v: Record<string, unknown>): Record<string, unknown> {
  return { active_from: new Date().toISOString(), active_until: null, created_by_actor: { type: 'api-token', id: 'token' }, attribute_type: attributeType, ...v };
}

/** Write shapes → stored history arrays (people's standard attributes; anything else stored as text/number/reference). */
function toValues(input: Record<string, unknown>): Values {
  const out: Values = {};
  for (const [k, raw] of Object.entries(input)) {
    const list = Array.isArray(raw) ? raw : [raw];
    out[k] = list.map((v) => {
      if (k === 'phone_numbers') {
        const s = typeof v === 'string' ? v : String((v as Record<string, unknown>).original_phone_number ?? '');
        return historic('phone-number', { original_phone_number: s, normalized_phone_number: s.startsWith('+') ? `+${s.replace(/\D/g, '')}` : `+1${s.replace(/\D/g, '')}`, country_code: 'US' });
      }
      if (k === 'email_addresses') return historic('email-address', { email_address: String(v), original_email_address: String(v), email_domain: String(v).split('@')[1] ?? '' });
      if (k === 'name' && typeof v === 'object' && v) return historic('personal-name', v as Record<string, unknown>);
      if (typeof v === 'object' && v && 'target_record_id' in v) return historic('record-reference', v as Record<string, unknown>);
      if (typeof v === 'number') return historic('number', { value: v });
      return historic('text', { value: v });
    });
  }
  return out;
}

function valueProps(rec: AttioRecord, attr: string): Array<Record<string, unknown>> {
  return (rec.values[attr] ?? []).filter((v) => v.active_until === null);
}

function test(actual: unknown, cond: unknown): boolean {
  const a = String(actual ?? '');
  if (cond !== null && typeof cond === 'object') {
    const c = cond as Record<string, unknown>;
    if ('$eq' in c) return a === String(c.$eq);
    if ('$starts_with' in c) return a.toLowerCase().startsWith(String(c.$starts_with).toLowerCase());
    if ('$contains' in c) return a.toLowerCase().includes(String(c.$contains).toLowerCase());
    return false;
  }
  return a === String(cond);
}

function matches(rec: AttioRecord, filter: unknown): boolean {
  if (!filter || typeof filter !== 'object') return true;
  const f = filter as Record<string, unknown>;
  for (const [k, cond] of Object.entries(f)) {
    if (k === '$or') { if (!(cond as unknown[]).some((c) => matches(rec, c))) return false; continue; }
    if (k === '$and') { if (!(cond as unknown[]).every((c) => matches(rec, c))) return false; continue; }
    const vals = valueProps(rec, k);
    if (typeof cond === 'string') {
      // Shorthand: phone numbers compare normalized E.164, emails the address.
      if (!vals.some((v) => v.normalized_phone_number === cond || v.email_address === cond || v.value === cond)) return false;
      continue;
    }
    const props = cond as Record<string, unknown>;
    const ops = Object.keys(props).some((p) => p.startsWith('$'));
    if (ops) { if (!vals.some((v) => test(v.value ?? v.full_name, props))) return false; continue; }
    if (!vals.some((v) => Object.entries(props).every(([p, c]) => test(v[p], c)))) return false;
  }
  return true;
}

export async function startFakeAttio(o: { apiKey?: string } = {}): Promise<FakeAttio> {
  const apiKey = o.apiKey ?? 'attio-test-key';
  const records = new Map<string, AttioRecord[]>();
  const notes: AttioNote[] = [];
  const requests: FakeAttio['requests'] = [];
  const objects = new Set(['people']);
  const faults = new FaultInjector();
  const table = (obj: string) => { let t = records.get(obj); if (!t) { t = []; records.set(obj, t); } return t; };

  const server = await startLoopbackServer(async (req, res) => {
    const u = requestUrl(req);
    const method = req.method ?? 'GET';
    const fault = faults.take(method, u.pathname);
    if (fault) {
      if (applyTransportFault(req, fault)) return;
      if (fault.kind === 'status') {
        if (fault.status === 429) {
          attioError(res, 429, 'rate_limit_exceeded', 'Rate limit exceeded, please try again later', { 'retry-after': new Date(Date.now() + 1000).toUTCString(), ...fault.headers });
          return;
        }
        attioError(res, fault.status, fault.status === 401 ? 'invalid_auth' : 'fault', 'fault injected', fault.headers);
        return;
      }
    }
    if (bearerToken(req) !== apiKey) { attioError(res, 401, 'invalid_auth', 'Authentication failed'); return; }
    let body: unknown;
    try { body = method === 'GET' ? undefined : await readJson(req); } catch { attioError(res, 400, 'validation_type', 'Body is not valid JSON'); return; }
    requests.push({ method, path: u.pathname + u.search, body });
    const b = (body ?? {}) as Record<string, unknown>;

    let m = /^\/v2\/objects\/([a-z_]+)$/.exec(u.pathname);
    if (m && method === 'GET') {
      if (!objects.has(m[1]!)) { attioError(res, 404, 'not_found', `Object with slug/ID "${m[1]}" not found.`); return; }
      sendJson(res, 200, { data: { id: { workspace_id: WORKSPACE, object_id: randomUUID() }, api_slug: m[1], singular_noun: m[1], plural_noun: m[1] } });
      return;
    }
    m = /^\/v2\/objects\/([a-z_]+)\/records(?:\/(query|[0-9a-f-]{36}))?$/.exec(u.pathname);
    if (m) {
      const obj = m[1]!;
      if (!objects.has(obj)) { attioError(res, 404, 'not_found', `Object with slug/ID "${obj}" not found.`); return; }
      if (m[2] === 'query' && method === 'POST') {
        if ('data' in b) { attioError(res, 400, 'validation_type', 'Body payload validation error: unexpected "data" on query'); return; }
        const limit = typeof b.limit === 'number' ? b.limit : 500;
        const offset = typeof b.offset === 'number' ? b.offset : 0;
        const rows = table(obj).filter((r) => matches(r, b.filter));
        sendJson(res, 200, { data: rows.slice(offset, offset + limit) });
        return;
      }
      if (!m[2] && method === 'POST') {
        const values = (b.data as { values?: Record<string, unknown> } | undefined)?.values;
        if (!values || typeof values !== 'object') { attioError(res, 400, 'validation_type', 'Body payload validation error: data.values is required'); return; }
        const id = randomUUID();
        const rec: AttioRecord = { id: { workspace_id: WORKSPACE, object_id: randomUUID(), record_id: id }, created_at: new Date().toISOString(), web_url: `https://app.attio.com/x/${obj}/${id}`, values: toValues(values) };
        table(obj).push(rec);
        sendJson(res, 200, { data: rec });
        return;
      }
      if (m[2] && m[2] !== 'query' && method === 'GET') {
        const rec = table(obj).find((r) => r.id.record_id === m![2]);
        if (!rec) { attioError(res, 404, 'not_found', `Record with ID "${m[2]}" not found.`); return; }
        sendJson(res, 200, { data: rec });
        return;
      }
    }
    if (u.pathname === '/v2/notes' && method === 'POST') {
      const d = (b.data ?? {}) as Record<string, unknown>;
      if (d.format !== 'plaintext' && d.format !== 'markdown') { attioError(res, 400, 'validation_type', 'format must be plaintext or markdown'); return; }
      if (!table(String(d.parent_object)).some((r) => r.id.record_id === d.parent_record_id)) { attioError(res, 404, 'not_found', 'Parent record not found.'); return; }
      const note: AttioNote = {
        id: { workspace_id: WORKSPACE, note_id: randomUUID() }, parent_object: String(d.parent_object), parent_record_id: String(d.parent_record_id),
        title: String(d.title ?? ''), content_plaintext: String(d.content ?? ''), format: String(d.format), created_at: String(d.created_at ?? new Date().toISOString()),
      };
      notes.push(note);
      sendJson(res, 200, { data: note });
      return;
    }
    attioError(res, 404, 'not_found', 'Route not found');
  });

  return {
    url: server.url, records, notes, requests, objects, faults,
    setDown: (down, mode, status) => faults.setDown(down, mode, status),
    close: () => server.close(),
  };
}
