/**
 * A real PluginContext for plugin tests, built on a running test platform the way the registry builds one:
 * egress through the platform policy (loopback allow-listed here explicitly, where the fakes listen), store on
 * plugin_kv (the registry's own store), and core's tenant repositories only when `tenantData` is asked for
 * (the registry grants them to the built-ins alone). No database handle, no platform env.
 */
import type { PluginContext, PluginLogger } from '../../core/sdk/index.js';
import { createTenantPluginStore } from '../../core/registry/plugin-store.js';
import { createPluginHttp } from '../../core/sdk/http.js';
import { createEgress, parseEgressAllow, type EgressRefusedError } from '../../core/sdk/egress.js';
import { createTenantData } from '../../core/repos/index.js';
import type { Platform } from '../../core/app.js';

export interface LogLine { level: 'debug' | 'info' | 'warn' | 'error'; obj: object; msg?: string }

export interface TestPluginContext extends PluginContext {
  /** Every line the plugin logged, for assertions that PII stayed under `pii`. */
  logs: LogLine[];
  /** Destinations the egress policy refused. */
  refusals: EgressRefusedError[];
  /** Aborts ctx.signal, as the registry does when it closes the instance. */
  close(): void;
}

function memoryLogger(lines: LogLine[]): PluginLogger {
  const at = (level: LogLine['level']) => (obj: object, msg?: string): void => { lines.push({ level, obj, msg }); };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

export function createPluginTestContext(o: {
  p: Platform; tenantId: string; pluginId: string; timezone?: string;
  clock?: { now(): number }; defaultTimeoutMs?: number;
  /** PLUGIN_EGRESS_ALLOW for this context; default loopback. */
  egressAllow?: string[];
  /** Grant core's tenant repositories (crm-builtin, calendar-builtin). */
  tenantData?: boolean;
}): TestPluginContext {
  const logs: LogLine[] = [];
  const refusals: EgressRefusedError[] = [];
  const clock = o.clock ?? { now: () => Date.now() };
  const closer = new AbortController();
  const scope: Parameters<typeof createTenantData>[0] = (fn) => o.p.tenants.withTenant(o.tenantId, fn);
  const egress = createEgress({
    policy: { httpsOnly: false, allow: parseEgressAllow(o.egressAllow ?? ['127.0.0.0/8', '::1']).allow },
    onRefused: (e) => { refusals.push(e); },
  });
  return {
    tenantId: o.tenantId,
    pluginId: o.pluginId,
    timezone: o.timezone ?? 'America/Los_Angeles',
    logger: memoryLogger(logs),
    http: createPluginHttp({ pluginId: o.pluginId, signal: closer.signal, defaultTimeoutMs: o.defaultTimeoutMs, fetch: egress.fetch }),
    egress: { fetch: egress.fetch, agents: egress.agents, check: egress.check },
    store: createTenantPluginStore({ tenantDb: scope, pluginId: o.pluginId, clock }),
    ...(o.tenantData ? { tenantData: createTenantData(scope) } : {}),
    clock,
    signal: closer.signal,
    logs,
    refusals,
    close: () => { closer.abort(); void egress.close(); },
  };
}
