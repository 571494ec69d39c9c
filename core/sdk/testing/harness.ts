import type { PluginContext } from '../define-plugin.js';
import type { ErrorCategory } from '../errors.js';

/** A vendor failure a harness can switch on in its fake: every request fails that way until cleared. */
export type VendorFault = 'auth' | 'rate_limit' | 'upstream' | 'timeout';

/** The PluginError each fault must surface as. */
export const FAULT_EXPECTATIONS: Readonly<Record<VendorFault, { category: ErrorCategory; retryable: boolean }>> = {
  auth: { category: 'auth', retryable: false },
  rate_limit: { category: 'rate_limit', retryable: true },
  upstream: { category: 'upstream', retryable: true },
  timeout: { category: 'timeout', retryable: true },
};

/**
 * Fault switches for a fake vendor: `auth` answers 401, `rate_limit` 429, `upstream` 5xx, `timeout` never
 * answers (the suite aborts the call's signal). A plugin with no vendor (backed by the tenant DB) has none.
 */
export interface FaultHooks {
  supported: readonly VendorFault[];
  set(fault: VendorFault): void | Promise<void>;
  clear(): void | Promise<void>;
}

/** What `setup()` returns: context overrides, kind fixtures known only once the fake runs, fault switches, cleanup. */
export interface HarnessSetup<F = Record<string, unknown>> {
  /** Merged into the test context, e.g. `tenantData` for a built-in backed by the tenant schema. */
  ctxOverrides?: Partial<PluginContext>;
  /** Replace the harness's static settings/credentials with values known only now (e.g. `{ baseUrl: fake.url }`). */
  settings?: unknown;
  credentials?: unknown;
  fixtures?: Partial<F>;
  faults?: FaultHooks;
  cleanup(): Promise<void>;
}

/**
 * How a test runs one plugin through its kind's suite: the settings and credentials to create it with, and a
 * `setup()` that starts whatever backs it (a fake vendor server, a tenant database) and says how to reach it.
 *
 * @example
 * ```ts
 * describeCrmConnector(crmAcme, {
 *   settings: {}, credentials: { apiKey: 'test-key', baseUrl: 'http://127.0.0.1:9' },
 *   async setup() {
 *     const fake = await startFakeAcme();
 *     return { credentials: { apiKey: 'test-key', baseUrl: fake.url }, faults: fakeFaults(fake), cleanup: () => fake.close() };
 *   },
 * });
 * ```
 */
export interface ConformanceHarness<F = Record<string, unknown>> {
  settings: unknown;
  credentials: unknown;
  /** Kind-specific fixtures (see each suite's `*Fixtures` type); setup's fixtures win. */
  fixtures?: Partial<F>;
  setup(): Promise<HarnessSetup<F>>;
}
