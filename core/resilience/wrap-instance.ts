import { toPluginError, type CallOptions, type PluginKind } from '../sdk/index.js';
import { createBreaker, type Breaker, type BreakerOptions } from './breaker.js';
import { withFallback } from './fallback.js';
import { withMetrics } from './metrics.js';
import { withRetry, type RetryPolicy } from './retry.js';
import { withTimeout } from './timeout.js';
import type { CallFn } from './types.js';

/** Kinds whose methods are one request, one answer: wrapped method by method. */
export const REQUEST_RESPONSE_KINDS: readonly PluginKind[] = ['crm', 'calendar', 'vehicle', 'notify', 'telephony'];
/** Kinds that hold live sessions or streams; the voice pipeline guards session opens itself (withBreaker). */
export const STREAMING_KINDS: readonly PluginKind[] = ['stt', 'llm', 'tts'];

export const isRequestResponseKind = (k: PluginKind): boolean => REQUEST_RESPONSE_KINDS.includes(k);

/**
 * Methods that are safe to repeat after a timeout or a 5xx: reads, and writes the contract makes idempotent
 * (`createAppointment` carries an idempotency key; hang-up and number configuration are set-to-state).
 * Everything else (createCustomer, addVehicle, logInteraction, placeCall, transfer, send) runs once.
 */
export const RETRY_SAFE_METHODS: Readonly<Record<PluginKind, readonly string[]>> = {
  crm: ['findCustomers', 'getCustomer', 'listVehicles', 'getServiceHistory'],
  calendar: ['getBusy', 'createAppointment', 'updateAppointment', 'cancelAppointment'],
  vehicle: ['decodeVin'],
  telephony: ['hangUp', 'configureNumber', 'findCalls'],
  notify: [],
  stt: [], llm: [], tts: [],
};

/**
 * Methods a slot's fallback plugin may answer. Reads only (plus notifications): a write that fails at the
 * primary must fail visibly and be retried by its job, not "succeed" in a different system — a cancel that
 * lands in the built-in calendar while the Google event stays would be a silent mock.
 */
export const FALLBACK_METHODS: Readonly<Record<PluginKind, readonly string[]>> = {
  crm: ['findCustomers', 'getCustomer', 'listVehicles', 'getServiceHistory'],
  calendar: ['getBusy'],
  vehicle: ['decodeVin'],
  telephony: [],
  notify: ['send'],
  stt: [], llm: [], tts: [],
};

/** Per-call budgets by kind. A caller on the phone waits for CRM and calendar answers, so these stay short. */
export const DEFAULT_CALL_TIMEOUT_MS: Readonly<Record<PluginKind, number>> = {
  crm: 5_000, calendar: 8_000, vehicle: 5_000, notify: 10_000, telephony: 10_000,
  stt: 5_000, llm: 10_000, tts: 5_000,
};

export const DEFAULT_RETRY: RetryPolicy = { attempts: 3, baseMs: 100, maxMs: 1_000 };
export const DEFAULT_BREAKER: Omit<BreakerOptions, 'name'> = { errorThresholdPercentage: 50, resetTimeoutMs: 30_000, volumeThreshold: 5 };

export interface WrapOptions {
  pluginId: string;
  kind: PluginKind;
  /** Names the breaker `<pluginId>@<tenantId>` so each tenant's vendor account trips on its own. */
  tenantId?: string;
  /** Budget per attempt. */
  timeoutMs: number;
  /** `false` disables retries. */
  retry?: RetryPolicy | false;
  /** Overrides {@link RETRY_SAFE_METHODS} for this kind. */
  retryMethods?: readonly string[];
  /** One breaker shared by all methods of the instance; `false` disables it. */
  breaker?: Omit<BreakerOptions, 'name' | 'timeoutMs' | 'metricLabel'> | false;
}

const breakers = new WeakMap<object, Breaker>();

/** The breaker {@link wrapInstance} put around an instance, for tests and the status view. */
export function breakerOf(wrapped: object): Breaker | undefined {
  return breakers.get(wrapped);
}

function methodNames(instance: object): string[] {
  const names = new Set<string>();
  for (let o: object | null = instance; o && o !== Object.prototype; o = Object.getPrototypeOf(o) as object | null) {
    for (const k of Object.getOwnPropertyNames(o)) {
      if (k === 'constructor' || k === 'close') continue;
      if (typeof (instance as Record<string, unknown>)[k] === 'function') names.add(k);
    }
  }
  return [...names];
}

/**
 * Returns a copy of a request/response plugin instance whose every method is
 * `withMetrics(breaker(withRetry?(withTimeout(method))))`:
 * - any non-PluginError the method throws is classified with `toPluginError` first;
 * - each attempt gets `timeoutMs`, aborting the call's `signal` (combined with the caller's);
 * - only {@link RETRY_SAFE_METHODS} retry, only on retryable errors, with full-jitter backoff;
 * - one breaker per instance counts provider failures only and rejects with PLG_ERR_BREAKER_OPEN while open;
 * - `close()` shuts the breaker and closes the instance.
 */
export function wrapInstance<T extends object>(instance: T, o: WrapOptions): T {
  const breaker = o.breaker === false ? undefined : createBreaker({
    ...DEFAULT_BREAKER, ...o.breaker,
    name: o.tenantId ? `${o.pluginId}@${o.tenantId}` : o.pluginId,
    metricLabel: o.pluginId,
  });
  const retryable = new Set(o.retryMethods ?? RETRY_SAFE_METHODS[o.kind]);
  const retry = o.retry === false ? undefined : o.retry ?? DEFAULT_RETRY;
  const target = instance as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const name of methodNames(instance)) {
    const method = target[name] as (a: CallOptions) => unknown;
    const call: CallFn<CallOptions, unknown> = async (a) => {
      try {
        return await method.call(instance, a);
      } catch (e) {
        throw toPluginError(e, o.pluginId);
      }
    };
    let fn = withTimeout(call, { ms: o.timeoutMs, name: `${o.pluginId}.${name}` });
    if (retry && retryable.has(name)) fn = withRetry(fn, retry);
    const inner = fn;
    if (breaker) fn = (a) => breaker.run(() => inner(a), a);
    out[name] = withMetrics(fn, { plugin: o.pluginId, method: name });
  }
  const close = target.close as (() => Promise<void>) | undefined;
  out.close = async () => {
    breaker?.shutdown();
    if (typeof close === 'function') await close.call(instance);
  };
  if (breaker) breakers.set(out, breaker);
  return out as T;
}

/**
 * Composes two wrapped instances of one kind: each method tries `primary`, then `secondary` when
 * {@link shouldFallBack} allows (breaker open, outage, bad credentials), e.g. a Google calendar backed by the
 * built-in one. `close()` closes both; `breakerOf()` reports the primary's breaker.
 */
export function fallbackInstance<T extends object>(primary: T, secondary: T, opts: { onFallback?: (e: unknown, method: string) => void; methods?: readonly string[] } = {}): T {
  const p = primary as Record<string, unknown>;
  const s = secondary as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const name of methodNames(primary)) {
    const pm = (p[name] as CallFn<CallOptions, unknown>).bind(primary);
    const allowed = !opts.methods || opts.methods.includes(name);
    const sm = allowed && typeof s[name] === 'function' ? (s[name] as CallFn<CallOptions, unknown>).bind(secondary) : undefined;
    out[name] = sm ? withFallback([pm, sm], { onFallback: (e) => opts.onFallback?.(e, name) }) : pm;
  }
  out.close = async () => {
    const results = await Promise.allSettled([(p.close as (() => Promise<void>) | undefined)?.call(primary), (s.close as (() => Promise<void>) | undefined)?.call(secondary)]);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  };
  const b = breakers.get(primary);
  if (b) breakers.set(out, b);
  return out as T;
}
