import crypto from 'node:crypto';
import { PluginError, fromHttpStatus, isPluginError, toPluginError, } from '../../core/sdk/index.js';
export const PROVIDER = 'google';
let loaded;
export function loadCalendarModule() {
    loaded ??= import('googleapis/build/src/apis/calendar/index.js');
    return loaded;
}
/**
 * Google event ids allow base32hex (a–v, 0–9), 5–1024 characters; hex digits are a subset, so the SHA-256 of
 * the idempotency key is a valid id. The same booking always maps to the same event id, which makes a retried
 * insert a 409 instead of a second event.
 */
export function eventIdFor(idempotencyKey) {
    return crypto.createHash('sha256').update(idempotencyKey).digest('hex');
}
function statusOf(e) {
    const g = e;
    return typeof g?.status === 'number' ? g.status : typeof g?.response?.status === 'number' ? g.response.status : undefined;
}
/** Google's per-error reasons, e.g. rateLimitExceeded; OAuth errors carry a string `error` instead. */
function reasonsOf(e) {
    const data = e?.response?.data;
    if (typeof data?.error === 'string')
        return { reasons: [], oauthError: data.error };
    const errors = data?.error?.errors;
    return { reasons: Array.isArray(errors) ? errors.map((x) => (typeof x.reason === 'string' ? x.reason : '')).filter(Boolean) : [] };
}
/** Any failure from googleapis/gaxios → one PluginError. Messages carry the operation and status, never PII. */
export function mapGoogleError(e, op, signal) {
    if (isPluginError(e))
        return e;
    if (signal?.aborted)
        return new PluginError('timeout', `google ${op} aborted`, { provider: PROVIDER, cause: e });
    const status = statusOf(e);
    const { reasons, oauthError } = reasonsOf(e);
    if (oauthError !== undefined) {
        // The token endpoint: a refused grant or client means the dealership must reconnect Google; retrying won't help.
        if (status !== undefined && status >= 500)
            return new PluginError('upstream', `google token refresh failed (${status})`, { provider: PROVIDER, status, cause: e });
        return new PluginError('auth', `google token refresh refused (${oauthError})`, { provider: PROVIDER, status, cause: e });
    }
    if (status === 403 && reasons.some((r) => r === 'rateLimitExceeded' || r === 'userRateLimitExceeded')) {
        return new PluginError('rate_limit', `google ${op} rate limited`, { provider: PROVIDER, status, cause: e });
    }
    if (status === 403 && reasons.includes('quotaExceeded'))
        return new PluginError('quota', `google ${op} quota exceeded`, { provider: PROVIDER, status, cause: e });
    if (status !== undefined)
        return fromHttpStatus(status, `google ${op} failed (${status}${reasons[0] ? ` ${reasons[0]}` : ''})`, { provider: PROVIDER, cause: e });
    return toPluginError(e, PROVIDER);
}
function eventBody(a, timeZone) {
    const lines = [
        `Customer: ${a.customer.name}`,
        a.customer.phone ? `Phone: ${a.customer.phone}` : undefined,
        a.vehicle?.description ? `Vehicle: ${a.vehicle.description}` : undefined,
        `Resource: ${a.resourceId}`,
        a.notes ? `Notes: ${a.notes}` : undefined,
        `Booked by ServiceLane (appointment ${a.id})`,
    ].filter((l) => l !== undefined);
    return {
        summary: `${a.serviceType.replace(/_/g, ' ')}: ${a.customer.name}`.slice(0, 250),
        description: lines.join('\n'),
        start: { dateTime: a.start, timeZone },
        end: { dateTime: a.end, timeZone },
        // Our bookings occupy one bay, not the whole shop: transparent events stay out of freeBusy (which can only
        // say "the shop is busy"), and getBusy reports them per resource from their tags instead.
        transparency: 'transparent',
        extendedProperties: { private: { [OUR_TAG]: '1', servicelaneAppointmentId: a.id, servicelaneResourceId: a.resourceId } },
    };
}
/** Private extended property that marks events we created; events.list can filter on it exactly. */
const OUR_TAG = 'servicelane';
const MAX_PAGES = 10;
/** Builds the OAuth2 client and Calendar API with the loopback overrides from ctx.env (GOOGLE_TOKEN_URL, GOOGLE_API_ROOT_URL). */
export async function googleClient(ctx, cfg) {
    const { auth, calendar } = await loadCalendarModule();
    const tokenUrl = ctx.env.GOOGLE_TOKEN_URL;
    const oauth = new auth.OAuth2({
        clientId: cfg.credentials.clientId,
        clientSecret: cfg.credentials.clientSecret,
        ...(tokenUrl ? { endpoints: { oauth2TokenUrl: tokenUrl } } : {}),
        // A 401 on a token we believed fresh (revoked, clock skew) gets one refresh and retry instead of failing.
        forceRefreshOnFailure: true,
    });
    oauth.setCredentials({ refresh_token: cfg.credentials.refreshToken });
    const rootUrl = ctx.env.GOOGLE_API_ROOT_URL;
    const api = calendar({ version: 'v3', auth: oauth, ...(rootUrl ? { rootUrl: rootUrl.endsWith('/') ? rootUrl : `${rootUrl}/` } : {}) });
    return {
        calendar: api,
        calendarId: cfg.settings.calendarId ?? 'primary',
        timeZone: cfg.settings.timeZone ?? ctx.timezone,
        sendUpdates: cfg.settings.sendUpdates ?? 'none',
    };
}
/**
 * The dealership's Google Calendar as calendar of record. Busy time comes from freeBusy (shop-wide) and from
 * our own mirrored events (per resource); bookings are mirrored as events whose id derives from the
 * idempotency key.
 * Gaxios' own retries are off: the sync job owns retrying, with backoff, across process restarts.
 */
export function createGoogleCalendar(ctx, g, o = {}) {
    const timeout = o.timeoutMs ?? 10_000;
    const opts = (signal) => ({ retry: false, timeout, ...(signal ? { signal } : {}) });
    async function call(op, signal, fn) {
        try {
            signal?.throwIfAborted();
            return await fn();
        }
        catch (e) {
            const err = mapGoogleError(e, op, signal);
            ctx.logger.warn({ op, category: err.category, status: err.status }, 'google calendar call failed');
            throw err;
        }
    }
    return {
        /**
         * Busy time = freeBusy (the dealership's own events: shop-wide, no resourceId) plus our mirrored bookings
         * (transparent, so absent from freeBusy) listed by tag and attributed to their resource.
         */
        async getBusy(q) {
            const [fb, ours] = await Promise.all([
                call('freeBusy', q.signal, () => g.calendar.freebusy.query({
                    requestBody: { timeMin: q.from, timeMax: q.to, timeZone: g.timeZone, items: [{ id: g.calendarId }] },
                }, opts(q.signal))),
                call('events.list', q.signal, async () => {
                    const items = [];
                    let pageToken;
                    for (let page = 0; page < MAX_PAGES; page++) {
                        const r = await g.calendar.events.list({
                            calendarId: g.calendarId, timeMin: q.from, timeMax: q.to, singleEvents: true, maxResults: 250,
                            privateExtendedProperty: [`${OUR_TAG}=1`], ...(pageToken ? { pageToken } : {}),
                        }, opts(q.signal));
                        items.push(...(r.data.items ?? []));
                        pageToken = r.data.nextPageToken ?? undefined;
                        if (!pageToken)
                            break;
                    }
                    return items;
                }),
            ]);
            const entry = fb.data.calendars?.[g.calendarId];
            if (!entry)
                throw new PluginError('upstream', 'google freeBusy answered without the calendar', { provider: PROVIDER });
            if (entry.errors?.length) {
                const reason = entry.errors[0]?.reason ?? 'unknown';
                throw new PluginError(reason === 'notFound' ? 'not_found' : 'upstream', `google freeBusy calendar error (${reason})`, { provider: PROVIDER });
            }
            const interval = (start, end, resourceId) => {
                const s = Date.parse(start ?? '');
                const e = Date.parse(end ?? '');
                if (Number.isNaN(s) || Number.isNaN(e) || e <= s)
                    return [];
                return [{ start: new Date(s).toISOString(), end: new Date(e).toISOString(), ...(resourceId ? { resourceId } : {}) }];
            };
            const shop = (entry.busy ?? []).flatMap((b) => interval(b.start, b.end));
            const bookings = ours
                .filter((ev) => ev.status !== 'cancelled')
                .flatMap((ev) => interval(ev.start?.dateTime, ev.end?.dateTime, ev.extendedProperties?.private?.servicelaneResourceId));
            return [...shop, ...bookings];
        },
        async createAppointment(q) {
            const id = eventIdFor(q.idempotencyKey);
            const body = eventBody(q.appointment, g.timeZone);
            return call('events.insert', q.signal, async () => {
                try {
                    const r = await g.calendar.events.insert({ calendarId: g.calendarId, sendUpdates: g.sendUpdates, requestBody: { id, ...body } }, opts(q.signal));
                    return { externalId: r.data.id ?? id, ...(r.data.htmlLink ? { url: r.data.htmlLink } : {}) };
                }
                catch (e) {
                    if (statusOf(e) !== 409)
                        throw e;
                    // An earlier attempt got through (its answer was lost): the event is ours. Bring it to the current state,
                    // which also revives it if it had been deleted since (a deleted id stays taken in Google).
                    const r = await g.calendar.events.patch({ calendarId: g.calendarId, eventId: id, sendUpdates: g.sendUpdates, requestBody: { ...body, status: 'confirmed' } }, opts(q.signal));
                    return { externalId: r.data.id ?? id, ...(r.data.htmlLink ? { url: r.data.htmlLink } : {}) };
                }
            });
        },
        async updateAppointment(q) {
            await call('events.patch', q.signal, () => g.calendar.events.patch({
                calendarId: g.calendarId, eventId: q.externalId, sendUpdates: g.sendUpdates,
                requestBody: { ...eventBody(q.appointment, g.timeZone), status: 'confirmed' },
            }, opts(q.signal)));
        },
        async cancelAppointment(q) {
            await call('events.delete', q.signal, async () => {
                try {
                    await g.calendar.events.delete({ calendarId: g.calendarId, eventId: q.externalId, sendUpdates: g.sendUpdates }, opts(q.signal));
                }
                catch (e) {
                    const s = statusOf(e);
                    if (s === 404 || s === 410)
                        return; // already gone: the goal state
                    throw e;
                }
            });
        },
    };
}
//# sourceMappingURL=calendar.js.map