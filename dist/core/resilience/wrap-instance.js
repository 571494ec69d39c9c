import { toPluginError } from '../sdk/index.js';
import { createBreaker } from './breaker.js';
import { withFallback } from './fallback.js';
import { withMetrics } from './metrics.js';
import { withRetry } from './retry.js';
import { withTimeout } from './timeout.js';
/** Kinds whose methods are one request, one answer: wrapped method by method. */
export const REQUEST_RESPONSE_KINDS = ['crm', 'calendar', 'vehicle', 'notify', 'telephony'];
/** Kinds that hold live sessions or streams; the voice pipeline guards session opens itself (withBreaker). */
export const STREAMING_KINDS = ['stt', 'llm', 'tts'];
export const isRequestResponseKind = (k) => REQUEST_RESPONSE_KINDS.includes(k);
/**
 * Methods that are safe to repeat after a timeout or a 5xx: reads, and writes the contract makes idempotent
 * (`createAppointment` carries an idempotency key; hang-up and number configuration are set-to-state).
 * Everything else (createCustomer, addVehicle, logInteraction, placeCall, transfer, send) runs once.
 */
export const RETRY_SAFE_METHODS = {
    crm: ['findCustomers', 'getCustomer', 'listVehicles', 'getServiceHistory'],
    calendar: ['getBusy', 'createAppointment', 'updateAppointment', 'cancelAppointment'],
    vehicle: ['decodeVin'],
    telephony: ['hangUp', 'configureNumber'],
    notify: [],
    stt: [], llm: [], tts: [],
};
/**
 * Methods a slot's fallback plugin may answer. Reads only (plus notifications): a write that fails at the
 * primary must fail visibly and be retried by its job, not "succeed" in a different system — a cancel that
 * lands in the built-in calendar while the Google event stays would be a silent mock.
 */
export const FALLBACK_METHODS = {
    crm: ['findCustomers', 'getCustomer', 'listVehicles', 'getServiceHistory'],
    calendar: ['getBusy'],
    vehicle: ['decodeVin'],
    telephony: [],
    notify: ['send'],
    stt: [], llm: [], tts: [],
};
/** Per-call budgets by kind. A caller on the phone waits for CRM and calendar answers, so these stay short. */
export const DEFAULT_CALL_TIMEOUT_MS = {
    crm: 5_000, calendar: 8_000, vehicle: 5_000, notify: 10_000, telephony: 10_000,
    stt: 5_000, llm: 10_000, tts: 5_000,
};
export const DEFAULT_RETRY = { attempts: 3, baseMs: 100, maxMs: 1_000 };
export const DEFAULT_BREAKER = { errorThresholdPercentage: 50, resetTimeoutMs: 30_000, volumeThreshold: 5 };
const breakers = new WeakMap();
/** The breaker {@link wrapInstance} put around an instance, for tests and the status view. */
export function breakerOf(wrapped) {
    return breakers.get(wrapped);
}
function methodNames(instance) {
    const names = new Set();
    for (let o = instance; o && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
        for (const k of Object.getOwnPropertyNames(o)) {
            if (k === 'constructor' || k === 'close')
                continue;
            if (typeof instance[k] === 'function')
                names.add(k);
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
export function wrapInstance(instance, o) {
    const breaker = o.breaker === false ? undefined : createBreaker({
        ...DEFAULT_BREAKER, ...o.breaker,
        name: o.tenantId ? `${o.pluginId}@${o.tenantId}` : o.pluginId,
        metricLabel: o.pluginId,
    });
    const retryable = new Set(o.retryMethods ?? RETRY_SAFE_METHODS[o.kind]);
    const retry = o.retry === false ? undefined : o.retry ?? DEFAULT_RETRY;
    const target = instance;
    const out = {};
    for (const name of methodNames(instance)) {
        const method = target[name];
        const call = async (a) => {
            try {
                return await method.call(instance, a);
            }
            catch (e) {
                throw toPluginError(e, o.pluginId);
            }
        };
        let fn = withTimeout(call, { ms: o.timeoutMs, name: `${o.pluginId}.${name}` });
        if (retry && retryable.has(name))
            fn = withRetry(fn, retry);
        const inner = fn;
        if (breaker)
            fn = (a) => breaker.run(() => inner(a), a);
        out[name] = withMetrics(fn, { plugin: o.pluginId, method: name });
    }
    const close = target.close;
    out.close = async () => {
        breaker?.shutdown();
        if (typeof close === 'function')
            await close.call(instance);
    };
    if (breaker)
        breakers.set(out, breaker);
    return out;
}
/**
 * Composes two wrapped instances of one kind: each method tries `primary`, then `secondary` when
 * {@link shouldFallBack} allows (breaker open, outage, bad credentials), e.g. a Google calendar backed by the
 * built-in one. `close()` closes both; `breakerOf()` reports the primary's breaker.
 */
export function fallbackInstance(primary, secondary, opts = {}) {
    const p = primary;
    const s = secondary;
    const out = {};
    for (const name of methodNames(primary)) {
        const pm = p[name].bind(primary);
        const allowed = !opts.methods || opts.methods.includes(name);
        const sm = allowed && typeof s[name] === 'function' ? s[name].bind(secondary) : undefined;
        out[name] = sm ? withFallback([pm, sm], { onFallback: (e) => opts.onFallback?.(e, name) }) : pm;
    }
    out.close = async () => {
        const results = await Promise.allSettled([p.close?.call(primary), s.close?.call(secondary)]);
        const failed = results.find((r) => r.status === 'rejected');
        if (failed)
            throw failed.reason;
    };
    const b = breakers.get(primary);
    if (b)
        breakers.set(out, b);
    return out;
}
//# sourceMappingURL=wrap-instance.js.map