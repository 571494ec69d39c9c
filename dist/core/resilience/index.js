/**
 * Cross-cutting behaviour around plugin calls, as wrappers (never base classes):
 * `withMetrics(withBreaker(withRetry(withTimeout(fn))))`, composed per method by {@link wrapInstance}.
 */
export { withTimeout } from './timeout.js';
export { withRetry, backoffDelay } from './retry.js';
export { withBreaker, createBreaker, countsAsBreakerFailure } from './breaker.js';
export { withFallback, shouldFallBack } from './fallback.js';
export { withMetrics, errorCategoryLabel } from './metrics.js';
export { toCoreError } from './core-error.js';
export { wrapInstance, fallbackInstance, breakerOf, isRequestResponseKind, REQUEST_RESPONSE_KINDS, STREAMING_KINDS, RETRY_SAFE_METHODS, FALLBACK_METHODS, DEFAULT_CALL_TIMEOUT_MS, DEFAULT_RETRY, DEFAULT_BREAKER, } from './wrap-instance.js';
export { callerCancelled } from './types.js';
//# sourceMappingURL=index.js.map