import { isPluginError } from '../sdk/index.js';
import { isServiceLaneError } from '../errors.js';
import { callerCancelled } from './types.js';
/** Request-shaped failures: the secondary would refuse the same request, so falling back only hides the bug. */
const NO_FALLBACK = new Set(['invalid_request', 'not_found', 'conflict']);
const FALLBACK_CODES = new Set(['PLG_ERR_BREAKER_OPEN', 'PLG_ERR_SLOT_DISABLED', 'PLG_ERR_TIMEOUT', 'PLG_ERR_CALL_FAILED']);
/**
 * Default rule for {@link withFallback}: move on when the provider is unavailable or unusable (breaker open,
 * retryable errors, auth/quota problems, unknown plugin failures), not when the request itself is wrong.
 */
export function shouldFallBack(e) {
    if (isServiceLaneError(e))
        return FALLBACK_CODES.has(e.code);
    if (isPluginError(e))
        return !NO_FALLBACK.has(e.category);
    return true;
}
/**
 * Tries each function in order until one succeeds. A caller abort, or an error `shouldFallBack` rejects,
 * stops at once; when every candidate fails, the last error is thrown.
 *
 * @example
 * ```ts
 * const getBusy = withFallback([google.getBusy.bind(google), builtin.getBusy.bind(builtin)]);
 * ```
 */
export function withFallback(fns, opts = {}) {
    if (fns.length === 0)
        throw new TypeError('withFallback needs at least one function');
    const decide = opts.shouldFallBack ?? shouldFallBack;
    return async (o) => {
        for (let i = 0;; i++) {
            try {
                return await fns[i](o);
            }
            catch (e) {
                if (i === fns.length - 1 || callerCancelled(o) || !decide(e))
                    throw e;
                opts.onFallback?.(e, { from: i, to: i + 1 });
            }
        }
    };
}
//# sourceMappingURL=fallback.js.map