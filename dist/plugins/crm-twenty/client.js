import { PluginError, fromHttpStatus, toPluginError } from '../../core/sdk/index.js';
export const PROVIDER = 'twenty';
export function isObject(v) {
    return typeof v === 'object' && v !== null && !Array.isArray(v);
}
/**
 * Query strings are built by hand so every value goes through encodeURIComponent: `+1` must reach Twenty as
 * `%2B1` (a bare `+` decodes to a space) and `%` wildcards as `%25`.
 */
function queryString(q) {
    const parts = [];
    for (const [k, v] of Object.entries(q))
        if (v !== undefined)
            parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
    return parts.length ? `?${parts.join('&')}` : '';
}
/** Accepts `https://host`, `https://host/` and `https://host/rest` as the same workspace root. */
export function apiRoot(baseUrl) {
    return baseUrl.trim().replace(/\/+$/, '').replace(/\/rest$/, '');
}
/** The one place that speaks HTTP to Twenty: auth header, timeout, and transport failures → PluginError. */
export class TwentyClient {
    ctx;
    o;
    /** The workspace root the client talks to (no trailing slash, no `/rest`). */
    root;
    constructor(ctx, o) {
        this.ctx = ctx;
        this.o = o;
        this.root = apiRoot(o.credentials.baseUrl);
    }
    /** Sends one request and returns whatever came back; only transport failures (timeout, refused) throw. */
    async send(r) {
        const headers = { authorization: `Bearer ${this.o.credentials.apiKey}`, accept: 'application/json' };
        if (r.body !== undefined)
            headers['content-type'] = 'application/json';
        let res;
        try {
            res = await this.ctx.http(`${this.root}${r.path}${queryString(r.query ?? {})}`, {
                method: r.method, headers, body: r.body === undefined ? undefined : JSON.stringify(r.body), signal: r.signal, timeoutMs: this.o.timeoutMs,
            });
        }
        catch (e) {
            const err = toPluginError(e, PROVIDER);
            this.ctx.logger.warn({ op: r.op, category: err.category }, 'twenty request failed before a response');
            throw err;
        }
        const requestId = res.headers.get('x-request-id') ?? undefined;
        let body;
        let text;
        try {
            text = await res.text();
        }
        catch (e) {
            throw toPluginError(e, PROVIDER);
        }
        try {
            body = text === '' ? undefined : JSON.parse(text);
        }
        catch {
            if (res.ok)
                throw new PluginError('upstream', `twenty ${r.op} returned a non-JSON body`, { provider: PROVIDER, status: res.status, providerRequestId: requestId });
            body = undefined;
        }
        const messages = isObject(body) && Array.isArray(body.messages) ? body.messages.filter((m) => typeof m === 'string') : [];
        return { status: res.status, body, requestId, messages };
    }
    /** Like {@link send}, but any non-2xx becomes a PluginError by status (401 auth, 429 rate_limit, 5xx upstream). */
    async ok(r) {
        const res = await this.send(r);
        if (res.status >= 200 && res.status < 300)
            return res;
        throw this.fail(res, r.op);
    }
    /** Maps a failed response. Twenty's messages can echo field values (phones, names), so they go to the log under `pii` only. */
    fail(res, op) {
        const err = fromHttpStatus(res.status, `twenty ${op} failed (${res.status})`, { provider: PROVIDER, providerRequestId: res.requestId });
        this.ctx.logger.warn({ op, status: res.status, category: err.category, providerRequestId: res.requestId, pii: { messages: res.messages } }, 'twenty request rejected');
        return err;
    }
    /**
     * Reads `data.<plural>` pages with cursor pagination until `want` items were accepted, the list ends, or
     * `maxPages` pages were read (a bound on latency for the voice path).
     */
    async collect(r) {
        const out = [];
        let cursor;
        for (let page = 0; page < r.maxPages && out.length < r.want; page++) {
            const res = await this.ok({ method: 'GET', path: r.path, query: { ...r.query, limit: r.pageSize, depth: 0, starting_after: cursor }, signal: r.signal, op: r.op });
            const data = isObject(res.body) && isObject(res.body.data) ? res.body.data[r.plural] : undefined;
            if (!Array.isArray(data))
                throw new PluginError('upstream', `twenty ${r.op} returned an unexpected envelope`, { provider: PROVIDER, status: res.status });
            for (const rec of data) {
                if (!isObject(rec))
                    continue;
                const v = r.accept(rec);
                if (v !== null)
                    out.push(v);
                if (out.length >= r.want)
                    break;
            }
            const info = isObject(res.body) && isObject(res.body.pageInfo) ? res.body.pageInfo : undefined;
            const next = info?.hasNextPage === true && typeof info.endCursor === 'string' ? info.endCursor : undefined;
            if (!next || data.length === 0)
                break;
            cursor = next;
        }
        return out;
    }
}
/** The record under `data.<key>` of a single-record answer (`createPerson`, `person`, …). */
export function dataRecord(res, key, op) {
    const rec = isObject(res.body) && isObject(res.body.data) ? res.body.data[key] : undefined;
    if (!isObject(rec) || typeof rec.id !== 'string')
        throw new PluginError('upstream', `twenty ${op} returned an unexpected envelope`, { provider: PROVIDER, status: res.status });
    return rec;
}
/** Twenty answers a re-posted client-chosen id with 400 `Record already exists`: for an idempotent retry that is success. */
export function isAlreadyExists(res) {
    return res.status === 400 && res.messages.some((m) => /already exists/i.test(m));
}
/** 400 naming a field the object doesn't have: the workspace is on the other schema generation. */
export function isUnknownField(res, field) {
    return res.status === 400 && res.messages.some((m) => m.includes(`"${field}"`) || m.includes(`'${field}'`));
}
//# sourceMappingURL=client.js.map