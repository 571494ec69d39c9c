import { PluginError, toPluginError } from '../../core/sdk/index.js';
const PROVIDER = 'builtin';
/** Longest busy window one call may ask for; availability asks for a day or a week. */
const MAX_RANGE_MS = 400 * 24 * 3600_000;
/** No booking is longer than a day (service durations are ≤ 8 h), so a start bound keeps the range query indexed. */
const MAX_DURATION_MS = 24 * 3600_000;
const RESOURCE_RE = /^[a-z][a-z0-9-]{0,39}$/;
function instant(v, field) {
    if (typeof v !== 'string' || v.length > 40 || !/(Z|[+-]\d{2}:?\d{2})$/i.test(v))
        throw new PluginError('invalid_request', `${field} must be an ISO 8601 instant with an offset`, { provider: PROVIDER });
    const d = new Date(v);
    if (Number.isNaN(d.getTime()))
        throw new PluginError('invalid_request', `${field} is not a valid instant`, { provider: PROVIDER });
    return d;
}
/** SQLSTATE → category: only outages retry; a rejected value is the caller's error. */
function mapDbError(e) {
    const code = e?.code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) {
        if (code.startsWith('22') || code.startsWith('23'))
            return new PluginError('invalid_request', `value rejected by the database (${code})`, { provider: PROVIDER, cause: e });
        if (code === '57014')
            return new PluginError('timeout', 'database statement timed out', { provider: PROVIDER, cause: e });
        if (code.startsWith('08') || code === '57P01' || code === '53300')
            return new PluginError('connectivity', `database unavailable (${code})`, { provider: PROVIDER, cause: e });
    }
    return toPluginError(e, PROVIDER);
}
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
function conflictOr(e) {
    if (e?.code === '23P01')
        return new PluginError('conflict', 'the resource is already booked at that time', { provider: PROVIDER, cause: e });
    return mapDbError(e);
}
function checkedTimes(a) {
    const start = instant(a.start, 'appointment.start');
    const end = instant(a.end, 'appointment.end');
    if (end.getTime() <= start.getTime())
        throw new PluginError('invalid_request', 'appointment must end after it starts', { provider: PROVIDER });
    if (!RESOURCE_RE.test(a.resourceId))
        throw new PluginError('invalid_request', 'appointment.resourceId is not a resource id', { provider: PROVIDER });
    return { start, end };
}
/**
 * The built-in calendar: the tenant's `appointments` table is the calendar. Core books into that table itself
 * and skips this provider (capability `builtin`), so for a row core wrote the write methods have nothing to
 * mirror and return its id. Called for a booking that has no row yet (another caller of the contract), they
 * record it in the same table, under the same exclusion constraint.
 */
export function createBuiltinCalendar(ctx) {
    async function run(signal, fn, map = mapDbError) {
        try {
            signal?.throwIfAborted();
            return await ctx.tenantDb(fn);
        }
        catch (e) {
            throw map(e);
        }
    }
    return {
        async getBusy(o) {
            const from = instant(o.from, 'from');
            const to = instant(o.to, 'to');
            if (to.getTime() <= from.getTime())
                throw new PluginError('invalid_request', 'to must be after from', { provider: PROVIDER });
            if (to.getTime() - from.getTime() > MAX_RANGE_MS)
                throw new PluginError('invalid_request', 'range too long (max 400 days)', { provider: PROVIDER });
            if (o.resourceIds && (o.resourceIds.length > 100 || o.resourceIds.some((r) => typeof r !== 'string' || !RESOURCE_RE.test(r)))) {
                throw new PluginError('invalid_request', 'resourceIds must be resource ids', { provider: PROVIDER });
            }
            if (o.resourceIds?.length === 0)
                return [];
            const rows = await run(o.signal, (trx) => {
                const q = trx('appointments')
                    .whereNot('status', 'cancelled')
                    .where('starts_at', '<', to)
                    .where('ends_at', '>', from)
                    .where('starts_at', '>', new Date(from.getTime() - MAX_DURATION_MS))
                    .orderBy('starts_at')
                    .select('resource_id', 'starts_at', 'ends_at');
                if (o.resourceIds)
                    q.whereIn('resource_id', o.resourceIds);
                return q;
            });
            return rows.map((r) => ({ start: r.starts_at.toISOString(), end: r.ends_at.toISOString(), resourceId: r.resource_id }));
        },
        async createAppointment(o) {
            const a = o.appointment;
            if (typeof o.idempotencyKey !== 'string' || o.idempotencyKey.length === 0 || o.idempotencyKey.length > 180) {
                throw new PluginError('invalid_request', 'idempotencyKey must be 1-180 characters', { provider: PROVIDER });
            }
            const key = `calendar:${o.idempotencyKey}`;
            const id = await run(o.signal, async (trx) => {
                if (UUID_RE.test(a.id)) {
                    const own = await trx('appointments').where({ id: a.id }).first('id');
                    if (own)
                        return own.id;
                }
                const prior = await trx('appointments').where({ idempotency_key: key }).first('id');
                if (prior)
                    return prior.id;
                const { start, end } = checkedTimes(a);
                const [row] = await trx('appointments').insert({
                    customer_id: a.customer.id, customer_name: a.customer.name, customer_phone: a.customer.phone ?? null,
                    resource_id: a.resourceId, service_type: a.serviceType, starts_at: start, ends_at: end,
                    source: 'calendar', notes: a.notes ?? null, idempotency_key: key,
                }).returning('id');
                return row.id;
            }, conflictOr);
            return { externalId: id };
        },
        async updateAppointment(o) {
            const { start, end } = checkedTimes(o.appointment);
            if (!UUID_RE.test(o.externalId))
                throw new PluginError('not_found', 'no such appointment', { provider: PROVIDER });
            const n = await run(o.signal, (trx) => trx('appointments').where({ id: o.externalId }).whereNot('status', 'cancelled').update({
                starts_at: start, ends_at: end, resource_id: o.appointment.resourceId, updated_at: trx.fn.now(),
            }), conflictOr);
            if (n === 0)
                throw new PluginError('not_found', 'no such appointment', { provider: PROVIDER });
        },
        async cancelAppointment(o) {
            o.signal?.throwIfAborted();
            // Not one of our ids (e.g. another calendar's event id handed over by a fallback): say so rather than
            // pretend it was cancelled. A well-formed id that matches nothing is already "not booked" and resolves.
            if (!UUID_RE.test(o.externalId))
                throw new PluginError('not_found', 'no such appointment', { provider: PROVIDER });
            await run(o.signal, (trx) => trx('appointments').where({ id: o.externalId, status: 'booked' }).update({
                status: 'cancelled', cancel_reason: o.reason?.slice(0, 500) ?? null, updated_at: trx.fn.now(),
            }));
        },
    };
}
//# sourceMappingURL=calendar.js.map