import { parsePhoneNumberFromString } from 'libphonenumber-js';
import { ServiceLaneError } from '../errors.js';
import { migrateTenant } from '../db/migrate.js';
import { configHash, parseDealershipConfig } from './config.js';
import { encryptCredential, decryptCredential } from './credentials.js';
import { newTenantId, schemaNameFor } from './schema-name.js';
import { withTenant as withTenantSchema } from './with-tenant.js';
const INVALIDATE = 'tenancy-invalidate';
/** Normalises to E.164 or throws TEN_ERR_NUMBER_INVALID. */
export function toE164(raw) {
    const p = parsePhoneNumberFromString(raw);
    if (!p || !p.isValid() || p.number !== raw)
        throw new ServiceLaneError('TEN_ERR_NUMBER_INVALID', 'phone number must be valid E.164, e.g. +14085550123', { value: raw.slice(0, 32) });
    return p.number;
}
/**
 * Owns the tenant lifecycle, number routing and tenant-scoped access. Lookups are cached in-process and
 * invalidated across processes over the state store's pub/sub, so a change applies to the next call.
 */
export class TenantService {
    o;
    byId = new Map();
    byNumber = new Map();
    unsubscribe;
    constructor(o) {
        this.o = o;
    }
    get db() { return this.o.db; }
    async start() {
        this.unsubscribe = await this.o.state.subscribe(INVALIDATE, (msg) => this.dropCaches(msg));
    }
    async stop() { await this.unsubscribe?.(); }
    dropCaches(msg) {
        if (msg.startsWith('n:'))
            this.byNumber.delete(msg.slice(2));
        else if (msg.startsWith('t:')) {
            this.byId.delete(msg.slice(2));
            this.byNumber.clear();
        }
        else {
            this.byId.clear();
            this.byNumber.clear();
        }
    }
    async invalidate(msg) {
        this.dropCaches(msg);
        try {
            await this.o.state.publish(INVALIDATE, msg);
        }
        catch (e) {
            this.o.logger.warn({ err: e.message }, 'cache invalidation publish failed; peers fall back to reload');
        }
    }
    toTenant(r) {
        let config = null;
        if (!r.config_errors) {
            try {
                config = parseDealershipConfig(r.config);
            }
            catch {
                config = null;
            }
        }
        return {
            id: r.id, slug: r.slug, name: r.name, schema: r.schema_name, status: r.status, config, rawConfig: r.config,
            configHash: r.config_hash, configErrors: r.config_errors, createdAt: r.created_at.toISOString(),
        };
    }
    /** Creates the tenant row, its schema and tables (one transaction per step, resumable), and returns it active. */
    async create(input) {
        const config = parseDealershipConfig(input.config);
        const id = newTenantId();
        const schema = schemaNameFor(id);
        const slug = input.slug ?? id;
        try {
            await this.o.db('platform.tenants').insert({
                id, slug, name: input.name, schema_name: schema, status: 'provisioning', config: JSON.stringify(config), config_hash: configHash(config),
            });
        }
        catch (e) {
            if (e.code === '23505')
                throw new ServiceLaneError('ADM_ERR_VALIDATION', 'slug already in use', { errors: [{ path: '/slug', message: 'already in use' }] });
            throw e;
        }
        const res = await migrateTenant(this.o.db, { id, schema, version: null });
        if (res.error) {
            await this.o.db('platform.tenants').where({ id }).update({ status: 'failed', updated_at: this.o.db.fn.now() });
            throw new ServiceLaneError('TEN_ERR_MIGRATION_FAILED', 'tenant schema could not be created', { tenantId: id });
        }
        await this.o.db('platform.tenants').where({ id }).update({ status: 'active', updated_at: this.o.db.fn.now() });
        return this.get(id);
    }
    async list() {
        const rows = await this.o.db('platform.tenants').select('*').orderBy('created_at');
        return rows.map((r) => this.toTenant(r));
    }
    async find(id) {
        const hit = this.byId.get(id);
        if (hit)
            return hit;
        if (!/^[0-9a-z]{26}$/.test(id))
            return null;
        const row = await this.o.db('platform.tenants').where({ id }).first();
        if (!row)
            return null;
        const t = this.toTenant(row);
        this.byId.set(id, t);
        return t;
    }
    async get(id) {
        const t = await this.find(id);
        if (!t)
            throw new ServiceLaneError('TEN_ERR_NOT_FOUND', 'tenant not found');
        return t;
    }
    /** Active tenant by id, or TEN_ERR_OFFBOARDED / TEN_ERR_NOT_FOUND. */
    async getActive(id) {
        const t = await this.get(id);
        if (t.status === 'offboarded')
            throw new ServiceLaneError('TEN_ERR_OFFBOARDED', 'tenant is offboarded');
        return t;
    }
    async updateConfig(id, raw) {
        const t = await this.getActive(id);
        const config = parseDealershipConfig(raw);
        await this.o.db('platform.tenants').where({ id: t.id }).update({
            config: JSON.stringify(config), config_hash: configHash(config), config_errors: null, name: config.name, updated_at: this.o.db.fn.now(),
        });
        await this.invalidate(`t:${id}`);
        return this.get(id);
    }
    /** Offboarding: disabled at once, numbers released, data kept until an explicit purge. */
    async offboard(id) {
        const t = await this.get(id);
        const released = await this.o.db.transaction(async (trx) => {
            await trx('platform.tenants').where({ id: t.id }).update({ status: 'offboarded', offboarded_at: trx.fn.now(), updated_at: trx.fn.now() });
            const rows = await trx('platform.phone_numbers').where({ tenant_id: t.id }).del().returning('e164');
            return rows.map((r) => r.e164);
        });
        await this.invalidate(`t:${id}`);
        return { releasedNumbers: released };
    }
    /** Runs `fn` scoped to the tenant's schema. The only way core code touches tenant tables. */
    async withTenant(tenantId, fn) {
        const t = await this.get(tenantId);
        return withTenantSchema(this.o.db, t.schema, fn);
    }
    // ---- numbers ---------------------------------------------------------------------------------
    async attachNumber(tenantId, rawE164) {
        const e164 = toE164(rawE164);
        const t = await this.getActive(tenantId);
        const existing = await this.o.db('platform.phone_numbers').where({ e164 }).first('tenant_id');
        if (existing && existing.tenant_id !== t.id)
            throw new ServiceLaneError('TEN_ERR_NUMBER_TAKEN', 'number is attached to another tenant');
        if (existing)
            return { e164, created: false };
        try {
            await this.o.db('platform.phone_numbers').insert({ e164, tenant_id: t.id });
        }
        catch (e) {
            if (e.code === '23505')
                throw new ServiceLaneError('TEN_ERR_NUMBER_TAKEN', 'number is attached to another tenant');
            throw e;
        }
        await this.invalidate(`n:${e164}`);
        return { e164, created: true };
    }
    async markNumberConfigured(e164, providerSid) {
        await this.o.db('platform.phone_numbers').where({ e164 }).update({ webhooks_configured: true, provider_sid: providerSid ?? null });
    }
    async detachNumber(tenantId, rawE164) {
        const e164 = toE164(rawE164);
        const n = await this.o.db('platform.phone_numbers').where({ e164, tenant_id: tenantId }).del();
        await this.invalidate(`n:${e164}`);
        return n > 0;
    }
    async listNumbers(tenantId) {
        const rows = await this.o.db('platform.phone_numbers').where({ tenant_id: tenantId }).select('e164', 'webhooks_configured').orderBy('e164');
        return rows.map((r) => ({ e164: r.e164, webhooksConfigured: r.webhooks_configured }));
    }
    /** The dialled number → its active tenant, or null (unknown, unmapped or offboarded). */
    async resolveNumber(e164) {
        let tenantId = this.byNumber.get(e164);
        if (tenantId === undefined) {
            const row = await this.o.db('platform.phone_numbers').where({ e164 }).first('tenant_id');
            tenantId = row?.tenant_id ?? null;
            this.byNumber.set(e164, tenantId);
        }
        if (!tenantId)
            return null;
        const t = await this.find(tenantId);
        return t && t.status === 'active' ? t : null;
    }
    // ---- credentials -----------------------------------------------------------------------------
    async putCredential(tenantId, name, value) {
        const t = await this.getActive(tenantId);
        const enc = encryptCredential(this.o.credentialsKey, t.id, value);
        await this.o.db('platform.credentials').insert({ tenant_id: t.id, name, ...enc, updated_at: this.o.db.fn.now() })
            .onConflict(['tenant_id', 'name']).merge();
        await this.invalidate(`t:${tenantId}`);
    }
    async getCredential(tenantId, name) {
        const row = await this.o.db('platform.credentials').where({ tenant_id: tenantId, name }).first('ciphertext', 'iv', 'tag');
        return row ? decryptCredential(this.o.credentialsKey, tenantId, row) : undefined;
    }
    async listCredentialNames(tenantId) {
        return (await this.o.db('platform.credentials').where({ tenant_id: tenantId }).select('name').orderBy('name')).map((r) => r.name);
    }
    // ---- audit -----------------------------------------------------------------------------------
    async audit(e) {
        await this.o.db('platform.audit_log').insert({
            actor: e.actor, role: e.role, tenant_id: e.tenantId ?? null, action: e.action, target: e.target ?? null, ip: e.ip ?? null,
            details: e.details === undefined ? null : JSON.stringify(e.details),
        });
    }
}
//# sourceMappingURL=tenants.js.map