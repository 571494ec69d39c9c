/**
 * A real PluginContext for plugin tests, built on a running test platform: tenantDb through the tenant service,
 * store on plugin_kv (the registry's own store), http = global fetch with a timeout. Temporary until
 * core/sdk/testing exports createTestContext; keep it a thin composition of core pieces.
 */
import type { PluginContext, PluginLogger } from '../../core/sdk/index.js';
import { createTenantPluginStore } from '../../core/registry/plugin-store.js';
import type { Platform } from '../../core/app.js';

export interface LogLine { level: 'debug' | 'info' | 'warn' | 'error'; obj: object; msg?: string }

export interface TestPluginContext extends PluginContext {
  /** Every line the plugin logged, for assertions that PII stayed under `pii`. */
  logs: LogLine[];
  /** Aborts ctx.signal, as the registry does when it closes the instance. */
  close(): void;
}

function memoryLogger(lines: LogLine[]): PluginLogger {
  const at = (level: LogLine['level']) => (obj: object, msg?: string): void => { lines.push({ level, obj, msg }); };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

export function createPluginTestContext(o: {
  p: Platform; tenantId: string; pluginId: string; timezone?: string;
  env?: Record<string, string | undefined>; clock?: { now(): number }; defaultTimeoutMs?: number;
}): TestPluginContext {
  const logs: LogLine[] = [];
  const clock = o.clock ?? { now: () => Date.now() };
  const closer = new AbortController();
  const tenantDb: PluginContext['tenantDb'] = (fn) => o.p.tenants.withTenant(o.tenantId, fn);
  return {
    tenantId: o.tenantId,
    pluginId: o.pluginId,
    timezone: o.timezone ?? 'America/Los_Angeles',
    logger: memoryLogger(logs),
    http: (url, init = {}) => {
      const { timeoutMs, signal, ...rest } = init;
      const signals = [AbortSignal.timeout(timeoutMs ?? o.defaultTimeoutMs ?? 10_000), closer.signal];
      if (signal) signals.push(signal);
      return fetch(url, { ...rest, signal: AbortSignal.any(signals) });
    },
    store: createTenantPluginStore({ tenantDb, pluginId: o.pluginId, clock }),
    tenantDb,
    clock,
    signal: closer.signal,
    env: Object.freeze({ ...(o.env ?? {}) }),
    logs,
    close: () => closer.abort(),
  };
}
