import { normalizeVin, isValidVin, PluginError, parseIsoInstant, } from '../../core/sdk/index.js';
import { PROVIDER, clampLimit, escapeLike, invalid, isUuid, mapDbError } from './db.js';
const E164_RE = /^\+[1-9][0-9]{6,14}$/;
const ZIP_RE = /^[A-Za-z0-9][A-Za-z0-9 -]{1,9}$/;
const EMAIL_RE = /^[^\s@]{1,64}@[^\s@]{1,190}\.[^\s@]{1,63}$/;
const SUMMARY_MAX = 8000;
const OUTCOMES = new Set(['booked', 'cancelled', 'rescheduled', 'info', 'transferred', 'callback', 'voicemail', 'other']);
const CUSTOMER_COLS = ['id', 'first_name', 'last_name', 'phone', 'email', 'zip', 'notes'];
const VEHICLE_COLS = ['id', 'customer_id', 'vin', 'year', 'make', 'model', 'mileage'];
function toCustomer(r) {
    const c = { id: r.id, firstName: r.first_name, lastName: r.last_name };
    if (r.phone)
        c.phone = r.phone;
    if (r.email)
        c.email = r.email;
    if (r.zip)
        c.zip = r.zip;
    if (r.notes)
        c.notes = r.notes;
    return c;
}
function toVehicle(r) {
    const v = { id: r.id, customerId: r.customer_id };
    if (r.vin)
        v.vin = r.vin;
    if (r.year !== null)
        v.year = r.year;
    if (r.make)
        v.make = r.make;
    if (r.model)
        v.model = r.model;
    if (r.mileage !== null)
        v.mileage = r.mileage;
    return v;
}
function toServiceRecord(r) {
    const s = { id: r.id, vehicleId: r.vehicle_id, performedAt: r.performed_at.toISOString(), serviceType: r.service_type };
    if (r.description)
        s.description = r.description;
    if (r.mileage !== null)
        s.mileage = r.mileage;
    return s;
}
function personName(raw, field) {
    const v = raw.trim().replace(/\s+/g, ' ');
    if (v.length < 1 || v.length > 100)
        throw invalid(`${field} must be 1-100 characters`);
    return v;
}
function optionalInt(v, o) {
    if (v === undefined)
        return null;
    if (!Number.isInteger(v) || v < o.min || v > o.max)
        throw invalid(`${o.field} must be an integer between ${o.min} and ${o.max}`);
    return v;
}
function optionalText(v, o) {
    if (v === undefined)
        return null;
    const t = v.trim();
    if (t.length === 0)
        return null;
    if (t.length > o.max)
        throw invalid(`${o.field} must be at most ${o.max} characters`);
    return t;
}
/**
 * The built-in CRM: customers, vehicles and service history in the tenant's own schema.
 * Every method validates its input before touching the database, so a bad argument never costs a query.
 */
export function createBuiltinCrm(ctx) {
    /** One tenant-scoped transaction per call; the abort check comes first so a cancelled turn costs nothing. */
    async function run(signal, fn) {
        try {
            signal?.throwIfAborted();
            return await ctx.tenantDb(fn);
        }
        catch (e) {
            throw mapDbError(e);
        }
    }
    return {
        async findCustomers(o) {
            const limit = clampLimit(o.limit, { dflt: 10, max: 50 });
            if (o.phone === undefined && o.name === undefined)
                throw invalid('findCustomers needs a phone or a name');
            if (o.phone !== undefined && !E164_RE.test(o.phone))
                throw invalid('phone must be E.164');
            let pattern;
            if (o.name !== undefined) {
                const name = o.name.trim().replace(/\s+/g, ' ').toLowerCase();
                if (name.length < 1 || name.length > 100)
                    throw invalid('name must be 1-100 characters');
                pattern = `${escapeLike(name)}%`;
            }
            const rows = await run(o.signal, (trx) => {
                // The caller-ID lookup runs on every inbound call: one statement on the phone index, nothing else.
                const q = trx('customers').select(...CUSTOMER_COLS).limit(limit);
                if (o.phone !== undefined)
                    q.where('phone', o.phone).orderBy('updated_at', 'desc');
                if (pattern !== undefined) {
                    const p = pattern;
                    q.where((w) => {
                        w.whereRaw('lower(first_name) like ?', [p])
                            .orWhereRaw('lower(last_name) like ?', [p])
                            .orWhereRaw("lower(first_name || ' ' || last_name) like ?", [p]);
                    }).orderByRaw('lower(last_name), lower(first_name), id');
                }
                return q;
            });
            return rows.map(toCustomer);
        },
        async getCustomer(o) {
            if (!isUuid(o.id))
                return null;
            const row = await run(o.signal, (trx) => trx('customers').where('id', o.id).first(...CUSTOMER_COLS));
            return row ? toCustomer(row) : null;
        },
        async createCustomer(o) {
            const firstName = personName(o.firstName, 'firstName');
            const lastName = personName(o.lastName, 'lastName');
            if (o.phone !== undefined && !E164_RE.test(o.phone))
                throw invalid('phone must be E.164');
            const email = optionalText(o.email, { field: 'email', max: 254 });
            if (email !== null && !EMAIL_RE.test(email))
                throw invalid('email is not valid');
            const zip = optionalText(o.zip, { field: 'zip', max: 10 });
            if (zip !== null && !ZIP_RE.test(zip))
                throw invalid('zip is not valid');
            const [row] = await run(o.signal, (trx) => trx('customers')
                .insert({ first_name: firstName, last_name: lastName, phone: o.phone ?? null, email, zip })
                .returning(CUSTOMER_COLS));
            if (!row)
                throw mapDbError(new Error('insert returned no row'));
            return toCustomer(row);
        },
        async listVehicles(o) {
            if (!isUuid(o.customerId))
                return [];
            const rows = await run(o.signal, (trx) => trx('vehicles').where('customer_id', o.customerId)
                .select(...VEHICLE_COLS).orderBy([{ column: 'created_at' }, { column: 'id' }]));
            return rows.map(toVehicle);
        },
        async addVehicle(o) {
            if (!isUuid(o.customerId))
                throw new PluginError('not_found', 'customer not found', { provider: PROVIDER });
            let vin = null;
            if (o.vin !== undefined) {
                const check = isValidVin(o.vin);
                // Storage only needs the shape; a check-digit mismatch is legitimate on many non-North-American VINs,
                // and core has already asked the caller to confirm it.
                if (!check.ok && check.reason !== 'check_digit')
                    throw invalid('vin must be 17 characters without I, O or Q');
                vin = normalizeVin(o.vin);
            }
            const year = optionalInt(o.year, { field: 'year', min: 1950, max: 2100 });
            const mileage = optionalInt(o.mileage, { field: 'mileage', min: 0, max: 2_000_000 });
            const make = optionalText(o.make, { field: 'make', max: 60 });
            const model = optionalText(o.model, { field: 'model', max: 60 });
            // The foreign key answers "unknown customer" (23503 → not_found) and the unique VIN index answers
            // "already registered" (23505 → conflict) in the same statement, so there is no check-then-insert race.
            const [row] = await run(o.signal, (trx) => trx('vehicles')
                .insert({ customer_id: o.customerId, vin, year, make, model, mileage }).returning(VEHICLE_COLS));
            if (!row)
                throw mapDbError(new Error('insert returned no row'));
            return toVehicle(row);
        },
        async getServiceHistory(o) {
            const limit = clampLimit(o.limit, { dflt: 10, max: 100 });
            if (!isUuid(o.customerId))
                return [];
            if (o.vehicleId !== undefined && !isUuid(o.vehicleId))
                return [];
            const rows = await run(o.signal, (trx) => {
                const q = trx('service_history as s').join('vehicles as v', 'v.id', 's.vehicle_id')
                    .where('v.customer_id', o.customerId)
                    .select('s.id', 's.vehicle_id', 's.performed_at', 's.service_type', 's.description', 's.mileage')
                    .orderBy([{ column: 's.performed_at', order: 'desc' }, { column: 's.id', order: 'desc' }])
                    .limit(limit);
                if (o.vehicleId !== undefined)
                    q.where('s.vehicle_id', o.vehicleId);
                return q;
            });
            return rows.map(toServiceRecord);
        },
        async logInteraction(o) {
            if (!isUuid(o.customerId))
                throw new PluginError('not_found', 'customer not found', { provider: PROVIDER });
            const callId = o.callId.trim();
            if (callId.length < 1 || callId.length > 100)
                throw invalid('callId must be 1-100 characters');
            const startedAt = parseIsoInstant(o.startedAt);
            if (!startedAt)
                throw invalid('startedAt must be an ISO 8601 instant');
            if (!Number.isInteger(o.durationMs) || o.durationMs < 0)
                throw invalid('durationMs must be a non-negative integer');
            if (!OUTCOMES.has(o.outcome))
                throw invalid('outcome is not one of the known values');
            const summary = o.summary.slice(0, SUMMARY_MAX);
            const [row] = await run(o.signal, (trx) => trx('crm_interactions')
                .insert({ customer_id: o.customerId, call_id: callId, started_at: startedAt, duration_ms: o.durationMs, outcome: o.outcome, summary })
                // A retried post-call job lands on the same row; the latest summary wins.
                .onConflict(['customer_id', 'call_id']).merge(['summary', 'outcome', 'duration_ms'])
                .returning('id'));
            if (!row)
                throw mapDbError(new Error('insert returned no row'));
            return { externalId: row.id };
        },
    };
}
//# sourceMappingURL=connector.js.map