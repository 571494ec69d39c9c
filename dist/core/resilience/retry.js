import { isPluginError } from '../sdk/index.js';
import { abortReason, callerCancelled } from './types.js';
/**
 * Full-jitter backoff (AWS architecture blog): uniform in [0, min(maxMs, baseMs·2^retry)). Spreading retries
 * over the whole window is what keeps a fleet of calls from hammering a recovering vendor in lockstep.
 * `retry` is 0 for the first retry.
 */
export function backoffDelay(retry, policy, random = Math.random) {
    const cap = Math.min(policy.maxMs, policy.baseMs * 2 ** retry);
    return Math.floor(random() * cap);
}
function sleep(ms, signal) {
    return new Promise((resolve, reject) => {
        if (signal?.aborted) {
            reject(abortReason(signal));
            return;
        }
        const onAbort = () => { clearTimeout(t); reject(abortReason(signal)); };
        const t = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, ms);
        signal?.addEventListener('abort', onAbort, { once: true });
    });
}
/**
 * Retries a call that failed with a retryable {@link PluginError} (rate_limit, connectivity, timeout, upstream,
 * or one the plugin marked `retryable`), with full-jitter backoff. Anything else (a permanent PluginError,
 * a core error, a caller abort) is rethrown at once. The caller's `signal` also cuts a backoff sleep short.
 *
 * @remarks Wrap only idempotent methods: a timed-out write may have happened.
 */
export function withRetry(fn, opts) {
    const attempts = Math.max(1, Math.floor(opts.attempts));
    return async (o) => {
        for (let attempt = 1;; attempt++) {
            try {
                return await fn(o);
            }
            catch (e) {
                if (attempt >= attempts || callerCancelled(o) || !isPluginError(e) || !e.retryable)
                    throw e;
                const delayMs = backoffDelay(attempt - 1, opts, opts.random);
                opts.onRetry?.(e, { retry: attempt, delayMs });
                await sleep(delayMs, o?.signal);
            }
        }
    };
}
//# sourceMappingURL=retry.js.map