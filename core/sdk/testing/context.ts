import type { PluginContext, PluginLogger, PluginStore, TenantDb } from '../define-plugin.js';
import { createPluginHttp } from '../http.js';

/** One line a plugin logged through a test context. */
export interface LoggedLine { level: 'debug' | 'info' | 'warn' | 'error'; obj: Record<string, unknown>; msg?: string }

/** A {@link PluginContext} for tests, plus what it recorded and a way to fire `ctx.signal`. */
export interface TestContext extends PluginContext {
  /** Every line the plugin logged, for PII and noise checks. */
  readonly logs: LoggedLine[];
  /** Aborts `ctx.signal`, as core does when it unloads the instance. */
  abort(reason?: unknown): void;
}

/** Options for {@link createTestContext}; everything but `pluginId` has a default. */
export interface TestContextOptions {
  pluginId: string;
  /** Default `t_conformance`. */
  tenantId?: string;
  /** Default `America/Los_Angeles`. */
  timezone?: string;
  /** `ctx.env`: the platform env the plugin reads URL overrides and platform keys from. */
  env?: Record<string, string | undefined>;
  /** Replace any part of the context: a real `tenantDb`, a fixed `clock`, a `store` shared between runs. */
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
 * Builds the context core would give a plugin, for unit and conformance tests: `http` is the real
 * timeout-and-signal fetch wrapper, `store` is in memory, the logger records lines in `logs`, and
 * `tenantDb` fails loudly unless the test supplies one (first-party plugins backed by the tenant schema do).
 *
 * @example
 * ```ts
 * const ctx = createTestContext({ pluginId: 'crm-acme', env: { ACME_BASE_URL: fake.url } });
 * const crm = await manifest.create(ctx, { settings: {}, credentials: { apiKey: 'k' } });
 * ```
 */
export function createTestContext(o: TestContextOptions): TestContext {
  const controller = new AbortController();
  const logs: LoggedLine[] = [];
  const line = (level: LoggedLine['level']) => (obj: object, msg?: string) => { logs.push({ level, obj: { ...obj } as Record<string, unknown>, msg }); };
  const logger: PluginLogger = { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') };
  const clock = o.overrides?.clock ?? { now: () => Date.now() };
  const signal = o.overrides?.signal ? AbortSignal.any([o.overrides.signal, controller.signal]) : controller.signal;
  const noDb: TenantDb = () => Promise.reject(new Error(`${o.pluginId}: this test context has no tenant database; pass overrides.tenantDb`));
  const ctx: PluginContext = {
    tenantId: 't_conformance',
    timezone: 'America/Los_Angeles',
    logger,
    http: createPluginHttp({ pluginId: o.pluginId, signal }),
    store: createMemoryStore(clock),
    tenantDb: noDb,
    env: Object.freeze({ ...o.env }),
    ...o.overrides,
    ...(o.tenantId ? { tenantId: o.tenantId } : {}),
    ...(o.timezone ? { timezone: o.timezone } : {}),
    pluginId: o.pluginId,
    clock,
    signal,
  };
  return Object.assign(ctx, { logs, abort: (reason?: unknown) => controller.abort(reason) });
}
