import { PluginError } from '../sdk/index.js';
import { abortReason } from './types.js';
/**
 * Gives each call a time budget. On expiry the call's `signal` is aborted (so the plugin's fetch or socket
 * stops) and the caller gets `PluginError('timeout')`, which is retryable. The caller's own signal is combined
 * with the timer via `AbortSignal.any`; if the caller aborts first, the call rejects with the caller's reason.
 */
export function withTimeout(fn, opts) {
    return (o) => {
        const caller = o?.signal;
        if (caller?.aborted)
            return Promise.reject(abortReason(caller));
        const ctl = new AbortController();
        const signal = caller ? AbortSignal.any([caller, ctl.signal]) : ctl.signal;
        return new Promise((resolve, reject) => {
            const onCallerAbort = () => { clearTimeout(timer); reject(abortReason(caller)); };
            const timer = setTimeout(() => {
                const err = new PluginError('timeout', `${opts.name} exceeded its ${opts.ms} ms budget`);
                caller?.removeEventListener('abort', onCallerAbort);
                ctl.abort(err);
                reject(err);
            }, opts.ms);
            caller?.addEventListener('abort', onCallerAbort, { once: true });
            let p;
            try {
                p = fn({ ...o, signal });
            }
            catch (e) {
                p = Promise.reject(e);
            }
            // Settling twice is a no-op, so a late result after a timeout or caller abort is dropped here.
            p.then(resolve, reject).finally(() => {
                clearTimeout(timer);
                caller?.removeEventListener('abort', onCallerAbort);
            });
        });
    };
}
//# sourceMappingURL=timeout.js.map