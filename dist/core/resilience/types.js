/** True when the caller itself cancelled (barge-in, hang-up): not a provider failure, never retried or counted. */
export function callerCancelled(o) {
    return o?.signal?.aborted === true;
}
/** The error a caller-side abort rejects with: the signal's reason, as `AbortSignal` semantics say. */
export function abortReason(signal) {
    return signal.reason ?? new DOMException('The operation was aborted', 'AbortError');
}
//# sourceMappingURL=types.js.map