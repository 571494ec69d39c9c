import { createBreaker, DEFAULT_BREAKER, withTimeout } from '../resilience/index.js';
import { isPluginError, PluginError } from '../sdk/index.js';
import { isServiceLaneError } from '../errors.js';
export const DEFAULT_BUDGETS = { sttOpenMs: 3000, ttsOpenMs: 3000, synthMs: 5000, llmFirstTokenMs: 8000, llmStallMs: 5000 };
const AUDIO = { encoding: 'mulaw', sampleRateHz: 8000 };
/**
 * Streaming kinds aren't wrapped per method by the registry, so voice guards the parts that can be: session
 * opens, one-shot synthesis and the LLM's first token, each through one breaker per tenant and plugin.
 */
export class ProviderGuards {
    budgets;
    breakers = new Map();
    constructor(budgets = DEFAULT_BUDGETS) {
        this.budgets = budgets;
    }
    breaker(tenantId, slot, pluginId) {
        const key = `${tenantId}|${slot}|${pluginId}`;
        let b = this.breakers.get(key);
        if (!b) {
            b = createBreaker({ ...DEFAULT_BREAKER, name: `${pluginId}@${tenantId}`, metricLabel: pluginId });
            this.breakers.set(key, b);
        }
        return b;
    }
    openStt(o) {
        const open = withTimeout((a) => o.stt.open({ ...AUDIO, ...a, language: o.language, onEvent: o.onEvent }), { ms: this.budgets.sttOpenMs, name: 'stt.open' });
        return o.breaker.run(() => open({ signal: o.signal }), { signal: o.signal });
    }
    openTts(o) {
        const open = withTimeout((a) => o.tts.open({ ...AUDIO, ...a, voice: o.voice, onAudio: o.onAudio, onFlushed: o.onFlushed, onError: o.onError }), { ms: this.budgets.ttsOpenMs, name: 'tts.open' });
        return o.breaker.run(() => open({ signal: o.signal }), { signal: o.signal });
    }
    synthesize(o) {
        const synth = withTimeout((a) => o.tts.synthesize({ ...AUDIO, ...a, text: o.text, voice: o.voice }), { ms: this.budgets.synthMs, name: 'tts.synthesize' });
        return o.breaker.run(() => synth({ signal: o.signal }), { signal: o.signal });
    }
    /** An LLM stream with a breaker and budgets: see {@link guardLlm}. */
    llm(o) {
        return guardLlm({ generate: (a) => o.llm.generate(a), breaker: o.breaker, firstTokenMs: this.budgets.llmFirstTokenMs, stallMs: this.budgets.llmStallMs });
    }
}
/** Resolves `p`, or rejects with a timeout PluginError after `ms` and calls `onTimeout` (to abort the work). */
function deadline(p, ms, what, onTimeout) {
    return new Promise((resolve, reject) => {
        const t = setTimeout(() => {
            const e = new PluginError('timeout', `${what} exceeded ${ms} ms`);
            onTimeout(e);
            reject(e);
        }, ms);
        p.then((v) => { clearTimeout(t); resolve(v); }, (e) => { clearTimeout(t); reject(e); });
    });
}
function retryable(e) {
    if (isServiceLaneError(e))
        return false; // breaker open, slot disabled: don't hammer
    return isPluginError(e) && e.retryable;
}
/**
 * Guards a streamed generation: the first delta must come within `firstTokenMs` (through the breaker, so
 * failures and stalls there count), later deltas within `stallMs` of each other. A retryable failure before
 * the first delta is retried once (a 5xx or a dropped connection usually is transient). The caller's abort
 * ends the stream quietly.
 */
export function guardLlm(o) {
    return (args) => ({
        async *[Symbol.asyncIterator]() {
            const retries = o.retries ?? 1;
            for (let attempt = 0;; attempt++) {
                const ac = new AbortController();
                const signal = AbortSignal.any([args.signal, ac.signal]);
                const it = o.generate({ ...args, signal })[Symbol.asyncIterator]();
                let first;
                try {
                    const next = () => deadline(it.next(), o.firstTokenMs, 'llm first token', (e) => ac.abort(e));
                    first = o.breaker ? await o.breaker.run(next, { signal: args.signal }) : await next();
                }
                catch (e) {
                    ac.abort();
                    if (args.signal.aborted)
                        return;
                    if (attempt < retries && retryable(e))
                        continue;
                    throw e;
                }
                try {
                    let r = first;
                    while (!r.done) {
                        yield r.value;
                        if (args.signal.aborted)
                            return;
                        r = await deadline(it.next(), o.stallMs, 'llm stream stall', (e) => ac.abort(e));
                    }
                    return;
                }
                catch (e) {
                    if (args.signal.aborted)
                        return;
                    throw e;
                }
                finally {
                    ac.abort();
                    void it.return?.(undefined)?.catch(() => undefined);
                }
            }
        },
    });
}
//# sourceMappingURL=providers.js.map