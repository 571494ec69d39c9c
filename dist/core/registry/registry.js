import { Ajv } from 'ajv';
import * as addFormatsModule from 'ajv-formats';
import { checkManifest, missingMethods, } from '../sdk/index.js';
import { createPluginHttp } from '../sdk/http.js';
import { isServiceLaneError, ServiceLaneError } from '../errors.js';
import { configHash, SLOT_NAMES } from '../tenancy/config.js';
import { breakerOf, DEFAULT_BREAKER, FALLBACK_METHODS, DEFAULT_CALL_TIMEOUT_MS, DEFAULT_RETRY, fallbackInstance, isRequestResponseKind, toCoreError, withTimeout, wrapInstance, } from '../resilience/index.js';
import { firstPartyPlugins } from '../../plugins/index.js';
import { CAPABILITY_RULES, hasCapability } from './capability-rules.js';
import { createTenantPluginStore } from './plugin-store.js';
// ajv-formats is CJS (`exports.default = formatsPlugin`); under NodeNext the callable sits on `.default`.
const addFormats = addFormatsModule.default.default;
function issueError(slot, i, all) {
    return new ServiceLaneError(i.code, i.message, { slot, ...i.details, issues: all.map((x) => ({ code: x.code, message: x.message, path: x.details.path })) });
}
/**
 * Loads plugin manifests, validates tenant plugin configuration and hands out per-tenant plugin instances.
 *
 * Load pipeline per manifest (at construction and `loadPackages`): shape → apiVersion → duplicate id → schemas
 * compile. A refused manifest is logged and listed in `loadErrors()`; boot continues.
 *
 * Per tenant slot: plugin exists → kind matches → ajv on settings → `validate()` → capability rules →
 * credentials resolved and validated → lazy `create()`, once per tenant and slot fingerprint (the slot's
 * config, the tenant's zone and the resolved credentials). A change of fingerprint closes the old instance
 * and aborts its `ctx.signal`. A broken slot only disables that slot of that tenant.
 */
export class PluginRegistry {
    o;
    ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false });
    loaded = new Map();
    errors = [];
    entries = new Map();
    pending = new Map();
    /** Last create() failure per tenant slot, by fingerprint, so status() can report it. */
    failures = new Map();
    env;
    clock = { now: () => Date.now() };
    closed = false;
    constructor(o) {
        this.o = o;
        addFormats(this.ajv);
        this.env = Object.freeze({ ...o.env });
        for (const m of o.manifests ?? firstPartyPlugins)
            this.register(m, 'first-party');
    }
    // ---- loading ---------------------------------------------------------------------------------
    /**
     * Imports third-party plugin packages (platform config `PLUGIN_PACKAGES`); each must default-export a
     * manifest. A package that fails to import or load is reported in `loadErrors()`, never thrown.
     */
    async loadPackages(names) {
        for (const name of names) {
            let mod;
            try {
                mod = await import(name);
            }
            catch (e) {
                this.refuse({ source: `package:${name}`, code: 'PLG_ERR_SHAPE', message: `plugin package "${name}" could not be imported`, details: { reason: e.message } });
                continue;
            }
            const m = mod.default ?? mod;
            this.register(m, `package:${name}`);
        }
    }
    refuse(err) {
        this.errors.push(err);
        this.o.logger.error({ source: err.source, plugin: err.pluginId, code: err.code, details: err.details }, `plugin refused at load: ${err.message}`);
    }
    register(m, source) {
        const rawId = m?.id;
        const pluginId = typeof rawId === 'string' ? rawId : undefined;
        const problems = checkManifest(m);
        if (problems.length) {
            this.refuse({ source, pluginId, code: problems[0].code, message: problems.map((p) => `${p.path}: ${p.message}`).join('; '), details: { problems } });
            return false;
        }
        const manifest = m;
        const existing = this.loaded.get(manifest.id);
        if (existing) {
            this.refuse({ source, pluginId, code: 'PLG_ERR_DUPLICATE_ID', message: `plugin id "${manifest.id}" is already registered by ${existing.source}`, details: { registeredBy: existing.source } });
            return false;
        }
        let validateSettings;
        let validateCredentials = null;
        try {
            validateSettings = this.ajv.compile(manifest.settingsSchema);
            if (manifest.credentialsSchema)
                validateCredentials = this.ajv.compile(manifest.credentialsSchema);
        }
        catch (e) {
            this.refuse({ source, pluginId, code: 'PLG_ERR_SHAPE', message: `${manifest.id}: a schema does not compile: ${e.message}` });
            return false;
        }
        const needsCredentials = validateCredentials !== null && !validateCredentials({});
        this.loaded.set(manifest.id, { manifest, source, validateSettings, validateCredentials, needsCredentials });
        return true;
    }
    /** Manifests refused at load (bad shape, unknown apiVersion, duplicate id, import failure). */
    loadErrors() {
        return [...this.errors];
    }
    /** Every loaded plugin, for the admin API. */
    list() {
        return [...this.loaded.values()].map(({ manifest: m, source, needsCredentials }) => ({
            id: m.id, kind: m.kind, version: m.version, apiVersion: m.apiVersion, description: m.description,
            capabilities: m.capabilities, source, needsCredentials,
        }));
    }
    manifest(id) {
        return this.loaded.get(id)?.manifest;
    }
    // ---- validation ------------------------------------------------------------------------------
    /**
     * Every plugin problem in a dealership config (already parsed by parseDealershipConfig), all at once, for the
     * admin API to refuse a save. Credentials are only checked for presence of a reference here; whether the
     * reference resolves is checked by `status`/`get`.
     */
    validateConfig(config) {
        const out = [];
        for (const slot of SLOT_NAMES) {
            if (!config.plugins[slot])
                continue;
            for (const i of this.checkSlot(config, slot).issues)
                out.push({ slot, ...i });
        }
        return out;
    }
    checkPlugin(config, slot, o) {
        const { pluginId, base } = o;
        const loaded = this.loaded.get(pluginId);
        if (!loaded) {
            const refused = this.errors.find((e) => e.pluginId === pluginId);
            return { issues: [{
                        code: 'PLG_ERR_NOT_FOUND',
                        message: refused ? `plugin "${pluginId}" was refused at load (${refused.code})` : `no plugin "${pluginId}" is registered`,
                        details: { path: `${base}/plugin`, pluginId, ...(refused ? { loadError: { code: refused.code, message: refused.message } } : {}) },
                    }] };
        }
        const m = loaded.manifest;
        if (m.kind !== slot) {
            return { issues: [{ code: 'PLG_ERR_KIND_MISMATCH', message: `plugin "${pluginId}" is a ${m.kind} plugin, not ${slot}`, details: { path: `${base}/plugin`, pluginId, kind: m.kind } }] };
        }
        const issues = [];
        const settings = structuredClone(o.settings ?? {});
        if (!loaded.validateSettings(settings)) {
            for (const e of loaded.validateSettings.errors ?? [])
                issues.push(this.ajvIssue(e, { base: `${base}/settings`, pluginId }));
        }
        else if (m.validate) {
            let messages;
            try {
                messages = m.validate(settings);
            }
            catch (e) {
                messages = [`validate() threw: ${e.message}`];
            }
            for (const message of messages)
                issues.push({ code: 'PLG_ERR_CONFIG_INVALID', message: `${pluginId}: ${message}`, details: { path: `${base}/settings`, pluginId } });
        }
        for (const rule of CAPABILITY_RULES) {
            if (rule.slot !== slot || hasCapability(m.capabilities, rule.capability) || !rule.when(config))
                continue;
            issues.push({
                code: 'PLG_ERR_CAPABILITY_MISSING',
                message: `plugin "${pluginId}" does not declare capability "${rule.capability}": ${rule.reason}`,
                details: { path: `${base}/plugin`, pluginId, capability: rule.capability },
            });
        }
        if (o.credentialsRef === undefined && loaded.needsCredentials) {
            issues.push({ code: 'PLG_ERR_CREDENTIALS_MISSING', message: `plugin "${pluginId}" needs credentials: set credentialsRef`, details: { path: `${base}/credentialsRef`, pluginId } });
        }
        return issues.length ? { issues } : { issues, checked: { loaded, settings, credentialsRef: o.credentialsRef } };
    }
    ajvIssue(e, o) {
        const extra = e.keyword === 'additionalProperties' ? ` "${String(e.params.additionalProperty)}"` : '';
        return {
            code: 'PLG_ERR_CONFIG_INVALID',
            message: `${o.pluginId} settings${e.instancePath || ''}: ${e.message ?? 'invalid'}${extra}`,
            details: { path: `${o.base}${e.instancePath}`, pluginId: o.pluginId, instancePath: e.instancePath, keyword: e.keyword, params: e.params },
        };
    }
    checkSlot(config, slot) {
        const sc = config.plugins[slot];
        const base = `/plugins/${slot}`;
        const p = this.checkPlugin(config, slot, { pluginId: sc.plugin, settings: sc.settings, credentialsRef: sc.credentialsRef, base });
        // A fallback runs with its schema's defaults and no credentials: it is a local safety net (e.g. calendar-builtin).
        const f = sc.fallback === undefined ? undefined : this.checkPlugin(config, slot, { pluginId: sc.fallback, settings: {}, base: `${base}/fallback` });
        const issues = [...p.issues, ...(f?.issues ?? []).map((i) => ({ ...i, details: { ...i.details, path: i.details.path.replace(`${base}/fallback/plugin`, `${base}/fallback`) } }))];
        return { issues, primary: p.checked, fallback: f?.checked };
    }
    async resolveCredentials(tenantId, slot, c) {
        const { loaded, credentialsRef: ref } = c;
        const pluginId = loaded.manifest.id;
        let creds = {};
        if (ref !== undefined) {
            creds = await this.o.tenants.getCredential(tenantId, ref);
            if (creds === undefined) {
                throw new ServiceLaneError('PLG_ERR_CREDENTIALS_MISSING', `credential "${ref}" for ${pluginId} is not stored for this tenant`, { slot, pluginId, credentialsRef: ref, path: `/plugins/${slot}/credentialsRef` });
            }
        }
        const v = loaded.validateCredentials;
        if (v && !v(creds)) {
            if (ref === undefined) {
                throw new ServiceLaneError('PLG_ERR_CREDENTIALS_MISSING', `plugin "${pluginId}" needs credentials: set credentialsRef`, { slot, pluginId, path: `/plugins/${slot}/credentialsRef` });
            }
            // Paths and keywords only: a credential's values must never reach a message or a log.
            throw new ServiceLaneError('PLG_ERR_CONFIG_INVALID', `credential "${ref}" does not match ${pluginId}'s credentials schema`, {
                slot, pluginId, credentialsRef: ref, errors: (v.errors ?? []).map((e) => ({ path: `/credentials${e.instancePath}`, keyword: e.keyword, message: e.message })),
            });
        }
        return creds;
    }
    /** Full check of one configured slot, credentials included; throws the first problem as a coded error. */
    async resolveSlot(tenantId, config, slot) {
        const checked = this.checkSlot(config, slot);
        if (checked.issues.length || !checked.primary)
            throw issueError(slot, checked.issues[0], checked.issues);
        const primary = { ...checked.primary, credentials: await this.resolveCredentials(tenantId, slot, checked.primary) };
        const fallback = checked.fallback ? { ...checked.fallback, credentials: await this.resolveCredentials(tenantId, slot, checked.fallback) } : undefined;
        const fingerprint = configHash({
            timezone: config.timezone,
            p: [primary.loaded.manifest.id, primary.loaded.manifest.version, primary.settings, primary.credentials],
            f: fallback ? [fallback.loaded.manifest.id, fallback.loaded.manifest.version, fallback.settings, fallback.credentials] : null,
        });
        return { primary, fallback, fingerprint };
    }
    // ---- instances -------------------------------------------------------------------------------
    /**
     * The tenant's plugin instance for `slot`, created on first use and reused while the slot's config and
     * credentials are unchanged. Request/response kinds come wrapped (timeout, retry, breaker, metrics,
     * fallback); stt/llm/tts come raw (the voice pipeline guards its session opens).
     *
     * @throws PLG_ERR_SLOT_DISABLED (details: slot, pluginId, reason, code of the underlying problem) when the slot
     * is not configured or its plugin/config/credentials are broken; TEN_ERR_NOT_FOUND / TEN_ERR_OFFBOARDED.
     */
    async get(tenantId, slot) {
        const entry = await this.acquire(tenantId, slot);
        if (!entry)
            throw new ServiceLaneError('PLG_ERR_SLOT_DISABLED', `the ${slot} slot is not configured for this tenant`, { slot, pluginId: null, reason: 'not configured', code: 'PLG_ERR_SLOT_DISABLED' });
        return entry.instance;
    }
    /** Like `get`, but `null` when the slot isn't configured (optional slots: vehicle, notify). */
    async tryGet(tenantId, slot) {
        const entry = await this.acquire(tenantId, slot);
        return entry ? entry.instance : null;
    }
    /**
     * Streaming kinds: the slot's fallback plugin instance (raw), or null when none is configured. The voice
     * pipeline switches to it when the primary's session open fails or its breaker is open.
     */
    async getFallback(tenantId, slot) {
        const entry = await this.acquire(tenantId, slot);
        return (entry?.fallback ?? null);
    }
    /** State of the breaker guarding a cached request/response instance; null when none is cached. */
    breakerState(tenantId, slot) {
        const e = this.entries.get(`${tenantId}/${slot}`);
        const b = e && typeof e.instance === 'object' && e.instance !== null ? breakerOf(e.instance) : undefined;
        return b ? b.state() : null;
    }
    async acquire(tenantId, slot) {
        if (this.closed)
            throw new ServiceLaneError('PLG_ERR_SLOT_DISABLED', 'plugin registry is shutting down', { slot, reason: 'shutting down', code: 'PLG_ERR_SLOT_DISABLED' });
        const tenant = await this.o.tenants.getActive(tenantId);
        const key = `${tenant.id}/${slot}`;
        const cached = this.entries.get(key);
        // Hot path: TenantService hands out the same object until something about the tenant is invalidated.
        if (cached && cached.tenantRef === tenant)
            return cached;
        let p = this.pending.get(key);
        if (!p) {
            p = this.refresh(tenant, slot, key).finally(() => this.pending.delete(key));
            this.pending.set(key, p);
        }
        return p;
    }
    async refresh(tenant, slot, key) {
        const existing = this.entries.get(key);
        const config = tenant.config;
        if (!config) {
            if (existing)
                await this.drop(key);
            throw new ServiceLaneError('PLG_ERR_SLOT_DISABLED', `the ${slot} slot is disabled: the tenant configuration is invalid`, { slot, pluginId: null, reason: 'tenant configuration invalid', code: 'TEN_ERR_CONFIG_INVALID', details: tenant.configErrors });
        }
        const sc = config.plugins[slot];
        if (!sc) {
            if (existing)
                await this.drop(key);
            return null;
        }
        let resolved;
        try {
            resolved = await this.resolveSlot(tenant.id, config, slot);
        }
        catch (e) {
            if (existing)
                await this.drop(key);
            throw this.disabled(slot, sc.plugin, e);
        }
        if (existing && existing.fingerprint === resolved.fingerprint) {
            existing.tenantRef = tenant;
            return existing;
        }
        if (existing)
            await this.drop(key);
        let entry;
        try {
            entry = await this.build(tenant, config, slot, resolved);
        }
        catch (e) {
            const err = this.disabled(slot, sc.plugin, e);
            this.failures.set(key, { fingerprint: resolved.fingerprint, error: err });
            this.o.logger.error({ tenantId: tenant.id, plugin: sc.plugin, slot, code: err.details.code }, 'plugin instance could not be created; slot disabled');
            throw err;
        }
        this.failures.delete(key);
        if (this.closed) {
            await entry.close();
            throw new ServiceLaneError('PLG_ERR_SLOT_DISABLED', 'plugin registry is shutting down', { slot, reason: 'shutting down', code: 'PLG_ERR_SLOT_DISABLED' });
        }
        this.entries.set(key, entry);
        return entry;
    }
    disabled(slot, pluginId, e) {
        const inner = isServiceLaneError(e) ? e : toCoreError(e, { pluginId, method: 'create' });
        if (inner.code === 'PLG_ERR_SLOT_DISABLED')
            return inner;
        return new ServiceLaneError('PLG_ERR_SLOT_DISABLED', `the ${slot} slot is disabled: ${inner.message}`, {
            slot, pluginId, reason: inner.message, code: inner.code, details: inner.details,
        }, { cause: inner });
    }
    buildContext(o) {
        const { tenantId, pluginId } = o;
        const tenantDb = (fn) => this.o.tenants.withTenant(tenantId, fn);
        return {
            tenantId, pluginId, timezone: o.timezone,
            logger: this.o.logger.child({ tenantId, plugin: pluginId }),
            http: createPluginHttp({ pluginId, signal: o.signal, defaultTimeoutMs: this.o.httpTimeoutMs }),
            store: createTenantPluginStore({ tenantDb, pluginId, clock: this.clock }),
            tenantDb,
            clock: this.clock,
            signal: o.signal,
            env: this.env,
        };
    }
    async create(tenant, config, r, signal) {
        const m = r.loaded.manifest;
        const ctx = this.buildContext({ tenantId: tenant.id, pluginId: m.id, timezone: config.timezone, signal });
        const instance = await m.create(ctx, { settings: r.settings, credentials: r.credentials });
        const missing = missingMethods(m.kind, instance);
        if (missing.length) {
            await instance?.close?.().catch(() => undefined);
            throw new ServiceLaneError('PLG_ERR_SHAPE', `${m.id}.create() returned an instance without ${missing.join(', ')}`, { pluginId: m.id, missing });
        }
        return instance;
    }
    wrap(tenantId, slot, pluginId, instance) {
        const res = this.o.resilience ?? {};
        return wrapInstance(instance, {
            pluginId, kind: slot, tenantId,
            timeoutMs: res.timeoutMs?.[slot] ?? DEFAULT_CALL_TIMEOUT_MS[slot],
            retry: res.retry ?? DEFAULT_RETRY,
            breaker: res.breaker ?? DEFAULT_BREAKER,
        });
    }
    async build(tenant, config, slot, r) {
        const controller = new AbortController();
        const primary = await this.create(tenant, config, r.primary, controller.signal);
        let secondary = null;
        if (r.fallback) {
            try {
                secondary = await this.create(tenant, config, r.fallback, controller.signal);
            }
            catch (e) {
                controller.abort();
                await primary.close?.().catch(() => undefined);
                throw e;
            }
        }
        const base = { fingerprint: r.fingerprint, tenantRef: tenant, controller };
        const closeRaw = (x) => x?.close?.();
        if (!isRequestResponseKind(slot)) {
            return {
                ...base, instance: primary, fallback: secondary,
                close: async () => { await Promise.all([closeRaw(primary), closeRaw(secondary)]); },
            };
        }
        const wp = this.wrap(tenant.id, slot, r.primary.loaded.manifest.id, primary);
        const ws = secondary && r.fallback ? this.wrap(tenant.id, slot, r.fallback.loaded.manifest.id, secondary) : null;
        const logger = this.o.logger;
        const instance = ws ? fallbackInstance(wp, ws, {
            methods: FALLBACK_METHODS[slot],
            onFallback: (e, method) => logger.warn({ tenantId: tenant.id, slot, plugin: r.primary.loaded.manifest.id, method, err: e.message }, 'plugin call failed over to the fallback plugin'),
        }) : wp;
        return { ...base, instance, fallback: null, close: () => instance.close() };
    }
    async drop(key) {
        const e = this.entries.get(key);
        if (!e)
            return;
        this.entries.delete(key);
        e.controller.abort(new Error('plugin instance closed'));
        try {
            await e.close();
        }
        catch (err) {
            this.o.logger.warn({ key, err: err.message }, 'plugin instance close failed');
        }
    }
    // ---- status ----------------------------------------------------------------------------------
    /**
     * Every slot's state for the admin API (`GET /admin/v1/tenants/:id/plugins`), checked live (config,
     * credentials, last create failure) and persisted to platform.plugin_status.
     */
    async status(tenantId) {
        const tenant = await this.o.tenants.get(tenantId);
        const out = [];
        for (const slot of SLOT_NAMES)
            out.push(await this.slotStatus(tenant, slot));
        await this.o.tenants.db.transaction(async (trx) => {
            for (const s of out) {
                if (s.state === 'unconfigured') {
                    await trx('platform.plugin_status').where({ tenant_id: tenant.id, slot: s.slot }).del();
                    continue;
                }
                await trx('platform.plugin_status')
                    .insert({ tenant_id: tenant.id, slot: s.slot, plugin_id: s.pluginId, state: s.state, error: s.error ? JSON.stringify(s.error) : null, updated_at: trx.fn.now() })
                    .onConflict(['tenant_id', 'slot']).merge();
            }
        });
        return out;
    }
    async slotStatus(tenant, slot) {
        const disabled = (pluginId, e) => ({ slot, pluginId, state: 'disabled', error: { code: e.code, message: e.message, details: e.details } });
        if (!tenant.config) {
            const raw = tenant.rawConfig?.plugins?.[slot];
            if (!raw)
                return { slot, pluginId: null, state: 'unconfigured' };
            return disabled(typeof raw.plugin === 'string' ? raw.plugin : null, new ServiceLaneError('TEN_ERR_CONFIG_INVALID', 'tenant configuration is invalid', tenant.configErrors));
        }
        const sc = tenant.config.plugins[slot];
        if (!sc)
            return { slot, pluginId: null, state: 'unconfigured' };
        if (tenant.status === 'offboarded')
            return disabled(sc.plugin, new ServiceLaneError('TEN_ERR_OFFBOARDED', 'tenant is offboarded'));
        try {
            const r = await this.resolveSlot(tenant.id, tenant.config, slot);
            const failed = this.failures.get(`${tenant.id}/${slot}`);
            if (failed && failed.fingerprint === r.fingerprint) {
                const d = failed.error.details;
                return { slot, pluginId: sc.plugin, state: 'disabled', error: { code: d.code ?? failed.error.code, message: d.reason ?? failed.error.message, details: d.details } };
            }
            return { slot, pluginId: sc.plugin, state: 'ok' };
        }
        catch (e) {
            return disabled(sc.plugin, isServiceLaneError(e) ? e : toCoreError(e, { pluginId: sc.plugin }));
        }
    }
    /**
     * Runs the plugin's `testConnection` (or, without one, creates the instance) within `testTimeoutMs`. Answers
     * `{ ok: false, error }` for a broken slot or a failed test; throws PLG_ERR_SLOT_DISABLED only when the slot
     * is not configured.
     */
    async testConnection(tenantId, slot) {
        const tenant = await this.o.tenants.getActive(tenantId);
        const sc = tenant.config?.plugins[slot];
        if (!tenant.config || !sc) {
            throw new ServiceLaneError('PLG_ERR_SLOT_DISABLED', `the ${slot} slot is not configured for this tenant`, { slot, pluginId: null, reason: tenant.config ? 'not configured' : 'tenant configuration invalid', code: tenant.config ? 'PLG_ERR_SLOT_DISABLED' : 'TEN_ERR_CONFIG_INVALID' });
        }
        const config = tenant.config;
        const started = performance.now();
        const result = (r) => ({ slot, pluginId: sc.plugin, ...r, latencyMs: Math.round(performance.now() - started) });
        const failed = (e) => {
            const err = isServiceLaneError(e) ? e : toCoreError(e, { pluginId: sc.plugin, method: 'testConnection' });
            return result({ ok: false, error: { code: err.code, message: err.message, details: err.details } });
        };
        let r;
        try {
            r = await this.resolveSlot(tenant.id, config, slot);
        }
        catch (e) {
            return failed(e);
        }
        const m = r.primary.loaded.manifest;
        const ms = this.o.testTimeoutMs ?? 10_000;
        try {
            if (!m.testConnection) {
                await this.get(tenant.id, slot);
                return result({ ok: true, detail: 'instance created (the plugin declares no testConnection)' });
            }
            const test = m.testConnection.bind(m);
            const run = withTimeout((o) => test(this.buildContext({ tenantId: tenant.id, pluginId: m.id, timezone: config.timezone, signal: o.signal }), { settings: r.primary.settings, credentials: r.primary.credentials }), { ms, name: `${m.id}.testConnection` });
            const res = await run({});
            return result({ ok: res.ok === true, detail: res.detail, ...(res.ok ? {} : { error: { code: 'PLG_ERR_CALL_FAILED', message: res.detail ?? `${m.id} connection test failed` } }) });
        }
        catch (e) {
            const inner = isServiceLaneError(e) && e.code === 'PLG_ERR_SLOT_DISABLED' && e.cause ? e.cause : e;
            return failed(inner);
        }
    }
    // ---- lifecycle -------------------------------------------------------------------------------
    /** Closes a tenant's instances (offboarding); the next `get` recreates them if the tenant is still active. */
    async closeTenant(tenantId) {
        const keys = [...this.entries.keys()].filter((k) => k.startsWith(`${tenantId}/`));
        await Promise.all(keys.map((k) => this.drop(k)));
        for (const k of [...this.failures.keys()])
            if (k.startsWith(`${tenantId}/`))
                this.failures.delete(k);
    }
    /** Closes every instance; later `get` calls fail with PLG_ERR_SLOT_DISABLED. */
    async close() {
        this.closed = true;
        await Promise.allSettled([...this.pending.values()]);
        await Promise.all([...this.entries.keys()].map((k) => this.drop(k)));
    }
}
/** Convenience for the admin API: the first issue of `validateConfig` as a thrown coded error. */
export function assertPluginConfig(registry, config) {
    const issues = registry.validateConfig(config);
    if (!issues.length)
        return;
    const first = issues[0];
    const code = first.code;
    throw new ServiceLaneError(code, first.message, { errors: issues.map((i) => ({ slot: i.slot, code: i.code, path: i.details.path, message: i.message })) });
}
//# sourceMappingURL=registry.js.map