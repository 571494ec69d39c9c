import type { PluginContext, PluginLogger, PluginStore } from '../define-plugin.js';
import { createPluginHttp } from '../http.js';
import { createEgress, parseEgressAllow, type EgressRefusedError } from '../egress.js';

/** One line a plugin logged through a test context. */
export interface LoggedLine { level: 'debug' | 'info' | 'warn' | 'error'; obj: Record<string, unknown>; msg?: string }

/** A {@link PluginContext} for tests, plus what it recorded and a way to fire `ctx.signal`. */
export interface TestContext extends PluginContext {
  /** Every line the plugin logged, for PII and noise checks. */
  readonly logs: LoggedLine[];
  /** Aborts `ctx.signal`, as core does when it unloads the instance, and closes the egress connection pools. */
  abort(reason?: unknown): void;
  /** Destinations the egress policy refused, in order (what core logs as "plugin egress refused"). */
  readonly refusals: EgressRefusedError[];
}

/** Options for {@link createTestContext}; everything but `pluginId` has a default. */
export interface TestContextOptions {
  pluginId: string;
  /** Default `t_conformance`. */
  tenantId?: string;
  /** Default `America/Los_Angeles`. */
  timezone?: string;
  /**
   * `PLUGIN_EGRESS_ALLOW` for this context. Default: loopback (`127.0.0.0/8`, `::1`), where test fakes listen,
   * allow-listed explicitly; pass `[]` to test that a plugin's requests are refused like in production.
   */
  egressAllow?: readonly string[];
  /** Refuse plain http, as production does. Default false (fakes speak http). */
  httpsOnly?: boolean;
  /** Replace any part of the context: `tenantData` for a built-in, a fixed `clock`, a `store` shared between runs. */
  overrides?: Partial<PluginContext>;
}

/** An in-memory `ctx.store` with the same TTL semantics as core's plugin_kv store. */
export function createMemoryStore(clock: { now(): number } = { now: () => Date.now() }): PluginStore {
  const m = new Map<string, { value: unknown; expiresAt: number | null }>();
  return {
    async get<T = unknown>(key: string): Promise<T | undefined> {
      const e = m.get(key);
      if (!e || (e.expiresAt !== null && e.expiresAt <= clock.now())) return undefined;
      return structuredClone(e.value) as T;
    },
    async set(key: string, value: unknown, o: { ttlSec?: number } = {}): Promise<void> {
      m.set(key, { value: structuredClone(value), expiresAt: o.ttlSec === undefined ? null : clock.now() + o.ttlSec * 1000 });
    },
    async delete(key: string): Promise<void> {
      m.delete(key);
    },
  };
}

/**
 * Builds the context core would give a plugin, for unit and conformance tests: `http` and `egress` are the
 * real timeout-and-signal wrapper over the egress policy (loopback allow-listed unless `egressAllow` says
 * otherwise), `store` is in memory, the logger records lines in `logs`. Like core's context it has no database
 * handle and no platform secrets: endpoints and keys come in the plugin's own settings and credentials.
 *
 * @example
 * ```ts
 * const ctx = createTestContext({ pluginId: 'crm-acme' });
 * const crm = await manifest.create(ctx, { settings: {}, credentials: { apiKey: 'k', baseUrl: fake.url } });
 * ```
 */
export function createTestContext(o: TestContextOptions): TestContext {
  const controller = new AbortController();
  const logs: LoggedLine[] = [];
  const line = (level: LoggedLine['level']) => (obj: object, msg?: string) => { logs.push({ level, obj: { ...obj } as Record<string, unknown>, msg }); };
  const logger: PluginLogger = { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') };
  const clock = o.overrides?.clock ?? { now: () => Date.now() };
  const signal = o.overrides?.signal ? AbortSignal.any([o.overrides.signal, controller.signal]) : controller.signal;
  const refusals: EgressRefusedError[] = [];
  const egress = createEgress({
    policy: { httpsOnly: o.httpsOnly ?? false, allow: parseEgressAllow(o.egressAllow ?? ['127.0.0.0/8', '::1']).allow },
    onRefused: (e) => { refusals.push(e); },
  });
  const ctx: PluginContext = {
    tenantId: 't_conformance',
    timezone: 'America/Los_Angeles',
    logger,
    http: createPluginHttp({ pluginId: o.pluginId, signal, fetch: egress.fetch }),
    egress: { fetch: egress.fetch, agents: egress.agents, check: egress.check },
    store: createMemoryStore(clock),
    ...o.overrides,
    ...(o.tenantId ? { tenantId: o.tenantId } : {}),
    ...(o.timezone ? { timezone: o.timezone } : {}),
    pluginId: o.pluginId,
    clock,
    signal,
  };
  const abort = (reason?: unknown) => {
    controller.abort(reason);
    egress.close().catch((e: unknown) => logger.warn({ err: (e as Error).message }, 'test context: closing egress pools failed'));
  };
  return Object.assign(ctx, { logs, refusals, abort });
}
