import { createHash } from 'node:crypto';
import { isObject } from './client.js';
/** Newest defaults, used when metadata can't be read; writes then fall back once on a 400 naming the field. */
export function guessedSchema(vehicleObject) {
    return {
        noteTargetPersonKey: 'targetPersonId', taskTargetPersonKey: 'targetPersonId', noteBody: 'bodyV2', taskBody: 'bodyV2', fromMetadata: false,
        vehicles: vehicleObject
            ? { plural: vehicleObject, singular: vehicleObject.replace(/s$/, ''), ownerKey: 'ownerId', fields: { vin: true, make: true, model: true, year: true, mileage: true, name: true } }
            : null,
    };
}
function parseObjects(body) {
    // Both envelopes: legacy `data.objects`, new `data: [...]` (IS_REST_METADATA_API_NEW_FORMAT_DIRECT).
    const data = isObject(body) ? body.data : undefined;
    const list = Array.isArray(data) ? data : isObject(data) && Array.isArray(data.objects) ? data.objects : [];
    const out = [];
    for (const o of list) {
        if (!isObject(o) || typeof o.nameSingular !== 'string' || typeof o.namePlural !== 'string')
            continue;
        const fields = [];
        for (const f of Array.isArray(o.fields) ? o.fields : []) {
            if (!isObject(f) || typeof f.name !== 'string')
                continue;
            const settings = isObject(f.settings) ? f.settings : {};
            const rel = isObject(f.relation) ? f.relation : {};
            const target = isObject(rel.targetObjectMetadata) && typeof rel.targetObjectMetadata.nameSingular === 'string' ? rel.targetObjectMetadata.nameSingular : undefined;
            fields.push({
                name: f.name, type: typeof f.type === 'string' ? f.type : '', active: f.isActive !== false, target,
                joinColumn: typeof settings.joinColumnName === 'string' ? settings.joinColumnName : undefined,
            });
        }
        out.push({ nameSingular: o.nameSingular, namePlural: o.namePlural, active: o.isActive !== false, fields });
    }
    return out;
}
function personKey(target) {
    if (!target)
        return undefined;
    const active = target.fields.filter((f) => f.active);
    // Prefer the migrated morph field; a workspace mid-migration may briefly expose both.
    const f = active.find((x) => x.name === 'targetPerson') ?? active.find((x) => x.name === 'person');
    return f ? (f.joinColumn ?? `${f.name}Id`) : undefined;
}
function bodyField(o) {
    if (!o)
        return undefined;
    if (o.fields.some((f) => f.active && f.name === 'bodyV2'))
        return 'bodyV2';
    if (o.fields.some((f) => f.active && f.name === 'body'))
        return 'body';
    return undefined;
}
/** Derives the schema from `GET /rest/metadata/objects`. Exported for tests of the mapping itself. */
export function schemaFromMetadata(body, vehicleObject) {
    const objects = parseObjects(body).filter((o) => o.active);
    const bySingular = new Map(objects.map((o) => [o.nameSingular, o]));
    const guess = guessedSchema(undefined);
    const wanted = vehicleObject ?? 'vehicles';
    const v = objects.find((o) => o.namePlural === wanted);
    let vehicles = null;
    if (v) {
        const owner = v.fields.find((f) => f.active && f.target === 'person' && (f.type === 'RELATION' || f.type === 'MORPH_RELATION') && f.joinColumn)
            ?? v.fields.find((f) => f.active && f.name === 'owner');
        const has = (n) => v.fields.some((f) => f.active && f.name === n);
        if (owner) {
            vehicles = {
                plural: v.namePlural, singular: v.nameSingular, ownerKey: owner.joinColumn ?? `${owner.name}Id`,
                fields: { vin: has('vin'), make: has('make'), model: has('model'), year: has('year'), mileage: has('mileage'), name: has('name') },
            };
        }
    }
    return {
        noteTargetPersonKey: personKey(bySingular.get('noteTarget')) ?? guess.noteTargetPersonKey,
        taskTargetPersonKey: personKey(bySingular.get('taskTarget')) ?? guess.taskTargetPersonKey,
        noteBody: bodyField(bySingular.get('note')) ?? guess.noteBody,
        taskBody: bodyField(bySingular.get('task')) ?? guess.taskBody,
        vehicles,
        fromMetadata: true,
    };
}
const STORE_TTL_SEC = 3600;
/**
 * Discovers the workspace schema once per instance (and shares it across processes through ctx.store for an
 * hour). Never probes with writes. A failure isn't cached, so the next call tries again.
 */
export class SchemaCache {
    ctx;
    client;
    vehicleObject;
    pending;
    current;
    /** Keyed by workspace URL: a tenant that re-points its credentials at another workspace must not reuse this one. */
    storeKey;
    constructor(ctx, client, vehicleObject) {
        this.ctx = ctx;
        this.client = client;
        this.vehicleObject = vehicleObject;
        this.storeKey = `schema:v1:${createHash('sha256').update(client.root).digest('hex').slice(0, 16)}`;
    }
    async get(signal) {
        if (this.current)
            return this.current;
        this.pending ??= this.load(signal).then((s) => { this.current = s; this.pending = undefined; return s; }, (e) => { this.pending = undefined; throw e; });
        return this.pending;
    }
    /** Records what a write fallback learned, so later calls go straight to the right field. */
    async learn(patch) {
        const next = { ...(this.current ?? guessedSchema(this.vehicleObject)), ...patch };
        this.current = next;
        await this.persist(next);
    }
    async persist(s) {
        try {
            await this.ctx.store.set(this.storeKey, { vehicleObject: this.vehicleObject ?? null, schema: s }, { ttlSec: STORE_TTL_SEC });
        }
        catch (e) {
            this.ctx.logger.warn({ err: e.message }, 'twenty schema could not be cached; it will be re-read');
        }
    }
    async load(signal) {
        try {
            const stored = await this.ctx.store.get(this.storeKey);
            if (stored && stored.vehicleObject === (this.vehicleObject ?? null))
                return stored.schema;
        }
        catch (e) {
            this.ctx.logger.warn({ err: e.message }, 'twenty schema cache unreadable; reading metadata');
        }
        let schema;
        const res = await this.client.send({ method: 'GET', path: '/rest/metadata/objects', query: { limit: 200 }, signal, op: 'metadata' });
        if (res.status >= 200 && res.status < 300) {
            schema = schemaFromMetadata(res.body, this.vehicleObject);
        }
        else if (res.status === 403 || res.status === 404) {
            // A key scoped to records only may not read metadata: guess the newest naming, correct on the first 400.
            this.ctx.logger.info({ status: res.status }, 'twenty metadata not readable; using newest field names with write fallback');
            schema = guessedSchema(this.vehicleObject);
        }
        else {
            throw this.client.fail(res, 'metadata');
        }
        await this.persist(schema);
        return schema;
    }
}
//# sourceMappingURL=schema.js.map