import type { ErrorObject, ValidateFunction } from 'ajv';
import { createAjv } from '../sdk/json-schema.js';
import {
  checkManifest, missingMethods, type AnyPluginManifest, type CallOptions, type PluginContext, type PluginKind, type TenantData,
} from '../sdk/index.js';
import { createPluginHttp } from '../sdk/http.js';
import { createEgress, type EgressPolicy, type EgressRefusedError } from '../sdk/egress.js';
import { isServiceLaneError, ServiceLaneError, type ErrorCode } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { StateStore } from '../state/store.js';
import type { Tenant, TenantService } from '../tenancy/tenants.js';
import { configHash, SLOT_NAMES, type DealershipConfig, type PluginSlot, type SlotName } from '../tenancy/config.js';
import {
  breakerOf, DEFAULT_BREAKER, FALLBACK_METHODS, DEFAULT_CALL_TIMEOUT_MS, DEFAULT_RETRY, fallbackInstance, isRequestResponseKind, toCoreError,
  withTimeout, wrapInstance, type BreakerOptions, type BreakerState, type RetryPolicy,
} from '../resilience/index.js';
import { CAPABILITY_RULES, hasCapability } from './capability-rules.js';
import { createTenantPluginStore } from './plugin-store.js';
import { packageEntry, provideSdkSpecifier } from './plugin-packages.js';
import type { PlatformDefaults, PluginPlatformDefaults } from './platform-defaults.js';
import type { PluginConfigIssue, PluginLoadError, PluginSummary, SlotKinds, SlotStatus, TestConnectionResult } from './types.js';

export interface PluginRegistryOptions {
  tenants: TenantService;
  state: StateStore;
  logger: Logger;
  /**
   * Per-plugin platform settings and keys (see platformDefaults): each plugin receives only its own entry,
   * merged under the tenant's settings and used as credentials when the slot has no credentialsRef.
   */
  platformDefaults?: PlatformDefaults;
  /** Where plugins may connect (ctx.http, ctx.egress); the composition root builds it from PLUGIN_EGRESS_ALLOW. */
  egress: EgressPolicy;
  /**
   * Tenant data access for first-party built-ins: granted only to these plugin ids, and only when that id was
   * registered as first-party (a package can't claim it). Every other plugin's ctx has no `tenantData`.
   */
  tenantData?: { pluginIds: readonly string[]; forTenant(tenantId: string): TenantData };
  /**
   * The first-party manifests, registered with source `first-party`. The composition root (core/app.ts) passes
   * plugins/index.ts; the registry itself knows no plugin, so core never stands on a vendor SDK. Packages from
   * PLUGIN_PACKAGES come later through `loadPackages`.
   */
  manifests: readonly AnyPluginManifest[];
  /** Resilience defaults for request/response kinds; tests shrink them. */
  resilience?: {
    timeoutMs?: Partial<Record<PluginKind, number>>;
    retry?: RetryPolicy | false;
    breaker?: Omit<BreakerOptions, 'name' | 'timeoutMs' | 'metricLabel'> | false;
  };
  /** `ctx.http` default timeout (10 s). */
  httpTimeoutMs?: number;
  /** `testConnection` budget (10 s). */
  testTimeoutMs?: number;
}

interface Loaded {
  manifest: AnyPluginManifest;
  source: string;
  validateSettings: ValidateFunction;
  validateCredentials: ValidateFunction | null;
  /** `{}` fails the credentials schema: a credentialsRef is required. */
  needsCredentials: boolean;
}

interface CheckedPlugin { loaded: Loaded; settings: unknown; credentialsRef?: string }
interface ResolvedPlugin extends CheckedPlugin { credentials: unknown }
interface ResolvedSlot { primary: ResolvedPlugin; fallback?: ResolvedPlugin; fingerprint: string }

interface Entry {
  fingerprint: string;
  /** The Tenant object this entry was checked against; TenantService replaces it on any invalidation. */
  tenantRef: Tenant;
  controller: AbortController;
  /** What `get` returns: wrapped for request/response kinds, raw for streaming kinds. */
  instance: unknown;
  /** Streaming kinds only: the raw fallback instance, for the voice pipeline to switch to. */
  fallback: unknown;
  close: () => Promise<void>;
}

type SlotIssue = Omit<PluginConfigIssue, 'slot'>;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A platform default whose variable is unset is absent, not `undefined` (ajv and the tenant's own value decide). */
function definedOnly(o: Record<string, unknown> | undefined): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o ?? {}).filter(([, v]) => v !== undefined && v !== ''));
}

function issueError(slot: SlotName, i: SlotIssue, all: SlotIssue[]): ServiceLaneError {
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
  private readonly ajv = createAjv({ allErrors: true, useDefaults: true, strict: false });
  private readonly loaded = new Map<string, Loaded>();
  private readonly errors: PluginLoadError[] = [];
  private readonly entries = new Map<string, Entry>();
  private readonly pending = new Map<string, Promise<Entry | null>>();
  /** Last create() failure per tenant slot, by fingerprint, so status() can report it. */
  private readonly failures = new Map<string, { fingerprint: string; error: ServiceLaneError }>();
  private readonly clock = { now: () => Date.now() };
  private closed = false;

  constructor(private readonly o: PluginRegistryOptions) {
    for (const m of o.manifests) this.register(m, 'first-party');
  }

  // ---- loading ---------------------------------------------------------------------------------

  /**
   * Imports third-party plugin packages (platform config `PLUGIN_PACKAGES`: package names, or absolute paths of
   * package folders); each must default-export a manifest. A package that fails to import or load is reported in
   * `loadErrors()`, never thrown. Packages import the SDK as `@servicelane/sdk`, which resolves to the SDK this
   * process runs (plugin-packages.ts).
   */
  async loadPackages(names: string[]): Promise<void> {
    if (names.length) provideSdkSpecifier();
    for (const name of names) {
      let mod: unknown;
      try {
        mod = await import(packageEntry(name));
      } catch (e) {
        this.refuse({ source: `package:${name}`, code: 'PLG_ERR_SHAPE', message: `plugin package "${name}" could not be imported`, details: { reason: (e as Error).message } });
        continue;
      }
      const m = (mod as { default?: unknown }).default ?? mod;
      if (this.register(m, `package:${name}`)) {
        const { id, version, apiVersion } = m as AnyPluginManifest;
        this.o.logger.info({ source: `package:${name}`, plugin: id, version, apiVersion }, 'plugin package loaded');
      }
    }
  }

  private refuse(err: PluginLoadError): void {
    this.errors.push(err);
    this.o.logger.error({ source: err.source, plugin: err.pluginId, code: err.code, details: err.details }, `plugin refused at load: ${err.message}`);
  }

  private register(m: unknown, source: string): boolean {
    const rawId = (m as { id?: unknown } | null)?.id;
    const pluginId = typeof rawId === 'string' ? rawId : undefined;
    const problems = checkManifest(m);
    if (problems.length) {
      this.refuse({ source, pluginId, code: problems[0]!.code, message: problems.map((p) => `${p.path}: ${p.message}`).join('; '), details: { problems } });
      return false;
    }
    const manifest = m as AnyPluginManifest;
    const existing = this.loaded.get(manifest.id);
    if (existing) {
      this.refuse({ source, pluginId, code: 'PLG_ERR_DUPLICATE_ID', message: `plugin id "${manifest.id}" is already registered by ${existing.source}`, details: { registeredBy: existing.source } });
      return false;
    }
    let validateSettings: ValidateFunction;
    let validateCredentials: ValidateFunction | null = null;
    try {
      validateSettings = this.ajv.compile(manifest.settingsSchema);
      if (manifest.credentialsSchema) validateCredentials = this.ajv.compile(manifest.credentialsSchema);
    } catch (e) {
      this.refuse({ source, pluginId, code: 'PLG_ERR_SHAPE', message: `${manifest.id}: a schema does not compile: ${(e as Error).message}` });
      return false;
    }
    const needsCredentials = validateCredentials !== null && !validateCredentials({});
    this.loaded.set(manifest.id, { manifest, source, validateSettings, validateCredentials, needsCredentials });
    return true;
  }

  /** Manifests refused at load (bad shape, unknown apiVersion, duplicate id, import failure). */
  loadErrors(): PluginLoadError[] {
    return [...this.errors];
  }

  /** Every loaded plugin, for the admin API. */
  list(): PluginSummary[] {
    return [...this.loaded.values()].map(({ manifest: m, source, needsCredentials }) => ({
      id: m.id, kind: m.kind, version: m.version, apiVersion: m.apiVersion, description: m.description,
      capabilities: m.capabilities, source, needsCredentials,
    }));
  }

  manifest(id: string): AnyPluginManifest | undefined {
    return this.loaded.get(id)?.manifest;
  }

  /** This plugin's platform defaults, and nothing else's. */
  private defaultsFor(pluginId: string): PluginPlatformDefaults | undefined {
    return Object.hasOwn(this.o.platformDefaults ?? {}, pluginId) ? this.o.platformDefaults![pluginId] : undefined;
  }

  /** Whether the composition root granted core's tenant data to this plugin (first-party registrations only). */
  private grantsTenantData(pluginId: string): boolean {
    return !!this.o.tenantData?.pluginIds.includes(pluginId) && this.loaded.get(pluginId)?.source === 'first-party';
  }

  /**
   * Which credential fields fail the plugin's credentialsSchema, by name (never by value: a credential's
   * values must not reach a message or a log). A non-object value fails every required field.
   */
  private credentialProblems(loaded: Loaded, value: unknown): { field: string; message: string }[] {
    const v = loaded.validateCredentials;
    if (!v || v(structuredClone(value))) return [];
    const required = (loaded.manifest.credentialsSchema as { required?: unknown } | null | undefined)?.required;
    const out: { field: string; message: string }[] = [];
    for (const e of v.errors ?? []) {
      if (e.keyword === 'required') out.push({ field: String((e.params as { missingProperty?: string }).missingProperty), message: 'is required' });
      else if (e.instancePath === '' && e.keyword === 'type' && Array.isArray(required) && required.length) {
        for (const r of required) out.push({ field: String(r), message: `is required (the credential must be an object with ${required.join(', ')})` });
      } else if (e.keyword === 'additionalProperties') {
        out.push({ field: String((e.params as { additionalProperty?: string }).additionalProperty), message: 'is not a field of this credential' });
      } else out.push({ field: e.instancePath.slice(1).replace(/\//g, '.') || '(credential)', message: e.message ?? 'is invalid' });
    }
    return out.filter((x, i) => out.findIndex((y) => y.field === x.field) === i);
  }

  private credentialIssue(o: { slot: SlotName; loaded: Loaded; ref: string; value: unknown }): PluginConfigIssue | null {
    const problems = this.credentialProblems(o.loaded, o.value);
    if (!problems.length) return null;
    const pluginId = o.loaded.manifest.id;
    return {
      slot: o.slot,
      code: 'PLG_ERR_CREDENTIALS_INVALID',
      message: `credential "${o.ref}" does not match ${pluginId}'s credentials: ${problems.map((p) => `${p.field} ${p.message}`).join('; ')}`,
      details: { path: `/plugins/${o.slot}/credentialsRef`, pluginId, credentialsRef: o.ref, fields: problems },
    };
  }

  /**
   * Save-time check (PUT config): every stored credential the config references must satisfy the referencing
   * plugin's credentialsSchema. A reference to a credential not stored yet passes here (store it next); the
   * slot status reports it until then.
   */
  async storedCredentialIssues(tenantId: string, config: DealershipConfig): Promise<PluginConfigIssue[]> {
    const out: PluginConfigIssue[] = [];
    for (const slot of SLOT_NAMES) {
      const sc = config.plugins[slot];
      const loaded = sc && this.loaded.get(sc.plugin);
      if (!sc || !loaded || sc.credentialsRef === undefined) continue;
      const value = await this.o.tenants.getCredential(tenantId, sc.credentialsRef);
      if (value === undefined) continue;
      const issue = this.credentialIssue({ slot, loaded, ref: sc.credentialsRef, value });
      if (issue) out.push(issue);
    }
    return out;
  }

  /** Save-time check (PUT credentials/:name): the new value against every plugin in `config` that references `name`. */
  credentialValueIssues(config: DealershipConfig | null | undefined, name: string, value: unknown): PluginConfigIssue[] {
    const out: PluginConfigIssue[] = [];
    for (const slot of SLOT_NAMES) {
      const sc = config?.plugins[slot];
      const loaded = sc && this.loaded.get(sc.plugin);
      if (!sc || !loaded || sc.credentialsRef !== name) continue;
      const issue = this.credentialIssue({ slot, loaded, ref: name, value });
      if (issue) out.push(issue);
    }
    return out;
  }

  // ---- validation ------------------------------------------------------------------------------

  /**
   * Every plugin problem in a dealership config (already parsed by parseDealershipConfig), all at once, for the
   * admin API to refuse a save. Credentials are only checked for presence of a reference here; whether the
   * reference resolves is checked by `status`/`get`.
   */
  validateConfig(config: DealershipConfig): PluginConfigIssue[] {
    const out: PluginConfigIssue[] = [];
    for (const slot of SLOT_NAMES) {
      if (!config.plugins[slot]) continue;
      for (const i of this.checkSlot(config, slot).issues) out.push({ slot, ...i });
    }
    return out;
  }

  private checkPlugin(config: DealershipConfig, slot: SlotName, o: { pluginId: string; settings: unknown; credentialsRef?: string; base: string }): { issues: SlotIssue[]; checked?: CheckedPlugin } {
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
    const issues: SlotIssue[] = [];
    const d = this.defaultsFor(pluginId);
    const tenantSettings = isPlainObject(o.settings) ? o.settings : undefined;
    // A platform key only travels to the platform's endpoint: while the slot runs on the platform's credentials,
    // the endpoint settings the operator controls are not the tenant's to change.
    if (o.credentialsRef === undefined && d?.credentials !== undefined && tenantSettings) {
      for (const key of Object.keys(d.settings ?? {})) {
        if (tenantSettings[key] === undefined) continue;
        issues.push({
          code: 'PLG_ERR_CONFIG_INVALID',
          message: `${pluginId} settings.${key} can only be set together with the dealership's own credentials (credentialsRef): the platform's key is only sent to the platform's endpoint`,
          details: { path: `${base}/settings/${key}`, pluginId },
        });
      }
    }
    const settings = structuredClone(tenantSettings ? { ...definedOnly(d?.settings), ...tenantSettings } : o.settings ?? definedOnly(d?.settings));
    if (!loaded.validateSettings(settings)) {
      for (const e of loaded.validateSettings.errors ?? []) issues.push(this.ajvIssue(e, { base: `${base}/settings`, pluginId }));
    } else if (m.validate) {
      let messages: string[];
      try {
        messages = m.validate(settings);
      } catch (e) {
        messages = [`validate() threw: ${(e as Error).message}`];
      }
      for (const message of messages) issues.push({ code: 'PLG_ERR_CONFIG_INVALID', message: `${pluginId}: ${message}`, details: { path: `${base}/settings`, pluginId } });
    }
    for (const rule of CAPABILITY_RULES) {
      if (rule.slot !== slot || hasCapability(m.capabilities, rule.capability) || !rule.when(config)) continue;
      issues.push({
        code: 'PLG_ERR_CAPABILITY_MISSING',
        message: `plugin "${pluginId}" does not declare capability "${rule.capability}": ${rule.reason}`,
        details: { path: `${base}/plugin`, pluginId, capability: rule.capability },
      });
    }
    if (o.credentialsRef === undefined && loaded.needsCredentials && d?.credentials === undefined) {
      issues.push({ code: 'PLG_ERR_CREDENTIALS_MISSING', message: `plugin "${pluginId}" needs credentials: set credentialsRef`, details: { path: `${base}/credentialsRef`, pluginId } });
    }
    return issues.length ? { issues } : { issues, checked: { loaded, settings, credentialsRef: o.credentialsRef } };
  }

  private ajvIssue(e: ErrorObject, o: { base: string; pluginId: string }): SlotIssue {
    const extra = e.keyword === 'additionalProperties' ? ` "${String((e.params as { additionalProperty?: string }).additionalProperty)}"` : '';
    return {
      code: 'PLG_ERR_CONFIG_INVALID',
      message: `${o.pluginId} settings${e.instancePath || ''}: ${e.message ?? 'invalid'}${extra}`,
      details: { path: `${o.base}${e.instancePath}`, pluginId: o.pluginId, instancePath: e.instancePath, keyword: e.keyword, params: e.params },
    };
  }

  private checkSlot(config: DealershipConfig, slot: SlotName): { issues: SlotIssue[]; primary?: CheckedPlugin; fallback?: CheckedPlugin } {
    const sc = config.plugins[slot] as PluginSlot;
    const base = `/plugins/${slot}`;
    const p = this.checkPlugin(config, slot, { pluginId: sc.plugin, settings: sc.settings, credentialsRef: sc.credentialsRef, base });
    // A fallback runs with its schema's defaults and no credentials: it is a local safety net (e.g. calendar-builtin).
    const f = sc.fallback === undefined ? undefined : this.checkPlugin(config, slot, { pluginId: sc.fallback, settings: {}, base: `${base}/fallback` });
    const issues = [...p.issues, ...(f?.issues ?? []).map((i) => ({ ...i, details: { ...i.details, path: i.details.path.replace(`${base}/fallback/plugin`, `${base}/fallback`) } }))];
    return { issues, primary: p.checked, fallback: f?.checked };
  }

  private async resolveCredentials(tenantId: string, slot: SlotName, c: CheckedPlugin): Promise<unknown> {
    const { loaded, credentialsRef: ref } = c;
    const pluginId = loaded.manifest.id;
    // Without a reference: the platform's own credentials for this plugin (only this plugin's), or none.
    let creds: unknown = structuredClone(this.defaultsFor(pluginId)?.credentials ?? {});
    if (ref !== undefined) {
      creds = await this.o.tenants.getCredential(tenantId, ref);
      if (creds === undefined) {
        throw new ServiceLaneError('PLG_ERR_CREDENTIALS_MISSING', `credential "${ref}" for ${pluginId} is not stored for this tenant`, { slot, pluginId, credentialsRef: ref, path: `/plugins/${slot}/credentialsRef` });
      }
    }
    const v = loaded.validateCredentials;
    if (v && !v(creds)) {
      if (ref === undefined) {
        const missing = this.credentialProblems(loaded, creds).map((x) => x.field);
        const platform = this.defaultsFor(pluginId)?.credentials !== undefined;
        throw new ServiceLaneError('PLG_ERR_CREDENTIALS_MISSING',
          `${pluginId} is unconfigured: missing credential ${missing.join(', ') || 'fields'} (set credentialsRef${platform ? ', or the platform operator sets the key' : ''})`,
          { slot, pluginId, missing, path: `/plugins/${slot}/credentialsRef` });
      }
      // Paths and keywords only: a credential's values must never reach a message or a log.
      throw new ServiceLaneError('PLG_ERR_CONFIG_INVALID', `credential "${ref}" does not match ${pluginId}'s credentials schema`, {
        slot, pluginId, credentialsRef: ref, errors: (v.errors ?? []).map((e) => ({ path: `/credentials${e.instancePath}`, keyword: e.keyword, message: e.message })),
      });
    }
    return creds;
  }

  /** Full check of one configured slot, credentials included; throws the first problem as a coded error. */
  private async resolveSlot(tenantId: string, config: DealershipConfig, slot: SlotName): Promise<ResolvedSlot> {
    const checked = this.checkSlot(config, slot);
    if (checked.issues.length || !checked.primary) throw issueError(slot, checked.issues[0]!, checked.issues);
    const primary: ResolvedPlugin = { ...checked.primary, credentials: await this.resolveCredentials(tenantId, slot, checked.primary) };
    const fallback: ResolvedPlugin | undefined = checked.fallback ? { ...checked.fallback, credentials: await this.resolveCredentials(tenantId, slot, checked.fallback) } : undefined;
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
  async get<S extends SlotName>(tenantId: string, slot: S): Promise<SlotKinds[S]> {
    const entry = await this.acquire(tenantId, slot);
    if (!entry) throw new ServiceLaneError('PLG_ERR_SLOT_DISABLED', `the ${slot} slot is not configured for this tenant`, { slot, pluginId: null, reason: 'not configured', code: 'PLG_ERR_SLOT_DISABLED' });
    return entry.instance as SlotKinds[S];
  }

  /** Like `get`, but `null` when the slot isn't configured (optional slots: vehicle, notify). */
  async tryGet<S extends SlotName>(tenantId: string, slot: S): Promise<SlotKinds[S] | null> {
    const entry = await this.acquire(tenantId, slot);
    return entry ? entry.instance as SlotKinds[S] : null;
  }

  /**
   * Streaming kinds: the slot's fallback plugin instance (raw), or null when none is configured. The voice
   * pipeline switches to it when the primary's session open fails or its breaker is open.
   */
  async getFallback<S extends 'stt' | 'llm' | 'tts'>(tenantId: string, slot: S): Promise<SlotKinds[S] | null> {
    const entry = await this.acquire(tenantId, slot);
    return (entry?.fallback ?? null) as SlotKinds[S] | null;
  }

  /** State of the breaker guarding a cached request/response instance; null when none is cached. */
  breakerState(tenantId: string, slot: SlotName): BreakerState | null {
    const e = this.entries.get(`${tenantId}/${slot}`);
    const b = e && typeof e.instance === 'object' && e.instance !== null ? breakerOf(e.instance) : undefined;
    return b ? b.state() : null;
  }

  private async acquire(tenantId: string, slot: SlotName): Promise<Entry | null> {
    if (this.closed) throw new ServiceLaneError('PLG_ERR_SLOT_DISABLED', 'plugin registry is shutting down', { slot, reason: 'shutting down', code: 'PLG_ERR_SLOT_DISABLED' });
    let tenant: Tenant;
    try { tenant = await this.o.tenants.getActive(tenantId); } catch (e) {
      // Offboarded through another process: this one learns it within the tenancy cache bound, and releases
      // the instances it still holds (their sockets, timers) instead of keeping them until shutdown.
      if (isServiceLaneError(e) && e.code === 'TEN_ERR_OFFBOARDED' && [...this.entries.keys()].some((k) => k.startsWith(`${tenantId}/`))) {
        this.closeTenant(tenantId).catch((err: Error) => this.o.logger.warn({ tenantId, err: err.message }, 'closing an offboarded tenant\'s plugin instances failed'));
      }
      throw e;
    }
    const key = `${tenant.id}/${slot}`;
    const cached = this.entries.get(key);
    // Hot path: TenantService hands out the same object until something about the tenant is invalidated.
    if (cached && cached.tenantRef === tenant) return cached;
    let p = this.pending.get(key);
    if (!p) {
      p = this.refresh(tenant, slot, key).finally(() => this.pending.delete(key));
      this.pending.set(key, p);
    }
    return p;
  }

  private async refresh(tenant: Tenant, slot: SlotName, key: string): Promise<Entry | null> {
    const existing = this.entries.get(key);
    const config = tenant.config;
    if (!config) {
      if (existing) await this.drop(key);
      throw new ServiceLaneError('PLG_ERR_SLOT_DISABLED', `the ${slot} slot is disabled: the tenant configuration is invalid`, { slot, pluginId: null, reason: 'tenant configuration invalid', code: 'TEN_ERR_CONFIG_INVALID', details: tenant.configErrors });
    }
    const sc = config.plugins[slot];
    if (!sc) {
      if (existing) await this.drop(key);
      return null;
    }
    let resolved: ResolvedSlot;
    try {
      resolved = await this.resolveSlot(tenant.id, config, slot);
    } catch (e) {
      if (existing) await this.drop(key);
      throw this.disabled(slot, sc.plugin, e);
    }
    if (existing && existing.fingerprint === resolved.fingerprint) {
      existing.tenantRef = tenant;
      return existing;
    }
    if (existing) await this.drop(key);
    let entry: Entry;
    try {
      entry = await this.build(tenant, config, slot, resolved);
    } catch (e) {
      const err = this.disabled(slot, sc.plugin, e);
      this.failures.set(key, { fingerprint: resolved.fingerprint, error: err });
      this.o.logger.error({ tenantId: tenant.id, plugin: sc.plugin, slot, code: (err.details as { code?: string }).code }, 'plugin instance could not be created; slot disabled');
      throw err;
    }
    this.failures.delete(key);
    if (this.closed) { await entry.close(); throw new ServiceLaneError('PLG_ERR_SLOT_DISABLED', 'plugin registry is shutting down', { slot, reason: 'shutting down', code: 'PLG_ERR_SLOT_DISABLED' }); }
    this.entries.set(key, entry);
    return entry;
  }

  private disabled(slot: SlotName, pluginId: string, e: unknown): ServiceLaneError {
    const inner = isServiceLaneError(e) ? e : toCoreError(e, { pluginId, method: 'create' });
    if (inner.code === 'PLG_ERR_SLOT_DISABLED') return inner;
    return new ServiceLaneError('PLG_ERR_SLOT_DISABLED', `the ${slot} slot is disabled: ${inner.message}`, {
      slot, pluginId, reason: inner.message, code: inner.code, details: inner.details,
    }, { cause: inner });
  }

  /**
   * A plugin's context: its identity, a bound logger, egress under the platform policy, its own plugin_kv
   * namespace, clock and signal. No database handle and no platform secret; core's tenant data only for the
   * built-ins the composition root granted it to. `closers` receives what must be closed with the instance.
   */
  private buildContext(o: { tenantId: string; pluginId: string; timezone: string; signal: AbortSignal; closers: (() => Promise<void>)[]; onEgressRefused?: (e: EgressRefusedError) => void }): PluginContext {
    const { tenantId, pluginId } = o;
    const logger = this.o.logger.child({ tenantId, plugin: pluginId });
    const egress = createEgress({
      policy: this.o.egress,
      onRefused: (e) => {
        logger.warn({ code: e.code, destination: e.destination, reason: e.reason }, 'plugin egress refused by policy');
        o.onEgressRefused?.(e);
      },
    });
    o.closers.push(egress.close);
    const ctx: PluginContext = {
      tenantId, pluginId, timezone: o.timezone,
      logger,
      http: createPluginHttp({ pluginId, signal: o.signal, defaultTimeoutMs: this.o.httpTimeoutMs, fetch: egress.fetch }),
      egress: { fetch: egress.fetch, agents: egress.agents, check: egress.check },
      store: createTenantPluginStore({ tenantDb: (fn) => this.o.tenants.withTenant(tenantId, fn), pluginId, clock: this.clock }),
      clock: this.clock,
      signal: o.signal,
    };
    if (this.grantsTenantData(pluginId)) ctx.tenantData = this.o.tenantData!.forTenant(tenantId);
    return ctx;
  }

  private async create(tenant: Tenant, config: DealershipConfig, r: ResolvedPlugin, o: { signal: AbortSignal; closers: (() => Promise<void>)[] }): Promise<object> {
    const m = r.loaded.manifest;
    const ctx = this.buildContext({ tenantId: tenant.id, pluginId: m.id, timezone: config.timezone, signal: o.signal, closers: o.closers });
    const instance: unknown = await m.create(ctx, { settings: r.settings, credentials: r.credentials });
    const missing = missingMethods(m.kind, instance);
    if (missing.length) {
      await (instance as { close?: () => Promise<void> } | null)?.close?.().catch(() => undefined);
      throw new ServiceLaneError('PLG_ERR_SHAPE', `${m.id}.create() returned an instance without ${missing.join(', ')}`, { pluginId: m.id, missing });
    }
    return instance as object;
  }

  private wrap(tenantId: string, slot: SlotName, pluginId: string, instance: object): object {
    const res = this.o.resilience ?? {};
    return wrapInstance(instance, {
      pluginId, kind: slot, tenantId,
      timeoutMs: res.timeoutMs?.[slot] ?? DEFAULT_CALL_TIMEOUT_MS[slot],
      retry: res.retry ?? DEFAULT_RETRY,
      breaker: res.breaker ?? DEFAULT_BREAKER,
    });
  }

  private async build(tenant: Tenant, config: DealershipConfig, slot: SlotName, r: ResolvedSlot): Promise<Entry> {
    const controller = new AbortController();
    const closers: (() => Promise<void>)[] = [];
    const closeEgress = () => Promise.all(closers.map((c) => c())).then(() => undefined);
    let primary: object;
    try {
      primary = await this.create(tenant, config, r.primary, { signal: controller.signal, closers });
    } catch (e) {
      await closeEgress();
      throw e;
    }
    let secondary: object | null = null;
    if (r.fallback) {
      try {
        secondary = await this.create(tenant, config, r.fallback, { signal: controller.signal, closers });
      } catch (e) {
        controller.abort();
        await (primary as { close?: () => Promise<void> }).close?.().catch(() => undefined);
        await closeEgress();
        throw e;
      }
    }
    const base = { fingerprint: r.fingerprint, tenantRef: tenant, controller };
    const closeRaw = (x: object | null) => (x as { close?: () => Promise<void> } | null)?.close?.();
    if (!isRequestResponseKind(slot)) {
      return {
        ...base, instance: primary, fallback: secondary,
        close: async () => { await Promise.all([closeRaw(primary), closeRaw(secondary)]); await closeEgress(); },
      };
    }
    const wp = this.wrap(tenant.id, slot, r.primary.loaded.manifest.id, primary);
    const ws = secondary && r.fallback ? this.wrap(tenant.id, slot, r.fallback.loaded.manifest.id, secondary) : null;
    const logger = this.o.logger;
    const instance = ws ? fallbackInstance(wp, ws, {
      methods: FALLBACK_METHODS[slot],
      onFallback: (e, method) => logger.warn({ tenantId: tenant.id, slot, plugin: r.primary.loaded.manifest.id, method, err: (e as Error).message }, 'plugin call failed over to the fallback plugin'),
    }) : wp;
    return { ...base, instance, fallback: null, close: async () => { await (instance as { close: () => Promise<void> }).close(); await closeEgress(); } };
  }

  private async drop(key: string): Promise<void> {
    const e = this.entries.get(key);
    if (!e) return;
    this.entries.delete(key);
    e.controller.abort(new Error('plugin instance closed'));
    try {
      await e.close();
    } catch (err) {
      this.o.logger.warn({ key, err: (err as Error).message }, 'plugin instance close failed');
    }
  }

  // ---- status ----------------------------------------------------------------------------------

  /**
   * Every slot's state for the admin API (`GET /admin/v1/tenants/:id/plugins`), checked live (config,
   * credentials, last create failure) and persisted to platform.plugin_status.
   */
  async status(tenantId: string): Promise<SlotStatus[]> {
    const tenant = await this.o.tenants.get(tenantId);
    const out: SlotStatus[] = [];
    for (const slot of SLOT_NAMES) out.push(await this.slotStatus(tenant, slot));
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

  private async slotStatus(tenant: Tenant, slot: SlotName): Promise<SlotStatus> {
    const disabled = (pluginId: string | null, e: ServiceLaneError): SlotStatus => ({ slot, pluginId, state: 'disabled', error: { code: e.code, message: e.message, details: e.details } });
    if (!tenant.config) {
      const raw = (tenant.rawConfig as { plugins?: Record<string, { plugin?: unknown }> } | null)?.plugins?.[slot];
      if (!raw) return { slot, pluginId: null, state: 'unconfigured' };
      return disabled(typeof raw.plugin === 'string' ? raw.plugin : null, new ServiceLaneError('TEN_ERR_CONFIG_INVALID', 'tenant configuration is invalid', tenant.configErrors));
    }
    const sc = tenant.config.plugins[slot];
    if (!sc) return { slot, pluginId: null, state: 'unconfigured' };
    if (tenant.status === 'offboarded') return disabled(sc.plugin, new ServiceLaneError('TEN_ERR_OFFBOARDED', 'tenant is offboarded'));
    try {
      const r = await this.resolveSlot(tenant.id, tenant.config, slot);
      const failed = this.failures.get(`${tenant.id}/${slot}`);
      if (failed && failed.fingerprint === r.fingerprint) {
        const d = failed.error.details as { code?: string; reason?: string; details?: unknown };
        return { slot, pluginId: sc.plugin, state: 'disabled', error: { code: d.code ?? failed.error.code, message: d.reason ?? failed.error.message, details: d.details } };
      }
      return { slot, pluginId: sc.plugin, state: 'ok' };
    } catch (e) {
      return disabled(sc.plugin, isServiceLaneError(e) ? e : toCoreError(e, { pluginId: sc.plugin }));
    }
  }

  /**
   * Runs the plugin's `testConnection` (or, without one, creates the instance) within `testTimeoutMs`. Answers
   * `{ ok: false, error }` for a broken slot or a failed test; throws PLG_ERR_SLOT_DISABLED only when the slot
   * is not configured.
   */
  async testConnection(tenantId: string, slot: SlotName): Promise<TestConnectionResult> {
    const tenant = await this.o.tenants.getActive(tenantId);
    const sc = tenant.config?.plugins[slot];
    if (!tenant.config || !sc) {
      throw new ServiceLaneError('PLG_ERR_SLOT_DISABLED', `the ${slot} slot is not configured for this tenant`, { slot, pluginId: null, reason: tenant.config ? 'not configured' : 'tenant configuration invalid', code: tenant.config ? 'PLG_ERR_SLOT_DISABLED' : 'TEN_ERR_CONFIG_INVALID' });
    }
    const config = tenant.config;
    const started = performance.now();
    const result = (r: Omit<TestConnectionResult, 'slot' | 'pluginId' | 'latencyMs'>): TestConnectionResult => ({ slot, pluginId: sc.plugin, ...r, latencyMs: Math.round(performance.now() - started) });
    const failed = (e: unknown) => {
      const err = isServiceLaneError(e) ? e : toCoreError(e, { pluginId: sc.plugin, method: 'testConnection' });
      return result({ ok: false, error: { code: err.code, message: err.message, details: err.details } });
    };
    let r: ResolvedSlot;
    try {
      r = await this.resolveSlot(tenant.id, config, slot);
    } catch (e) {
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
      // A plugin may turn a refused destination into a plain `{ ok: false }`; the refusal still names the cause.
      let refused: EgressRefusedError | undefined;
      const closers: (() => Promise<void>)[] = [];
      const run = withTimeout((o: CallOptions) => test(
        this.buildContext({ tenantId: tenant.id, pluginId: m.id, timezone: config.timezone, signal: o.signal!, closers, onEgressRefused: (e) => { refused ??= e; } }),
        { settings: r.primary.settings, credentials: r.primary.credentials },
      ), { ms, name: `${m.id}.testConnection` });
      let res: { ok: boolean; detail?: string };
      try {
        res = await run({});
      } catch (e) {
        if (refused) throw refused;
        throw e;
      } finally {
        await Promise.all(closers.map((c) => c()));
      }
      if (!res.ok && refused) return failed(refused);
      return result({ ok: res.ok === true, detail: res.detail, ...(res.ok ? {} : { error: { code: 'PLG_ERR_CALL_FAILED', message: res.detail ?? `${m.id} connection test failed` } }) });
    } catch (e) {
      const inner = isServiceLaneError(e) && e.code === 'PLG_ERR_SLOT_DISABLED' && e.cause ? e.cause : e;
      return failed(inner);
    }
  }

  // ---- lifecycle -------------------------------------------------------------------------------

  /** Closes a tenant's instances (offboarding); the next `get` recreates them if the tenant is still active. */
  async closeTenant(tenantId: string): Promise<void> {
    const keys = [...this.entries.keys()].filter((k) => k.startsWith(`${tenantId}/`));
    await Promise.all(keys.map((k) => this.drop(k)));
    for (const k of [...this.failures.keys()]) if (k.startsWith(`${tenantId}/`)) this.failures.delete(k);
  }

  /** Closes every instance; later `get` calls fail with PLG_ERR_SLOT_DISABLED. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.pending.values()]);
    await Promise.all([...this.entries.keys()].map((k) => this.drop(k)));
  }
}

/** Convenience for the admin API: the first issue of `validateConfig` as a thrown coded error. */
export function assertPluginConfig(registry: PluginRegistry, config: DealershipConfig): void {
  const issues = registry.validateConfig(config);
  if (!issues.length) return;
  const first = issues[0]!;
  const code: ErrorCode = first.code;
  throw new ServiceLaneError(code, first.message, { errors: issues.map((i) => ({ slot: i.slot, code: i.code, path: i.details.path, message: i.message })) });
}
