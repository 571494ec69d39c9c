import type { CallOptions } from '../sdk/index.js';

/** A plugin method as the wrappers see it: one options object (with an optional `signal`) in, a promise out. */
export type CallFn<O extends CallOptions, R> = (o: O) => Promise<R>;

/** True when the caller itself cancelled (barge-in, hang-up): not a provider failure, never retried or counted. */
export function callerCancelled(o: CallOptions | undefined): boolean {
  return o?.signal?.aborted === true;
}

/** The error a caller-side abort rejects with: the signal's reason, as `AbortSignal` semantics say. */
export function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('The operation was aborted', 'AbortError');
}
