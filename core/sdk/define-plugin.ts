import type { JSONSchemaType } from 'ajv';
import type http from 'node:http';
import type https from 'node:https';
import type { CrmConnector } from './contracts/crm.js';
import type { CalendarProvider } from './contracts/calendar.js';
import type { LlmProvider, NotifyProvider, SttProvider, TelephonyProvider, TtsProvider, VehicleDecoder } from './contracts/voice.js';
import type { TenantData } from './contracts/tenant-data.js';

/** The contract version per kind that this core speaks. A manifest with another value is refused (PLG_ERR_API_VERSION). */
export const API_VERSION = 1 as const;

/**
 * Instance interface per plugin kind: what `create()` must return for a manifest of that `kind`.
 *
 * @remarks Request/response kinds (crm, calendar, vehicle, notify, telephony) are wrapped by core per method
 * (timeout, retry of idempotent reads, circuit breaker, metrics); streaming kinds (stt, llm, tts) are guarded
 * by the voice pipeline around session opens.
 */
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
/** A plugin kind, which is also the tenant config slot it fills (`plugins.<kind>`). */
export type PluginKind = keyof PluginKinds;
/** Every plugin kind, in the order the admin API lists slots. */
export const PLUGIN_KINDS: readonly PluginKind[] = ['crm', 'calendar', 'stt', 'llm', 'tts', 'telephony', 'notify', 'vehicle'];

/**
 * Minimal structured logger, already bound to tenant and plugin (a pino child in production).
 *
 * @remarks Names, phone numbers, e-mail addresses, VINs and transcripts go only under a `pii` key, which
 * production redacts; never in the message text. The conformance suites check this.
 *
 * @example
 * ```ts
 * ctx.logger.warn({ status: res.status, pii: { phone } }, 'people lookup failed');
 * ```
 */
export interface PluginLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/**
 * Namespaced key-value storage in the tenant's schema (plugin_kv), for tokens and sync cursors. Values are
 * JSON; `ttlSec` makes a key read as absent after that many seconds.
 *
 * @example
 * ```ts
 * await ctx.store.set('oauth:access', token, { ttlSec: 3300 });
 * const cached = await ctx.store.get<string>('oauth:access');
 * ```
 */
export interface PluginStore {
  get<T = unknown>(key: string): Promise<T | undefined>;
  set(key: string, value: unknown, o?: { ttlSec?: number }): Promise<void>;
  delete(key: string): Promise<void>;
}

/**
 * `ctx.http`: fetch under the platform's egress policy, with a per-request timeout (`timeoutMs`, default 10 s)
 * that also honours `signal`. Its shape is fetch's, so it can be handed to a vendor SDK's `fetch` option.
 */
export type PluginHttp = (input: string | URL | Request, init?: RequestInit & { timeoutMs?: number }) => Promise<Response>;

/**
 * The egress policy for vendor SDKs that open their own connections: Node agents for SDKs built on
 * `http`/`axios`/`ws`/`gaxios`, and a `check` for the few that take neither (see docs/plugins.md).
 *
 * @remarks The policy: https only in production; no loopback, private, CGNAT, link-local (cloud metadata) or
 * reserved destinations, checked on the address actually connected to, unless the operator allow-lists them
 * (`PLUGIN_EGRESS_ALLOW`). A refusal is an `EgressRefusedError` (a PluginError, category `forbidden`).
 *
 * @example
 * ```ts
 * const client = twilio(sid, token, { httpClient: requestClientUsing(ctx.egress.agents.https) });
 * await ctx.egress.check(wsUrl); // before an SDK that accepts no agent opens its WebSocket
 * ```
 */
export interface PluginEgress {
  /**
   * fetch under the policy without ctx.http's timeout or the instance's signal, for an SDK's `fetch` option:
   * the SDK keeps its own timeouts, and a live call's stream survives a config change that replaces the instance.
   */
  fetch: (input: string | URL | Request, init?: RequestInit) => Promise<Response>;
  agents: { http: http.Agent; https: https.Agent };
  /** Resolves and checks a URL; rejects with EgressRefusedError. Narrower than the agents: the SDK resolves again. */
  check(url: string | URL): Promise<void>;
}

/**
 * A plugin's only door to core, built by the registry once per tenant instance. Per-call data (caller,
 * call id, the call's `signal`) comes in method arguments, not here.
 *
 * @example
 * ```ts
 * create: (ctx, { credentials }) => ({
 *   async findCustomers(o) {
 *     const res = await ctx.http(`${credentials.baseUrl}/people?phone=${encodeURIComponent(o.phone ?? '')}`, { signal: o.signal });
 *     if (!res.ok) throw fromHttpStatus(res.status, 'people lookup failed', { provider: 'acme' });
 *     return mapPeople(await res.json());
 *   },
 *   // …
 * }),
 * ```
 */
export interface PluginContext {
  /** The dealership this instance serves. */
  tenantId: string;
  /** This plugin's id, as in its manifest. */
  pluginId: string;
  /** The dealership's IANA zone, for vendors that want local times. */
  timezone: string;
  /** Bound to `{ tenantId, plugin }`; PII only under `pii`. */
  logger: PluginLogger;
  /** fetch under the platform's egress policy, with a default timeout (`timeoutMs`, 10 s) that also honours `signal`. */
  http: PluginHttp;
  /** The same egress policy for vendor SDKs that open their own connections. */
  egress: PluginEgress;
  /** Key-value storage namespaced to this plugin and tenant. */
  store: PluginStore;
  /**
   * Tenant data through core's repositories. Present only for the first-party built-ins the composition root
   * grants it to (crm-builtin, calendar-builtin); undefined for every other plugin.
   */
  tenantData?: TenantData;
  /** Milliseconds since the epoch; tests substitute a fixed clock. */
  clock: { now(): number };
  /** Aborted when the tenant's instance is closed (config change, offboarding, shutdown). */
  signal: AbortSignal;
}

/**
 * What `create` and `testConnection` receive: settings validated against `settingsSchema` (defaults applied)
 * and credentials resolved from the tenant's encrypted store and validated against `credentialsSchema`.
 *
 * @remarks Without a `credentialsRef`, credentials are the platform operator's defaults for this plugin (e.g.
 * llm-openai's `apiKey` from OPENAI_API_KEY), or `{}`; the operator's endpoint settings (e.g. `baseUrl` from
 * OPENAI_BASE_URL) are merged under the tenant's settings, and pinned while the platform's key is in use, so a
 * platform key only ever travels to the platform's endpoint. A plugin never sees another plugin's keys.
 */
export interface PluginConfig<S, C> {
  settings: S;
  credentials: C;
}

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

/**
 * Any manifest, for heterogeneous lists (plugins/index.ts, the registry).
 *
 * @remarks The settings/credentials generics are erased here. The schemas are widened to `object` because
 * ajv's `JSONSchemaType<T>` is a conditional type: `JSONSchemaType<Settings>` is not assignable to
 * `JSONSchemaType<any>`, so a typed manifest could not otherwise sit in the list.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export interface AnyPluginManifest extends Omit<PluginManifest<PluginKind, any, any>, 'settingsSchema' | 'credentialsSchema'> {
  settingsSchema: object;
  credentialsSchema?: object | null;
}

/**
 * Identity helper that gives a manifest literal its types: `S` and `C` tie `settingsSchema` and
 * `credentialsSchema` (ajv `JSONSchemaType`) to what `create` receives, so schema and type can't drift.
 *
 * @example
 * ```ts
 * interface Settings { pageSize?: number }
 * interface Credentials { apiKey: string; baseUrl: string }
 * export default definePlugin<'crm', Settings, Credentials>({ id: 'crm-acme', kind: 'crm', … });
 * ```
 */
export function definePlugin<K extends PluginKind, S, C = Record<string, never>>(m: PluginManifest<K, S, C>): PluginManifest<K, S, C> {
  return m;
}
