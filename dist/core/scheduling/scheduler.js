import { ServiceLaneError, isServiceLaneError } from '../errors.js';
import { calendarSyncJobId } from '../jobs/calendar-sync.js';
import { metrics } from '../observability/metrics.js';
import { withTimeout } from '../resilience/index.js';
import { assignResources, candidateSlots, firstFreeResource, nextFreeSlots, resolveBookingStart, resourcesFor, serviceTypeOf, } from './availability.js';
import { bookedBusy, toAppointment, UUID_RE, } from './appointments.js';
const SELECT_COLS = [
    'id', 'customer_id', 'vehicle_id', 'customer_name', 'customer_phone', 'resource_id', 'service_type', 'service_name',
    'starts_at', 'ends_at', 'status', 'source', 'call_sid', 'notes', 'cancel_reason', 'idempotency_key', 'external_event_id',
    'sync_state', 'revision', 'synced_revision', 'sync_error',
];
const DAY_MS = 24 * 3600_000;
/** How far past a taken slot alternatives may come from. */
const ALTERNATIVE_DAYS = 7;
const MAX_LIST_RANGE_MS = 400 * DAY_MS;
function badField(field, message) {
    return new ServiceLaneError('VOI_ERR_BOOKING_INVALID', message, { reason: 'field', field });
}
function text(v, o) {
    if (v === undefined || v === null) {
        if (o.optional)
            return null;
        throw badField(o.field, `${o.field} is required`);
    }
    if (typeof v !== 'string')
        throw badField(o.field, `${o.field} must be a string`);
    const t = v.trim();
    if (t.length === 0) {
        if (o.optional)
            return null;
        throw badField(o.field, `${o.field} must not be empty`);
    }
    if (t.length > o.max)
        throw badField(o.field, `${o.field} must be at most ${o.max} characters`);
    if (o.pattern && !o.pattern.test(t))
        throw badField(o.field, `${o.field} is malformed`);
    return t;
}
function instantMs(v, field) {
    if (typeof v !== 'string' || v.length > 40 || !/(Z|[+-]\d{2}:?\d{2})$/i.test(v))
        throw badField(field, `${field} must be an ISO 8601 instant with an offset`);
    const ms = Date.parse(v);
    if (Number.isNaN(ms))
        throw badField(field, `${field} is not a valid instant`);
    return ms;
}
const pgCode = (e) => e?.code;
/**
 * Races that a fresh transaction resolves: an exclusion or unique conflict surfacing outside our handler, and
 * a deadlock, which two inserts checking the same gist exclusion constraint against each other's uncommitted
 * rows can produce (Postgres aborts one with 40P01).
 */
const RETRY_CODES = new Set(['23P01', '23505', '40P01']);
const MAX_ROUNDS = 20;
/**
 * An error that escaped a booking transaction (which rolled back): a deadlock or serialization race that a
 * fresh transaction resolves becomes a retry, up to MAX_ROUNDS; anything else is a real failure.
 */
function retryRace(e, round) {
    if (RETRY_CODES.has(pgCode(e) ?? '') && round < MAX_ROUNDS) {
        metrics.bookings.inc({ outcome: pgCode(e) === '40P01' ? 'retry_deadlock' : 'retry_conflict' });
        return { retry: true };
    }
    throw e;
}
/**
 * Serialises writers of one resource for the rest of the transaction. Without it, concurrent inserts of
 * overlapping rows each wait on the other's uncommitted row in the exclusion check: deadlocks (1 s to detect
 * each) and chains of waits past the statement timeout. With it, a second writer waits only for the first
 * to commit and then gets 23P01 at once. The constraint stays the authority; this only orders the queue.
 */
async function lockResource(trx, tenantId, resourceId) {
    await trx.raw('select pg_advisory_xact_lock(hashtextextended(?, 0))', [`book:${tenantId}:${resourceId}`]);
}
/**
 * Availability and bookings. Postgres is the authority: the gist exclusion on (resource_id, tstzrange) turns a
 * race into 23P01 and so into VOI_ERR_SLOT_TAKEN with alternatives. An external calendar plugin contributes
 * busy time when it answers in time (otherwise availability degrades to Postgres only) and receives bookings
 * afterwards through the retrying `calendar-sync` job; the built-in calendar needs neither.
 */
export class Scheduler {
    o;
    syncAttempts;
    syncBackoffMs;
    busyTimeoutMs;
    alternatives;
    constructor(o) {
        this.o = o;
        this.syncAttempts = o.sync?.attempts ?? 10;
        this.syncBackoffMs = o.sync?.backoffMs ?? 5_000;
        this.busyTimeoutMs = o.busyTimeoutMs ?? 2_500;
        this.alternatives = o.alternatives ?? 3;
    }
    async config(tenantId) {
        const t = await this.o.tenants.getActive(tenantId);
        if (!t.config)
            throw new ServiceLaneError('TEN_ERR_CONFIG_INVALID', 'tenant configuration is invalid; scheduling is disabled', { errors: t.configErrors });
        return t.config;
    }
    /** Whether the tenant's calendar of record lives outside Postgres (needs busy queries and mirroring). */
    isExternalCalendar(config) {
        const m = this.o.registry.manifest(config.plugins.calendar.plugin);
        return m?.capabilities.builtin !== true;
    }
    /**
     * Busy time from an external calendar, bounded by busyTimeoutMs. Any failure (outage, breaker open, slot
     * disabled) degrades to Postgres-only availability with a log line and a metric: a caller still gets slots,
     * and the exclusion constraint still guarantees no double booking among ours.
     */
    async externalBusy(tenantId, config, fromMs, toMs) {
        if (!this.isExternalCalendar(config))
            return [];
        try {
            const cal = await this.o.registry.tryGet(tenantId, 'calendar');
            if (!cal)
                return [];
            const query = withTimeout((q) => cal.getBusy({ from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString(), signal: q.signal }), { ms: this.busyTimeoutMs, name: `${config.plugins.calendar.plugin}.getBusy (scheduler budget)` });
            const busy = await query({});
            return busy.flatMap((b) => {
                const s = Date.parse(b.start);
                const e = Date.parse(b.end);
                return Number.isNaN(s) || Number.isNaN(e) || e <= s ? [] : [{ startMs: s, endMs: e, ...(b.resourceId ? { resourceId: b.resourceId } : {}) }];
            });
        }
        catch (e) {
            const reason = isServiceLaneError(e) ? e.code : e.category ?? 'unknown';
            metrics.calendarDegraded.inc({ reason });
            this.o.logger.warn({ tenantId, plugin: config.plugins.calendar.plugin, reason, err: e.message }, 'external calendar busy query failed; availability from Postgres only');
            return [];
        }
    }
    /** Free slots for a local date (YYYY-MM-DD in the dealership's zone) and service type, earliest first. */
    async availableSlots(o) {
        const config = await this.config(o.tenantId);
        const now = o.now ?? new Date();
        const candidates = candidateSlots({ config, date: o.date, serviceType: o.serviceType, now });
        if (candidates.length === 0)
            return [];
        const fromMs = candidates[0].startMs;
        const toMs = Math.max(...candidates.map((c) => c.endMs));
        const [booked, external] = await Promise.all([
            this.o.tenants.withTenant(o.tenantId, (trx) => bookedBusy(trx, { fromMs, toMs })),
            this.externalBusy(o.tenantId, config, fromMs, toMs),
        ]);
        const limit = o.limit === undefined ? undefined : Math.max(1, Math.min(200, Math.floor(o.limit)));
        return assignResources({ config, serviceType: o.serviceType, candidates, busy: [...booked, ...external], limit });
    }
    /** The next free slots after `afterMs` (for "slot taken" answers), from one range query. */
    async alternativesAfter(o) {
        const toMs = o.afterMs + ALTERNATIVE_DAYS * DAY_MS;
        const booked = await this.o.tenants.withTenant(o.tenantId, (trx) => bookedBusy(trx, { fromMs: o.afterMs, toMs }));
        return nextFreeSlots({
            config: o.config, serviceType: o.serviceType, afterMs: o.afterMs, now: o.now, busy: [...booked, ...o.external],
            limit: this.alternatives, maxDays: ALTERNATIVE_DAYS,
        });
    }
    async slotTaken(o) {
        metrics.bookings.inc({ outcome: 'slot_taken' });
        let alternatives = [];
        try {
            alternatives = await this.alternativesAfter({ ...o, afterMs: o.startMs });
        }
        catch (e) {
            this.o.logger.warn({ tenantId: o.tenantId, err: e.message }, 'could not compute alternatives for a taken slot');
        }
        return new ServiceLaneError('VOI_ERR_SLOT_TAKEN', 'that time was just taken', { requested: o.start, alternatives });
    }
    async byIdempotencyKey(tenantId, key) {
        return this.o.tenants.withTenant(tenantId, (trx) => trx('appointments').where({ idempotency_key: key }).first(SELECT_COLS));
    }
    /**
     * Books a slot. Validates every field and the start (a real, future, on-grid slot inside the horizon) before
     * any query; tries the free resources in order, each insert guarded by the exclusion constraint. A retry with
     * the same idempotencyKey returns the first booking (found through the key's unique index when the insert or
     * the validation fails, so the common path costs one transaction). Throws VOI_ERR_BOOKING_INVALID,
     * VOI_ERR_SLOT_TAKEN (details.alternatives), TEN_ERR_*.
     */
    async book(o) {
        let customerId, name, phone, vehicleId, notes;
        let callSid, key, source;
        try {
            if (typeof o.customer !== 'object' || o.customer === null)
                throw badField('customer', 'customer is required');
            customerId = text(o.customer.id, { field: 'customer.id', max: 200 });
            name = text(o.customer.name, { field: 'customer.name', max: 200 });
            phone = text(o.customer.phone, { field: 'customer.phone', max: 16, optional: true, pattern: /^\+[1-9][0-9]{6,14}$/ });
            vehicleId = text(o.vehicleId, { field: 'vehicleId', max: 200, optional: true });
            notes = text(o.notes, { field: 'notes', max: 2000, optional: true });
            callSid = text(o.callSid, { field: 'callSid', max: 64, optional: true, pattern: /^[A-Za-z0-9_-]+$/ });
            key = text(o.idempotencyKey, { field: 'idempotencyKey', max: 200, optional: true });
            source = text(o.source, { field: 'source', max: 40, optional: true, pattern: /^[a-z][a-z0-9_-]*$/ }) ?? 'voice';
        }
        catch (e) {
            metrics.bookings.inc({ outcome: 'invalid' });
            throw e;
        }
        const config = await this.config(o.tenantId);
        const now = o.now ?? new Date();
        const existing = async () => {
            const row = key ? await this.byIdempotencyKey(o.tenantId, key) : undefined;
            if (!row)
                return null;
            metrics.bookings.inc({ outcome: 'idempotent' });
            return toAppointment(row, config);
        };
        let slot;
        try {
            slot = resolveBookingStart({ config, start: o.start, serviceType: o.serviceType, now });
        }
        catch (e) {
            // A retry of a booking made earlier (its slot may have passed since) still answers with that booking.
            const prior = await existing();
            if (prior)
                return prior;
            metrics.bookings.inc({ outcome: 'invalid' });
            throw e;
        }
        const service = serviceTypeOf(config, o.serviceType);
        const resourceIds = resourcesFor(config, service);
        const external = this.isExternalCalendar(config);
        const extBusy = await this.externalBusy(o.tenantId, config, slot.startMs, slot.endMs);
        const tried = new Set();
        let rounds = 0;
        for (;;) {
            const attempt = await this.o.tenants.withTenant(o.tenantId, async (trx) => {
                const busy = [...await bookedBusy(trx, { fromMs: slot.startMs, toMs: slot.endMs }), ...extBusy];
                const resourceId = firstFreeResource({ resourceIds: resourceIds.filter((r) => !tried.has(r)), startMs: slot.startMs, endMs: slot.endMs, busy });
                if (resourceId === null)
                    return { taken: true };
                await lockResource(trx, o.tenantId, resourceId);
                try {
                    const [row] = await trx('appointments').insert({
                        customer_id: customerId, vehicle_id: vehicleId, customer_name: name, customer_phone: phone,
                        resource_id: resourceId, service_type: service.id, service_name: service.name,
                        starts_at: new Date(slot.startMs), ends_at: new Date(slot.endMs),
                        source, call_sid: callSid, notes, idempotency_key: key,
                        sync_state: external ? 'pending' : 'none',
                    }).returning(SELECT_COLS);
                    return { row: row };
                }
                catch (e) {
                    // Lost the race for this resource (another booking committed first): try the next one in a fresh transaction.
                    if (pgCode(e) === '23P01')
                        return { conflict: resourceId };
                    if (pgCode(e) === '23505' && key)
                        return { duplicateKey: true };
                    throw e;
                }
            }).catch((e) => retryRace(e, ++rounds));
            if ('retry' in attempt)
                continue;
            if (attempt.conflict) {
                tried.add(attempt.conflict);
                continue;
            }
            if (attempt.duplicateKey) {
                const prior = await existing();
                if (prior)
                    return prior;
                if (++rounds >= MAX_ROUNDS)
                    throw new ServiceLaneError('ADM_ERR_INTERNAL', 'booking kept colliding on its idempotency key');
                continue;
            }
            if (attempt.taken) {
                // A retry finds its own first booking in the slot (or a concurrent twin won it): answer with that booking.
                const prior = await existing();
                if (prior)
                    return prior;
                throw await this.slotTaken({ tenantId: o.tenantId, config, serviceType: service.id, startMs: slot.startMs, start: o.start, now, external: extBusy });
            }
            const row = attempt.row;
            metrics.bookings.inc({ outcome: 'booked' });
            this.o.logger.info({ tenantId: o.tenantId, appointmentId: row.id, resourceId: row.resource_id, serviceType: row.service_type, callSid }, 'appointment booked');
            if (external)
                await this.enqueueSync(o.tenantId, row, 'create');
            return toAppointment(row, config);
        }
    }
    /**
     * Queues the mirror of a change. The booking is already committed, so a queue outage must not undo it: the
     * row stays `pending` and `resync` (or the next change) pushes it later.
     */
    async enqueueSync(tenantId, row, action) {
        const data = { tenantId, appointmentId: row.id, action, revision: row.revision };
        try {
            await this.o.jobs.enqueue('calendar-sync', data, { jobId: calendarSyncJobId(data), attempts: this.syncAttempts, backoffMs: this.syncBackoffMs });
        }
        catch (e) {
            this.o.logger.error({ tenantId, appointmentId: row.id, action, err: e.message }, 'calendar sync not queued; the booking stays pending for resync');
        }
    }
    async lockRow(trx, appointmentId) {
        const row = await trx('appointments').where({ id: appointmentId }).forUpdate().first(SELECT_COLS);
        if (!row)
            throw new ServiceLaneError('VOI_ERR_APPOINTMENT_NOT_FOUND', 'no such appointment');
        return row;
    }
    checkId(appointmentId) {
        if (typeof appointmentId !== 'string' || !UUID_RE.test(appointmentId))
            throw new ServiceLaneError('VOI_ERR_APPOINTMENT_NOT_FOUND', 'no such appointment');
        return appointmentId;
    }
    /** Cancels a booking (idempotent: cancelling a cancelled one returns it). Frees the slot at once. */
    async cancel(o) {
        const id = this.checkId(o.appointmentId);
        const reason = text(o.reason, { field: 'reason', max: 500, optional: true });
        const config = await this.config(o.tenantId);
        const external = this.isExternalCalendar(config);
        const { row, changed } = await this.o.tenants.withTenant(o.tenantId, async (trx) => {
            const cur = await this.lockRow(trx, id);
            if (cur.status === 'cancelled')
                return { row: cur, changed: false };
            if (cur.status !== 'booked')
                throw new ServiceLaneError('VOI_ERR_APPOINTMENT_STATE', `the appointment is ${cur.status.replace('_', ' ')}`, { status: cur.status });
            // Anything that may exist in the external calendar (synced, or a create possibly in flight) must be removed there.
            const mirrored = external && cur.sync_state !== 'none';
            const [next] = await trx('appointments').where({ id }).update({
                status: 'cancelled', cancel_reason: reason, revision: trx.raw('revision + 1'), updated_at: trx.fn.now(),
                ...(mirrored ? { sync_state: 'pending' } : {}),
            }).returning(SELECT_COLS);
            return { row: next, changed: true };
        });
        if (changed) {
            this.o.logger.info({ tenantId: o.tenantId, appointmentId: id }, 'appointment cancelled');
            if (row.sync_state === 'pending')
                await this.enqueueSync(o.tenantId, row, 'cancel');
        }
        return toAppointment(row, config);
    }
    /**
     * Moves a booking to a new slot in one transaction: the row is locked, the new range is guarded by the
     * exclusion constraint (the row's own old range doesn't conflict with itself), and on a conflict nothing
     * changes and VOI_ERR_SLOT_TAKEN carries alternatives. Keeps the resource when it is free.
     */
    async reschedule(o) {
        const id = this.checkId(o.appointmentId);
        const config = await this.config(o.tenantId);
        const now = o.now ?? new Date();
        const current = await this.o.tenants.withTenant(o.tenantId, (trx) => trx('appointments').where({ id }).first(SELECT_COLS));
        if (!current)
            throw new ServiceLaneError('VOI_ERR_APPOINTMENT_NOT_FOUND', 'no such appointment');
        if (current.status !== 'booked')
            throw new ServiceLaneError('VOI_ERR_APPOINTMENT_STATE', `the appointment is ${current.status.replace('_', ' ')}`, { status: current.status });
        if (!config.serviceTypes.some((s) => s.id === current.service_type)) {
            throw new ServiceLaneError('VOI_ERR_BOOKING_INVALID', 'the appointment\'s service type is no longer offered', { reason: 'service_type' });
        }
        const slot = resolveBookingStart({ config, start: o.newStart, serviceType: current.service_type, now });
        if (slot.startMs === current.starts_at.getTime() && slot.endMs === current.ends_at.getTime())
            return toAppointment(current, config);
        const resourceIds = resourcesFor(config, serviceTypeOf(config, current.service_type));
        const external = this.isExternalCalendar(config);
        // The calendar may still show this booking at its old time (its own mirrored event): that is not a conflict.
        const extBusy = (await this.externalBusy(o.tenantId, config, slot.startMs, slot.endMs)).filter((b) => !(b.resourceId === current.resource_id && b.startMs === current.starts_at.getTime() && b.endMs === current.ends_at.getTime()));
        const tried = new Set();
        let rounds = 0;
        for (;;) {
            const attempt = await this.o.tenants.withTenant(o.tenantId, async (trx) => {
                const cur = await this.lockRow(trx, id);
                if (cur.status !== 'booked')
                    throw new ServiceLaneError('VOI_ERR_APPOINTMENT_STATE', `the appointment is ${cur.status.replace('_', ' ')}`, { status: cur.status });
                const busy = [...await bookedBusy(trx, { fromMs: slot.startMs, toMs: slot.endMs, excludeId: id }), ...extBusy];
                const order = [cur.resource_id, ...resourceIds.filter((r) => r !== cur.resource_id)].filter((r) => resourceIds.includes(r) && !tried.has(r));
                const resourceId = firstFreeResource({ resourceIds: order, startMs: slot.startMs, endMs: slot.endMs, busy });
                if (resourceId === null)
                    return { taken: true };
                await lockResource(trx, o.tenantId, resourceId);
                try {
                    const [row] = await trx('appointments').where({ id }).update({
                        starts_at: new Date(slot.startMs), ends_at: new Date(slot.endMs), resource_id: resourceId,
                        revision: trx.raw('revision + 1'), updated_at: trx.fn.now(),
                        ...(external ? { sync_state: 'pending' } : {}),
                    }).returning(SELECT_COLS);
                    return { row: row };
                }
                catch (e) {
                    if (pgCode(e) === '23P01')
                        return { conflict: resourceId };
                    throw e;
                }
            }).catch((e) => retryRace(e, ++rounds));
            if ('retry' in attempt)
                continue;
            if (attempt.conflict) {
                tried.add(attempt.conflict);
                continue;
            }
            if (attempt.taken) {
                throw await this.slotTaken({ tenantId: o.tenantId, config, serviceType: current.service_type, startMs: slot.startMs, start: o.newStart, now, external: extBusy });
            }
            const row = attempt.row;
            this.o.logger.info({ tenantId: o.tenantId, appointmentId: id, resourceId: row.resource_id }, 'appointment rescheduled');
            if (external)
                await this.enqueueSync(o.tenantId, row, 'update');
            return toAppointment(row, config);
        }
    }
    /** One appointment, or null when the id is unknown (or not an id at all). */
    async get(o) {
        const config = await this.config(o.tenantId);
        if (typeof o.appointmentId !== 'string' || !UUID_RE.test(o.appointmentId))
            return null;
        const row = await this.o.tenants.withTenant(o.tenantId, (trx) => trx('appointments').where({ id: o.appointmentId }).first(SELECT_COLS));
        return row ? toAppointment(row, config) : null;
    }
    /** The customer's booked appointments that have not started yet, soonest first. */
    async upcoming(o) {
        const config = await this.config(o.tenantId);
        const customerId = text(o.customerId, { field: 'customerId', max: 200 });
        const limit = Math.max(1, Math.min(50, Math.floor(o.limit ?? 10)));
        const rows = await this.o.tenants.withTenant(o.tenantId, (trx) => trx('appointments')
            .where({ customer_id: customerId, status: 'booked' })
            .where('starts_at', '>', o.now ?? new Date())
            .orderBy('starts_at').limit(limit).select(SELECT_COLS));
        return rows.map((r) => toAppointment(r, config));
    }
    /** Appointments starting in [from, to) (ISO instants), every status, in start order. At most `limit` (500). */
    async list(o) {
        const fromMs = instantMs(o.from, 'from');
        const toMs = instantMs(o.to, 'to');
        if (toMs <= fromMs)
            throw badField('to', 'to must be after from');
        if (toMs - fromMs > MAX_LIST_RANGE_MS)
            throw badField('to', 'range must be at most 400 days');
        const config = await this.config(o.tenantId);
        const limit = Math.max(1, Math.min(1000, Math.floor(o.limit ?? 500)));
        const rows = await this.o.tenants.withTenant(o.tenantId, (trx) => trx('appointments')
            .where('starts_at', '>=', new Date(fromMs)).where('starts_at', '<', new Date(toMs))
            .orderBy('starts_at').limit(limit).select(SELECT_COLS));
        return rows.map((r) => toAppointment(r, config));
    }
    /**
     * Re-queues mirroring for bookings still `pending` after `olderThanMs` (a lost enqueue) or `failed` (retries
     * exhausted during a long outage). Safe to run on a schedule: the job acts on the current row, once.
     */
    async resync(o) {
        const config = await this.config(o.tenantId);
        if (!this.isExternalCalendar(config))
            return 0;
        const cutoff = new Date(Date.now() - (o.olderThanMs ?? 10 * 60_000));
        const rows = await this.o.tenants.withTenant(o.tenantId, (trx) => trx('appointments')
            .where((q) => q.where('sync_state', 'failed').orWhere((p) => p.where('sync_state', 'pending').where('updated_at', '<', cutoff)))
            .orderBy('updated_at').limit(o.limit ?? 200).select('id', 'revision', 'status', 'external_event_id'));
        const sweep = Date.now().toString(36);
        for (const r of rows) {
            const action = r.status === 'cancelled' ? 'cancel' : r.external_event_id ? 'update' : 'create';
            const data = { tenantId: o.tenantId, appointmentId: r.id, action, revision: r.revision };
            // A fresh id per sweep: the job of the same revision may still be kept (and so deduplicated) as failed.
            await this.o.jobs.enqueue('calendar-sync', data, { jobId: `${calendarSyncJobId(data)}-s${sweep}`, attempts: this.syncAttempts, backoffMs: this.syncBackoffMs });
        }
        return rows.length;
    }
}
//# sourceMappingURL=scheduler.js.map