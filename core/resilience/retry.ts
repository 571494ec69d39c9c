import { isPluginError, type CallOptions, type PluginError } from '../sdk/index.js';
import { abortReason, callerCancelled, type CallFn } from './types.js';

export interface RetryPolicy {
  /** Total tries, including the first (1 = no retry). */
  attempts: number;
  /** Backoff cap for the first retry; doubles per retry. */
  baseMs: number;
  /** Upper bound of any single delay. */
  maxMs: number;
}

/**
 * Full-jitter backoff (AWS architecture blog): uniform in [0, min(maxMs, baseMs·2^retry)). Spreading retries
 * over the whole window is what keeps a fleet of calls from hammering a recovering vendor in lockstep.
 * `retry` is 0 for the first retry.
 */
export function backoffDelay(retry: number, policy: Pick<RetryPolicy, 'baseMs' | 'maxMs'>, random: () => number = Math.random): number {
  const cap = Math.min(policy.maxMs, policy.baseMs * 2 ** retry);
  return Math.floor(random() * cap);
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) { reject(abortReason(signal)); return; }
    const onAbort = () => { clearTimeout(t); reject(abortReason(signal!)); };
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
export function withRetry<O extends CallOptions, R>(fn: CallFn<O, R>, opts: RetryPolicy & {
  random?: () => number;
  onRetry?: (e: PluginError, info: { retry: number; delayMs: number }) => void;
}): CallFn<O, R> {
  const attempts = Math.max(1, Math.floor(opts.attempts));
  return async (o: O) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn(o);
      } catch (e) {
        if (attempt >= attempts || callerCancelled(o) || !isPluginError(e) || !e.retryable) throw e;
        const delayMs = backoffDelay(attempt - 1, opts, opts.random);
        opts.onRetry?.(e, { retry: attempt, delayMs });
        await sleep(delayMs, o?.signal);
      }
    }
  };
}
