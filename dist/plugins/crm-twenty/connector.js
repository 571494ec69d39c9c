import { createHash, randomUUID } from 'node:crypto';
import { PluginError, isValidVin, normalizeVin, parseIsoInstant, } from '../../core/sdk/index.js';
import { PROVIDER, TwentyClient, dataRecord, isAlreadyExists, isUnknownField } from './client.js';
import { UUID_RE, nameFilter, nameMatches, normalizeName, personMatchesPhone, phoneFilter, splitE164, toCustomer, toVehicle } from './mappers.js';
import { SchemaCache } from './schema.js';
const PAGE = 60; // Twenty's default page size on recent versions; never rely on the server default (reference §1.5).
const EMAIL_RE = /^[^\s@]{1,64}@[^\s@]{1,190}\.[^\s@]{1,63}$/;
const SUMMARY_MAX = 8000;
const OUTCOMES = new Set(['booked', 'cancelled', 'rescheduled', 'info', 'transferred', 'callback', 'voicemail', 'other']);
function invalid(message) {
    return new PluginError('invalid_request', message, { provider: PROVIDER });
}
function clampLimit(limit, o) {
    if (limit === undefined)
        return o.dflt;
    if (!Number.isInteger(limit) || limit < 1)
        throw invalid('limit must be a positive integer');
    return Math.min(limit, o.max);
}
function personName(raw, field) {
    const v = raw.trim().replace(/\s+/g, ' ');
    if (v.length < 1 || v.length > 100)
        throw invalid(`${field} must be 1-100 characters`);
    return v;
}
/**
 * A UUID derived from the call, so a retried post-call job re-posts the same ids and Twenty's
 * `Record already exists` tells us the first attempt landed (Twenty has no idempotency header).
 */
export function stableUuid(...parts) {
    const h = createHash('sha256').update(parts.join('\u0000')).digest();
    h[6] = (h[6] & 0x0f) | 0x50;
    h[8] = (h[8] & 0x3f) | 0x80;
    const x = h.subarray(0, 16).toString('hex');
    return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}
function formatLocal(iso, timeZone) {
    const d = new Date(iso);
    try {
        return new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })
            .format(d).replace(',', '');
    }
    catch {
        return d.toISOString().slice(0, 16).replace('T', ' ');
    }
}
function formatDuration(ms) {
    const s = Math.round(ms / 1000);
    return `${Math.floor(s / 60)}m ${s % 60}s`;
}
/** Twenty CRM over its REST API. Vendor records are mapped to our DTOs here and never leave this module. */
export function createTwentyCrm(ctx, o) {
    const client = new TwentyClient(ctx, { credentials: o.credentials, timeoutMs: o.settings.timeoutMs ?? 4000 });
    const schema = new SchemaCache(ctx, client, o.settings.vehicleObject);
    const zipField = o.settings.zipField;
    /**
     * Creates a record with a client-chosen id. `Record already exists` means an earlier attempt landed. When the
     * schema was guessed (no metadata), a 400 naming `field` switches to `alt()` once and the schema remembers it.
     */
    async function createIdempotent(r) {
        const id = r.body.id;
        let res = await client.send({ method: 'POST', path: `/rest/${r.plural}`, query: { depth: 0 }, body: r.body, signal: r.signal, op: r.op });
        if (r.fallback && !r.fromMetadata && isUnknownField(res, r.fallback.field)) {
            ctx.logger.info({ op: r.op, field: r.fallback.field }, 'twenty workspace uses the other field generation; switching');
            res = await client.send({ method: 'POST', path: `/rest/${r.plural}`, query: { depth: 0 }, body: r.fallback.alt(), signal: r.signal, op: r.op });
            if (res.status >= 200 && res.status < 300)
                await schema.learn(r.fallback.learn);
        }
        if (isAlreadyExists(res))
            return id;
        if (res.status < 200 || res.status >= 300)
            throw client.fail(res, r.op);
        return String(dataRecord(res, r.key, r.op).id);
    }
    function bodyOf(kind, markdown) {
        return kind === 'bodyV2' ? { bodyV2: { markdown } } : { body: markdown };
    }
    async function linkPerson(r) {
        const isNote = r.target === 'noteTargets';
        const key = isNote ? r.s.noteTargetPersonKey : r.s.taskTargetPersonKey;
        const other = key === 'targetPersonId' ? 'personId' : 'targetPersonId';
        const id = stableUuid(ctx.tenantId, r.parentId, r.personId, r.target);
        await createIdempotent({
            plural: r.target, key: isNote ? 'createNoteTarget' : 'createTaskTarget', op: `create ${r.target}`, signal: r.signal, fromMetadata: r.s.fromMetadata,
            body: { id, [r.parentKey]: r.parentId, [key]: r.personId },
            fallback: {
                field: key, alt: () => ({ id, [r.parentKey]: r.parentId, [other]: r.personId }),
                learn: isNote ? { noteTargetPersonKey: other } : { taskTargetPersonKey: other },
            },
        });
    }
    async function requireVehicles(signal) {
        const s = await schema.get(signal);
        if (!s.vehicles)
            throw new PluginError('invalid_request', 'this Twenty workspace has no vehicles object', { provider: PROVIDER, retryable: false });
        return s.vehicles;
    }
    return {
        async findCustomers(q) {
            const limit = clampLimit(q.limit, { dflt: 10, max: 50 });
            if (q.phone === undefined && q.name === undefined)
                throw invalid('findCustomers needs a phone or a name');
            const phone = q.phone === undefined ? undefined : splitE164(q.phone);
            if (q.phone !== undefined && !phone)
                throw invalid('phone must be E.164');
            let name;
            if (q.name !== undefined) {
                name = normalizeName(q.name);
                if (name.length < 1 || name.length > 100)
                    throw invalid('name must be 1-100 characters');
            }
            const filters = [];
            if (phone)
                filters.push(phoneFilter(phone));
            if (name !== undefined)
                filters.push(nameFilter(name));
            const filter = filters.length === 1 ? filters[0] : `and(${filters.join(',')})`;
            return client.collect({
                path: '/rest/people', plural: 'people', op: phone ? 'people lookup by phone' : 'people search by name', signal: q.signal,
                query: { filter, order_by: 'name.lastName[AscNullsFirst],name.firstName[AscNullsFirst]' },
                want: limit, pageSize: Math.min(PAGE, phone ? Math.max(limit, 5) : limit + 5), maxPages: phone ? 2 : 5,
                accept: (rec) => {
                    if (phone && !personMatchesPhone(rec, phone))
                        return null;
                    const c = toCustomer(rec, { zipField, callingCodeHint: phone?.callingCode });
                    if (name !== undefined && !nameMatches(c, name))
                        return null;
                    return c;
                },
            });
        },
        async getCustomer(q) {
            if (!UUID_RE.test(q.id))
                return null;
            const res = await client.send({ method: 'GET', path: `/rest/people/${q.id}`, query: { depth: 0 }, signal: q.signal, op: 'get person' });
            if (res.status === 404)
                return null;
            if (res.status < 200 || res.status >= 300)
                throw client.fail(res, 'get person');
            return toCustomer(dataRecord(res, 'person', 'get person'), { zipField });
        },
        async createCustomer(q) {
            const firstName = personName(q.firstName, 'firstName');
            const lastName = personName(q.lastName, 'lastName');
            const body = { id: randomUUID(), name: { firstName, lastName } };
            if (q.phone !== undefined) {
                const p = splitE164(q.phone);
                if (!p)
                    throw invalid('phone must be E.164');
                body.phones = { primaryPhoneNumber: p.national, primaryPhoneCallingCode: p.callingCode, ...(p.country ? { primaryPhoneCountryCode: p.country } : {}) };
            }
            if (q.email !== undefined && q.email.trim() !== '') {
                const email = q.email.trim();
                if (email.length > 254 || !EMAIL_RE.test(email))
                    throw invalid('email is not valid');
                body.emails = { primaryEmail: email };
            }
            if (q.zip !== undefined && q.zip.trim() !== '') {
                if (!/^[A-Za-z0-9][A-Za-z0-9 -]{1,9}$/.test(q.zip.trim()))
                    throw invalid('zip is not valid');
                if (zipField)
                    body[zipField] = q.zip.trim();
            }
            const res = await client.send({ method: 'POST', path: '/rest/people', query: { depth: 0 }, body, signal: q.signal, op: 'create person' });
            if (res.status === 400 && res.messages.some((m) => /duplicate/i.test(m))) {
                throw new PluginError('conflict', 'a person with this email already exists', { provider: PROVIDER, status: 400, providerRequestId: res.requestId });
            }
            if (res.status < 200 || res.status >= 300)
                throw client.fail(res, 'create person');
            return toCustomer(dataRecord(res, 'createPerson', 'create person'), { zipField });
        },
        async listVehicles(q) {
            const s = await schema.get(q.signal);
            if (!s.vehicles || !UUID_RE.test(q.customerId))
                return [];
            const vs = s.vehicles;
            return client.collect({
                path: `/rest/${vs.plural}`, plural: vs.plural, op: 'list vehicles', signal: q.signal,
                query: { filter: `${vs.ownerKey}[eq]:"${q.customerId}"`, order_by: 'createdAt[AscNullsFirst]' },
                want: 200, pageSize: PAGE, maxPages: 4, accept: (rec) => toVehicle(rec, vs),
            });
        },
        async addVehicle(q) {
            const vs = await requireVehicles(q.signal);
            if (!UUID_RE.test(q.customerId))
                throw new PluginError('not_found', 'customer not found', { provider: PROVIDER });
            const body = { id: randomUUID(), [vs.ownerKey]: q.customerId };
            let vin;
            if (q.vin !== undefined) {
                const check = isValidVin(q.vin);
                if (!check.ok && check.reason !== 'check_digit')
                    throw invalid('vin must be 17 characters without I, O or Q');
                vin = normalizeVin(q.vin);
                if (!vs.fields.vin)
                    throw invalid('the vehicles object has no vin field');
                body.vin = vin;
            }
            if (q.year !== undefined) {
                if (!Number.isInteger(q.year) || q.year < 1950 || q.year > 2100)
                    throw invalid('year must be an integer between 1950 and 2100');
                if (vs.fields.year)
                    body.year = q.year;
            }
            if (q.mileage !== undefined) {
                if (!Number.isInteger(q.mileage) || q.mileage < 0 || q.mileage > 2_000_000)
                    throw invalid('mileage must be a non-negative integer');
                if (vs.fields.mileage)
                    body.mileage = q.mileage;
            }
            for (const k of ['make', 'model']) {
                const v = q[k]?.trim();
                if (v === undefined || v === '')
                    continue;
                if (v.length > 60)
                    throw invalid(`${k} must be at most 60 characters`);
                if (vs.fields[k])
                    body[k] = v;
            }
            if (vs.fields.name)
                body.name = [q.year, q.make?.trim(), q.model?.trim()].filter(Boolean).join(' ') || vin || 'Vehicle';
            // Twenty custom fields are not unique by default: check first, so a VIN lands on one customer only.
            if (vin !== undefined) {
                const dup = await client.collect({
                    path: `/rest/${vs.plural}`, plural: vs.plural, op: 'vehicle vin check', signal: q.signal,
                    query: { filter: `vin[eq]:"${vin}"` }, want: 1, pageSize: 1, maxPages: 1, accept: (rec) => String(rec.id),
                });
                if (dup.length > 0)
                    throw new PluginError('conflict', 'a vehicle with this VIN already exists', { provider: PROVIDER });
            }
            const res = await client.send({ method: 'POST', path: `/rest/${vs.plural}`, query: { depth: 0 }, body, signal: q.signal, op: 'create vehicle' });
            if (res.status === 400 && res.messages.some((m) => /foreign key/i.test(m)))
                throw new PluginError('not_found', 'customer not found', { provider: PROVIDER, status: 400 });
            if (res.status < 200 || res.status >= 300)
                throw client.fail(res, 'create vehicle');
            const key = `create${vs.singular.charAt(0).toUpperCase()}${vs.singular.slice(1)}`;
            return toVehicle(dataRecord(res, key, 'create vehicle'), vs);
        },
        async getServiceHistory(q) {
            // Twenty has no service-history object; the manifest declares serviceHistory: false.
            clampLimit(q.limit, { dflt: 10, max: 100 });
            return [];
        },
        async logInteraction(q) {
            if (!UUID_RE.test(q.customerId))
                throw new PluginError('not_found', 'customer not found', { provider: PROVIDER });
            const callId = q.callId.trim();
            if (callId.length < 1 || callId.length > 100)
                throw invalid('callId must be 1-100 characters');
            if (!parseIsoInstant(q.startedAt))
                throw invalid('startedAt must be an ISO 8601 instant');
            if (!Number.isInteger(q.durationMs) || q.durationMs < 0)
                throw invalid('durationMs must be a non-negative integer');
            if (!OUTCOMES.has(q.outcome))
                throw invalid('outcome is not one of the known values');
            const s = await schema.get(q.signal);
            const when = formatLocal(q.startedAt, ctx.timezone);
            const markdown = [
                q.summary.slice(0, SUMMARY_MAX),
                '',
                `- Outcome: ${q.outcome}`,
                `- Duration: ${formatDuration(q.durationMs)}`,
                `- Call: ${callId}`,
                '',
                '_Logged by ServiceLane_',
            ].join('\n');
            const noteId = stableUuid(ctx.tenantId, callId, q.customerId, 'note');
            const title = `Call ${when} - ${q.outcome}`;
            await createIdempotent({
                plural: 'notes', key: 'createNote', op: 'create note', signal: q.signal, fromMetadata: s.fromMetadata,
                body: { id: noteId, title, ...bodyOf(s.noteBody, markdown) },
                fallback: {
                    field: s.noteBody, alt: () => ({ id: noteId, title, ...bodyOf(s.noteBody === 'bodyV2' ? 'body' : 'bodyV2', markdown) }),
                    learn: { noteBody: s.noteBody === 'bodyV2' ? 'body' : 'bodyV2' },
                },
            });
            await linkPerson({ target: 'noteTargets', parentKey: 'noteId', parentId: noteId, personId: q.customerId, s: await schema.get(q.signal), signal: q.signal });
            if (q.outcome === 'callback') {
                const s2 = await schema.get(q.signal);
                const taskId = stableUuid(ctx.tenantId, callId, q.customerId, 'task');
                const taskTitle = `Call back customer (call ${when})`;
                await createIdempotent({
                    plural: 'tasks', key: 'createTask', op: 'create task', signal: q.signal, fromMetadata: s2.fromMetadata,
                    body: { id: taskId, title: taskTitle, status: 'TODO', ...bodyOf(s2.taskBody, markdown) },
                    fallback: {
                        field: s2.taskBody, alt: () => ({ id: taskId, title: taskTitle, status: 'TODO', ...bodyOf(s2.taskBody === 'bodyV2' ? 'body' : 'bodyV2', markdown) }),
                        learn: { taskBody: s2.taskBody === 'bodyV2' ? 'body' : 'bodyV2' },
                    },
                });
                await linkPerson({ target: 'taskTargets', parentKey: 'taskId', parentId: taskId, personId: q.customerId, s: await schema.get(q.signal), signal: q.signal });
            }
            return { externalId: noteId };
        },
    };
}
//# sourceMappingURL=connector.js.map