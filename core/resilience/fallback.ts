import { isPluginError, type CallOptions, type ErrorCategory } from '../sdk/index.js';
import { isServiceLaneError } from '../errors.js';
import { callerCancelled, type CallFn } from './types.js';

/** Request-shaped failures: the secondary would refuse the same request, so falling back only hides the bug. */
const NO_FALLBACK: ReadonlySet<ErrorCategory> = new Set(['invalid_request', 'not_found', 'conflict']);
const FALLBACK_CODES: ReadonlySet<string> = new Set(['PLG_ERR_BREAKER_OPEN', 'PLG_ERR_SLOT_DISABLED', 'PLG_ERR_TIMEOUT', 'PLG_ERR_CALL_FAILED']);

/**
 * Default rule for {@link withFallback}: move on when the provider is unavailable or unusable (breaker open,
 * retryable errors, auth/quota problems, unknown plugin failures), not when the request itself is wrong.
 */
export function shouldFallBack(e: unknown): boolean {
  if (isServiceLaneError(e)) return FALLBACK_CODES.has(e.code);
  if (isPluginError(e)) return !NO_FALLBACK.has(e.category);
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
export function withFallback<O extends CallOptions, R>(fns: readonly CallFn<O, R>[], opts: {
  shouldFallBack?: (e: unknown) => boolean;
  onFallback?: (e: unknown, info: { from: number; to: number }) => void;
} = {}): CallFn<O, R> {
  if (fns.length === 0) throw new TypeError('withFallback needs at least one function');
  const decide = opts.shouldFallBack ?? shouldFallBack;
  return async (o: O) => {
    for (let i = 0; ; i++) {
      try {
        return await fns[i]!(o);
      } catch (e) {
        if (i === fns.length - 1 || callerCancelled(o) || !decide(e)) throw e;
        opts.onFallback?.(e, { from: i, to: i + 1 });
      }
    }
  };
}
