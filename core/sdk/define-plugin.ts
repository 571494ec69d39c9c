import type { JSONSchemaType } from 'ajv';
import type { Knex } from 'knex';
import type { CrmConnector } from './contracts/crm.js';
import type { CalendarProvider } from './contracts/calendar.js';
import type { LlmProvider, NotifyProvider, SttProvider, TelephonyProvider, TtsProvider, VehicleDecoder } from './contracts/voice.js';

/** The contract version per kind that this core speaks. A manifest with another value is refused (PLG_ERR_API_VERSION). */
export const API_VERSION = 1 as const;

/** Instance interface per plugin kind. */
export interface PluginKinds {
  crm: CrmConnector;
  calendar: CalendarProvider;
  stt: SttProvider;
  llm: LlmProvider;
  tts: TtsProvider;
  telephony: TelephonyProvider;
  notify: NotifyProvider;
  vehicle: VehicleDecoder;
}
export type PluginKind = keyof PluginKinds;
export const PLUGIN_KINDS: readonly PluginKind[] = ['crm', 'calendar', 'stt', 'llm', 'tts', 'telephony', 'notify', 'vehicle'];

/** Minimal structured logger bound to tenant and plugin. Put PII only under a `pii` key. */
export interface PluginLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** Namespaced key-value storage in the tenant's schema (plugin_kv), for tokens and sync cursors. */
export interface PluginStore {
  get<T = unknown>(key: string): Promise<T | undefined>;
  set(key: string, value: unknown, o?: { ttlSec?: number }): Promise<void>;
  delete(key: string): Promise<void>;
}

/** Runs `fn` in a transaction scoped to this tenant's schema (unqualified table names resolve there). */
export type TenantDb = <T>(fn: (trx: Knex.Transaction) => Promise<T>) => Promise<T>;

/**
 * A plugin's only door to core. Per-call data comes in method arguments, not here.
 */
export interface PluginContext {
  tenantId: string;
  pluginId: string;
  /** The dealership's IANA zone, for vendors that want local times. */
  timezone: string;
  logger: PluginLogger;
  /** fetch with a default timeout (`timeoutMs`, 10 s) that also honours `signal`. */
  http: (url: string | URL, init?: RequestInit & { timeoutMs?: number }) => Promise<Response>;
  store: PluginStore;
  /** Tenant-scoped database access, for first-party plugins whose data lives in the tenant schema. */
  tenantDb: TenantDb;
  clock: { now(): number };
  /** Aborted when the tenant's instance is closed (config change, offboarding, shutdown). */
  signal: AbortSignal;
  /** Platform-level endpoints and keys from the environment (URL overrides for tests, provider keys). */
  env: Readonly<Record<string, string | undefined>>;
}

/** What `create` and `testConnection` receive: validated settings and resolved credentials. */
export interface PluginConfig<S, C> { settings: S; credentials: C }

/**
 * A plugin manifest: a plain object, not a class.
 *
 * @remarks The registry loads a manifest through: shape → apiVersion → duplicate id → ajv on settings →
 * `validate()` → capability check → lazy `create()` once per tenant and config hash.
 *
 * @example
 * ```ts
 * export default definePlugin({
 *   id: 'crm-acme', kind: 'crm', version: '1.0.0', apiVersion: API_VERSION,
 *   settingsSchema: { type: 'object', properties: {}, additionalProperties: false },
 *   credentialsSchema: { type: 'object', properties: { apiKey: { type: 'string' } }, required: ['apiKey'] },
 *   capabilities: { vehicles: true },
 *   create: (ctx, { credentials }) => createAcmeCrm(ctx, credentials.apiKey),
 * });
 * ```
 */
export interface PluginManifest<K extends PluginKind = PluginKind, S = unknown, C = unknown> {
  /** `<kind>-<vendor>`, kebab-case; also the folder, config key and logger name. */
  id: string;
  kind: K;
  /** The plugin's own semver. */
  version: string;
  /** The contract version for `kind` this plugin implements; must equal {@link API_VERSION}. */
  apiVersion: number;
  description?: string;
  /** Non-secret per-dealership options (tenant JSON `plugins.<slot>.settings`). */
  settingsSchema: JSONSchemaType<S>;
  /** Secrets, stored encrypted and referenced by `credentialsRef`; `null` when the plugin needs none. */
  credentialsSchema?: JSONSchemaType<C> | null;
  capabilities: Readonly<Record<string, boolean | number | string | readonly string[]>>;
  /** Cross-field checks ajv can't express. Return messages (empty = ok). */
  validate?(settings: S): string[];
  /** A cheap authenticated call for the admin "test connection" button. */
  testConnection?(ctx: PluginContext, config: PluginConfig<S, C>): Promise<{ ok: boolean; detail?: string }>;
  /** Builds the instance. Must not start background work; open sockets lazily in methods. */
  create(ctx: PluginContext, config: PluginConfig<S, C>): PluginKinds[K] | Promise<PluginKinds[K]>;
}

/** Any manifest, for the registry. */
// The settings/credentials generics are erased once a manifest sits in a heterogeneous list.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyPluginManifest = PluginManifest<PluginKind, any, any>;

/** Identity helper that gives a manifest literal its types. */
export function definePlugin<K extends PluginKind, S, C = Record<string, never>>(m: PluginManifest<K, S, C>): PluginManifest<K, S, C> {
  return m;
}
