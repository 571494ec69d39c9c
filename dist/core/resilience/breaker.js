import CircuitBreaker from 'opossum';
import { isPluginError } from '../sdk/index.js';
import { isServiceLaneError, ServiceLaneError } from '../errors.js';
import { metrics } from '../observability/metrics.js';
import { withTimeout } from './timeout.js';
const COUNTED_CATEGORIES = new Set(['upstream', 'connectivity', 'timeout', 'rate_limit']);
/**
 * What counts toward opening: provider-side failures only. A not_found, a bad request or bad credentials say
 * nothing about the vendor's health, a caller abort (barge-in) is not a failure, and core errors are ours.
 * Errors that are neither PluginError nor core errors are a plugin bug and do count, so a crashing plugin
 * fails fast.
 */
export function countsAsBreakerFailure(e, o) {
    if (o?.signal?.aborted)
        return false;
    if (isPluginError(e))
        return e.retryable || COUNTED_CATEGORIES.has(e.category);
    return !isServiceLaneError(e);
}
/** Builds a named breaker (opossum 9) that fails fast with PLG_ERR_BREAKER_OPEN while open. */
export function createBreaker(opts) {
    const cb = new CircuitBreaker((thunk) => thunk(), {
        name: opts.name,
        // Timeouts are ours (withTimeout aborts the call's signal); opossum's timer can't stop the work.
        timeout: false,
        errorThresholdPercentage: opts.errorThresholdPercentage,
        resetTimeout: opts.resetTimeoutMs,
        volumeThreshold: opts.volumeThreshold,
        rollingCountTimeout: opts.rollingCountTimeoutMs ?? 10_000,
        enableSnapshots: false,
        // opossum passes fire()'s arguments after the error, (err, thunk, callOptions); @types/opossum omits them.
        errorFilter: ((err, _thunk, o) => !countsAsBreakerFailure(err, o)),
    });
    const label = { plugin: opts.metricLabel ?? opts.name };
    // The gauge counts open breakers per label, so several tenants' breakers for one plugin add up correctly.
    let counted = false;
    const setOpen = (open) => {
        if (open === counted)
            return;
        counted = open;
        if (open)
            metrics.breakerState.inc(label);
        else
            metrics.breakerState.dec(label);
    };
    cb.on('open', () => setOpen(true));
    cb.on('halfOpen', () => setOpen(false));
    cb.on('close', () => setOpen(false));
    return {
        name: opts.name,
        state: () => cb.isShutdown ? 'shutdown' : cb.opened ? 'open' : cb.halfOpen ? 'half_open' : 'closed',
        stats: () => {
            const s = cb.stats;
            return { fires: s.fires, failures: s.failures, rejects: s.rejects, successes: s.successes };
        },
        run: async (thunk, o) => {
            try {
                return (await cb.fire(thunk, o));
            }
            catch (e) {
                const code = e.code;
                if (code === 'EOPENBREAKER' && CircuitBreaker.isOurError(e)) {
                    throw new ServiceLaneError('PLG_ERR_BREAKER_OPEN', `${opts.name}: circuit open, call not attempted`, { breaker: opts.name });
                }
                if (code === 'ESHUTDOWN' && CircuitBreaker.isOurError(e)) {
                    throw new ServiceLaneError('PLG_ERR_SLOT_DISABLED', `${opts.name}: plugin instance was closed`, { breaker: opts.name, reason: 'instance closed' });
                }
                throw e;
            }
        },
        shutdown: () => { setOpen(false); cb.shutdown(); },
    };
}
/**
 * Guards `fn` with a circuit breaker. Pass options to get a breaker of its own, or an existing {@link Breaker}
 * to share one across the methods of a vendor. The returned function exposes `breaker` for state checks.
 *
 * @example
 * ```ts
 * const open = withBreaker((o: { signal?: AbortSignal }) => stt.open({ ...fmt, ...o, onEvent }), {
 *   name: 'stt-deepgram', timeoutMs: 3000, errorThresholdPercentage: 50, resetTimeoutMs: 30_000, volumeThreshold: 5,
 * });
 * ```
 */
export function withBreaker(fn, opts) {
    const breaker = 'run' in opts ? opts : createBreaker(opts);
    const timed = !('run' in opts) && opts.timeoutMs !== undefined ? withTimeout(fn, { ms: opts.timeoutMs, name: opts.name }) : fn;
    const guarded = (o) => breaker.run(() => timed(o), o);
    return Object.assign(guarded, { breaker });
}
//# sourceMappingURL=breaker.js.map