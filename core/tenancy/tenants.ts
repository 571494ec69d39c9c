import type { Knex } from 'knex';
import { parsePhoneNumberFromString } from 'libphonenumber-js';
import { ServiceLaneError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import { metrics } from '../observability/metrics.js';
import type { StateStore } from '../state/store.js';
import { migrateTenant } from '../db/migrate.js';
import { configHash, parseDealershipConfig, type DealershipConfig } from './config.js';
import { encryptCredential, decryptCredential } from './credentials.js';
import { newTenantId, schemaNameFor } from './schema-name.js';
import { withTenant as withTenantSchema } from './with-tenant.js';

export type TenantStatus = 'provisioning' | 'active' | 'failed' | 'offboarded';

export interface Tenant {
  id: string;
  slug: string;
  name: string;
  schema: string;
  status: TenantStatus;
  /** Null when the stored config is invalid: the tenant is disabled until fixed, others are unaffected. */
  config: DealershipConfig | null;
  rawConfig: unknown;
  configHash: string;
  configErrors: unknown;
  createdAt: string;
}

interface TenantRow {
  id: string; slug: string; name: string; schema_name: string; status: TenantStatus;
  config: unknown; config_hash: string; config_errors: unknown; created_at: Date;
}

const INVALIDATE = 'tenancy-invalidate';

/**
 * How stale a cached tenant, number route or tenant-keyed plugin instance may be on any process, whatever
 * happens to pub/sub: at most this long after a change commits, every lookup sees it. Env CACHE_REVALIDATE_MS,
 * capped at 5 s by config (README "Caches across processes").
 */
export const DEFAULT_CACHE_REVALIDATE_MS = 2000;
export const MAX_CACHE_REVALIDATE_MS = 5000;
/** Entries are also dropped at this age, so an idle tenant's object doesn't live for the process lifetime. */
const ENTRY_MAX_AGE_MS = 10 * 60_000;
/** Publish attempts before giving up on the fast path (revalidation still bounds staleness). */
const PUBLISH_RETRY_DELAYS_MS = [50, 250];

interface Cached<V> { value: V; loadedAt: number }

/** Normalises to E.164 or throws TEN_ERR_NUMBER_INVALID. */
export function toE164(raw: string): string {
  const p = parsePhoneNumberFromString(raw);
  if (!p || !p.isValid() || p.number !== raw) throw new ServiceLaneError('TEN_ERR_NUMBER_INVALID', 'phone number must be valid E.164, e.g. +14085550123', { value: raw.slice(0, 32) });
  return p.number;
}

/**
 * Owns the tenant lifecycle, number routing and tenant-scoped access.
 *
 * Lookups (tenant by id, number → tenant) are cached in-process, because every webhook, media stream, tool
 * call and admin request needs them. Two mechanisms keep them honest across processes:
 * - fast path: a change publishes an invalidation over the state store's pub/sub, so peers drop the entry at
 *   once; a subscriber that reconnects drops everything (what was sent meanwhile is lost);
 * - the bound: `platform.cache_epoch` moves in the same transaction as every change to tenants, numbers or
 *   credentials (triggers, migrations/platform/002). Before serving from cache, a lookup re-reads that one row
 *   if the last read is older than `revalidateMs`, and drops everything when it moved. So even when every
 *   message is lost, no process serves a change older than `revalidateMs` (plus one query).
 * The registry's plugin instances are keyed on the Tenant object this returns, so they follow the same bound.
 */
export class TenantService {
  private readonly byId = new Map<string, Cached<Tenant>>();
  private readonly byNumber = new Map<string, Cached<string | null>>();
  private unsubscribe?: () => Promise<void>;
  private unwatchReconnect?: () => void;
  /** Last epoch read, and when that read started (a read sees every commit before its start). */
  private epoch: string | null = null;
  private checkedAt = -Infinity;
  private checking: Promise<void> | null = null;
  /** Bumped by every flush: a load that started before a flush must not put its (older) row back. */
  private generation = 0;
  readonly revalidateMs: number;

  constructor(private readonly o: { db: Knex; state: StateStore; credentialsKey: Buffer; logger: Logger; revalidateMs?: number }) {
    this.revalidateMs = o.revalidateMs ?? DEFAULT_CACHE_REVALIDATE_MS;
  }

  get db(): Knex { return this.o.db; }

  async start(): Promise<void> {
    this.unsubscribe = await this.o.state.subscribe(INVALIDATE, (msg) => this.dropCaches(msg));
    this.unwatchReconnect = this.o.state.onResubscribed(() => this.flush('resubscribed'));
  }
  async stop(): Promise<void> { this.unwatchReconnect?.(); await this.unsubscribe?.(); }

  private flush(reason: 'epoch' | 'resubscribed' | 'message'): void {
    this.generation++;
    this.byId.clear();
    this.byNumber.clear();
    if (reason !== 'message') metrics.cacheFlushes.inc({ reason });
  }
  private dropCaches(msg: string): void {
    if (msg.startsWith('n:')) { this.generation++; this.byNumber.delete(msg.slice(2)); }
    else if (msg.startsWith('t:')) { this.generation++; this.byId.delete(msg.slice(2)); this.byNumber.clear(); }
    else this.flush('message');
  }

  /** Re-reads the cache epoch when the last read is older than revalidateMs; flushes when it moved. */
  private async revalidate(): Promise<void> {
    if (Date.now() - this.checkedAt < this.revalidateMs) return;
    this.checking ??= (async () => {
      const started = Date.now();
      const row: { epoch: string } | undefined = await this.o.db('platform.cache_epoch').first('epoch');
      const epoch = String(row?.epoch ?? '0');
      if (this.epoch !== null && epoch !== this.epoch) this.flush('epoch');
      this.epoch = epoch;
      this.checkedAt = started;
    })().finally(() => { this.checking = null; });
    return this.checking;
  }

  private cached<V>(map: Map<string, Cached<V>>, key: string): Cached<V> | undefined {
    const hit = map.get(key);
    if (hit && Date.now() - hit.loadedAt > ENTRY_MAX_AGE_MS) { map.delete(key); return undefined; }
    return hit;
  }

  private async invalidate(msg: string): Promise<void> {
    this.dropCaches(msg);
    for (let attempt = 0; ; attempt++) {
      try { await this.o.state.publish(INVALIDATE, msg); return; } catch (e) {
        const delay = PUBLISH_RETRY_DELAYS_MS[attempt];
        if (delay === undefined) {
          metrics.publishFailures.inc();
          this.o.logger.error({ err: (e as Error).message, pii: { msg }, attempts: attempt + 1, boundMs: this.revalidateMs },
            'cache invalidation could not be published; other processes see the change by revalidation within boundMs');
          return;
        }
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  private toTenant(r: TenantRow): Tenant {
    let config: DealershipConfig | null = null;
    if (!r.config_errors) {
      try { config = parseDealershipConfig(r.config); } catch { config = null; }
    }
    return {
      id: r.id, slug: r.slug, name: r.name, schema: r.schema_name, status: r.status, config, rawConfig: r.config,
      configHash: r.config_hash, configErrors: r.config_errors, createdAt: r.created_at.toISOString(),
    };
  }

  /** Creates the tenant row, its schema and tables (one transaction per step, resumable), and returns it active. */
  async create(input: { name: string; slug?: string; config: unknown }): Promise<Tenant> {
    const config = parseDealershipConfig(input.config);
    const id = newTenantId();
    const schema = schemaNameFor(id);
    const slug = input.slug ?? id;
    try {
      await this.o.db('platform.tenants').insert({
        id, slug, name: input.name, schema_name: schema, status: 'provisioning', config: JSON.stringify(config), config_hash: configHash(config),
      });
    } catch (e) {
      if ((e as { code?: string }).code === '23505') throw new ServiceLaneError('ADM_ERR_VALIDATION', 'slug already in use', { errors: [{ path: '/slug', message: 'already in use' }] });
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

  async list(): Promise<Tenant[]> {
    const rows: TenantRow[] = await this.o.db('platform.tenants').select('*').orderBy('created_at');
    return rows.map((r) => this.toTenant(r));
  }

  async find(id: string): Promise<Tenant | null> {
    await this.revalidate();
    const hit = this.cached(this.byId, id);
    if (hit) return hit.value;
    if (!/^[0-9a-z]{26}$/.test(id)) return null;
    const gen = this.generation;
    const loadedAt = Date.now();
    const row: TenantRow | undefined = await this.o.db('platform.tenants').where({ id }).first();
    if (!row) return null;
    const t = this.toTenant(row);
    if (gen === this.generation) this.byId.set(id, { value: t, loadedAt });
    return t;
  }

  /** The id of the tenant with this slug (any status), or null. Admin paths accept a slug in place of the id. */
  async idForSlug(slug: string): Promise<string | null> {
    const row: { id: string } | undefined = await this.o.db('platform.tenants').where({ slug }).first('id');
    return row?.id ?? null;
  }

  async get(id: string): Promise<Tenant> {
    const t = await this.find(id);
    if (!t) throw new ServiceLaneError('TEN_ERR_NOT_FOUND', 'tenant not found');
    return t;
  }

  /** Active tenant by id, or TEN_ERR_OFFBOARDED / TEN_ERR_NOT_FOUND. */
  async getActive(id: string): Promise<Tenant> {
    const t = await this.get(id);
    if (t.status === 'offboarded') throw new ServiceLaneError('TEN_ERR_OFFBOARDED', 'tenant is offboarded');
    return t;
  }

  async updateConfig(id: string, raw: unknown): Promise<Tenant> {
    const t = await this.getActive(id);
    const config = parseDealershipConfig(raw);
    await this.o.db('platform.tenants').where({ id: t.id }).update({
      config: JSON.stringify(config), config_hash: configHash(config), config_errors: null, name: config.name, updated_at: this.o.db.fn.now(),
    });
    await this.invalidate(`t:${id}`);
    return this.get(id);
  }

  /** Offboarding: disabled at once, numbers released, data kept until an explicit purge. */
  async offboard(id: string): Promise<{ releasedNumbers: string[] }> {
    const t = await this.get(id);
    const released: string[] = await this.o.db.transaction(async (trx) => {
      await trx('platform.tenants').where({ id: t.id }).update({ status: 'offboarded', offboarded_at: trx.fn.now(), updated_at: trx.fn.now() });
      const rows: { e164: string }[] = await trx('platform.phone_numbers').where({ tenant_id: t.id }).del().returning('e164');
      return rows.map((r) => r.e164);
    });
    await this.invalidate(`t:${id}`);
    return { releasedNumbers: released };
  }

  /** Runs `fn` scoped to the tenant's schema. The only way core code touches tenant tables. */
  async withTenant<T>(tenantId: string, fn: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
    const t = await this.get(tenantId);
    return withTenantSchema(this.o.db, t.schema, fn);
  }

  // ---- numbers ---------------------------------------------------------------------------------

  async attachNumber(tenantId: string, rawE164: string): Promise<{ e164: string; created: boolean }> {
    const e164 = toE164(rawE164);
    const t = await this.getActive(tenantId);
    const existing: { tenant_id: string } | undefined = await this.o.db('platform.phone_numbers').where({ e164 }).first('tenant_id');
    if (existing && existing.tenant_id !== t.id) throw new ServiceLaneError('TEN_ERR_NUMBER_TAKEN', 'number is attached to another tenant');
    if (existing) return { e164, created: false };
    try {
      await this.o.db('platform.phone_numbers').insert({ e164, tenant_id: t.id });
    } catch (e) {
      if ((e as { code?: string }).code === '23505') throw new ServiceLaneError('TEN_ERR_NUMBER_TAKEN', 'number is attached to another tenant');
      throw e;
    }
    await this.invalidate(`n:${e164}`);
    return { e164, created: true };
  }

  async markNumberConfigured(e164: string, providerSid: string | undefined): Promise<void> {
    await this.o.db('platform.phone_numbers').where({ e164 }).update({ webhooks_configured: true, provider_sid: providerSid ?? null });
  }

  async detachNumber(tenantId: string, rawE164: string): Promise<boolean> {
    const e164 = toE164(rawE164);
    const n = await this.o.db('platform.phone_numbers').where({ e164, tenant_id: tenantId }).del();
    await this.invalidate(`n:${e164}`);
    return n > 0;
  }

  async listNumbers(tenantId: string): Promise<{ e164: string; webhooksConfigured: boolean }[]> {
    const rows: { e164: string; webhooks_configured: boolean }[] = await this.o.db('platform.phone_numbers').where({ tenant_id: tenantId }).select('e164', 'webhooks_configured').orderBy('e164');
    return rows.map((r) => ({ e164: r.e164, webhooksConfigured: r.webhooks_configured }));
  }

  /** The dialled number → its active tenant, or null (unknown, unmapped or offboarded). */
  async resolveNumber(e164: string): Promise<Tenant | null> {
    await this.revalidate();
    let tenantId = this.cached(this.byNumber, e164)?.value;
    if (tenantId === undefined) {
      const gen = this.generation;
      const loadedAt = Date.now();
      const row: { tenant_id: string } | undefined = await this.o.db('platform.phone_numbers').where({ e164 }).first('tenant_id');
      tenantId = row?.tenant_id ?? null;
      if (gen === this.generation) this.byNumber.set(e164, { value: tenantId, loadedAt });
    }
    if (!tenantId) return null;
    const t = await this.find(tenantId);
    return t && t.status === 'active' ? t : null;
  }

  // ---- credentials -----------------------------------------------------------------------------

  async putCredential(tenantId: string, name: string, value: unknown): Promise<void> {
    const t = await this.getActive(tenantId);
    const enc = encryptCredential(this.o.credentialsKey, t.id, value);
    await this.o.db('platform.credentials').insert({ tenant_id: t.id, name, ...enc, updated_at: this.o.db.fn.now() })
      .onConflict(['tenant_id', 'name']).merge();
    await this.invalidate(`t:${tenantId}`);
  }

  async getCredential(tenantId: string, name: string): Promise<unknown | undefined> {
    const row = await this.o.db('platform.credentials').where({ tenant_id: tenantId, name }).first('ciphertext', 'iv', 'tag');
    return row ? decryptCredential(this.o.credentialsKey, tenantId, row) : undefined;
  }

  /** Removes a credential (e.g. a disconnected Google grant); true when one was there. */
  async deleteCredential(tenantId: string, name: string): Promise<boolean> {
    const n = await this.o.db('platform.credentials').where({ tenant_id: tenantId, name }).del();
    await this.invalidate(`t:${tenantId}`);
    return n > 0;
  }

  async listCredentialNames(tenantId: string): Promise<string[]> {
    return (await this.o.db('platform.credentials').where({ tenant_id: tenantId }).select('name').orderBy('name')).map((r: { name: string }) => r.name);
  }

  // ---- audit -----------------------------------------------------------------------------------

  async audit(e: { actor: string; role: string; tenantId?: string | null; action: string; target?: string; ip?: string; details?: unknown }): Promise<void> {
    await this.o.db('platform.audit_log').insert({
      actor: e.actor, role: e.role, tenant_id: e.tenantId ?? null, action: e.action, target: e.target ?? null, ip: e.ip ?? null,
      details: e.details === undefined ? null : JSON.stringify(e.details),
    });
  }
}
