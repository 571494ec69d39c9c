import { createBreaker, DEFAULT_BREAKER, withTimeout, type Breaker } from '../resilience/index.js';
import { isPluginError, PluginError, type LlmDelta, type LlmProvider, type PluginKinds, type SttProvider, type SttSession, type TranscriptEvent, type TtsProvider, type TtsSession } from '../sdk/index.js';
import { isServiceLaneError } from '../errors.js';
import type { LlmStream } from './conversation.js';

export type VoiceSlot = 'stt' | 'llm' | 'tts';

/** The registry methods voice uses (core/registry satisfies it structurally). */
export interface VoicePlugins {
  get<S extends VoiceSlot | 'crm'>(tenantId: string, slot: S): Promise<PluginKinds[S]>;
}

/** Time budgets for the streaming providers: a breaker timeout is a budget, not a default (§5.3). */
export interface ProviderBudgets {
  sttOpenMs: number;
  ttsOpenMs: number;
  synthMs: number;
  llmFirstTokenMs: number;
  llmStallMs: number;
}

export const DEFAULT_BUDGETS: ProviderBudgets = { sttOpenMs: 3000, ttsOpenMs: 3000, synthMs: 5000, llmFirstTokenMs: 8000, llmStallMs: 5000 };

const AUDIO = { encoding: 'mulaw', sampleRateHz: 8000 } as const;

/**
 * Streaming kinds aren't wrapped per method by the registry, so voice guards the parts that can be: session
 * opens, one-shot synthesis and the LLM's first token, each through one breaker per tenant and plugin.
 */
export class ProviderGuards {
  private readonly breakers = new Map<string, Breaker>();

  constructor(private readonly budgets: ProviderBudgets = DEFAULT_BUDGETS) {}

  breaker(tenantId: string, slot: VoiceSlot, pluginId: string): Breaker {
    const key = `${tenantId}|${slot}|${pluginId}`;
    let b = this.breakers.get(key);
    if (!b) {
      b = createBreaker({ ...DEFAULT_BREAKER, name: `${pluginId}@${tenantId}`, metricLabel: pluginId });
      this.breakers.set(key, b);
    }
    return b;
  }

  openStt(o: { stt: SttProvider; breaker: Breaker; signal: AbortSignal; language?: string; onEvent: (e: TranscriptEvent) => void }): Promise<SttSession> {
    const open = withTimeout((a: { signal?: AbortSignal }) => o.stt.open({ ...AUDIO, ...a, language: o.language, onEvent: o.onEvent }), { ms: this.budgets.sttOpenMs, name: 'stt.open' });
    return o.breaker.run(() => open({ signal: o.signal }), { signal: o.signal });
  }

  openTts(o: { tts: TtsProvider; breaker: Breaker; signal: AbortSignal; voice?: string; onAudio: (b: Buffer) => void; onFlushed: (n: number) => void; onError: (e: Error) => void }): Promise<TtsSession> {
    const open = withTimeout((a: { signal?: AbortSignal }) => o.tts.open({ ...AUDIO, ...a, voice: o.voice, onAudio: o.onAudio, onFlushed: o.onFlushed, onError: o.onError }), { ms: this.budgets.ttsOpenMs, name: 'tts.open' });
    return o.breaker.run(() => open({ signal: o.signal }), { signal: o.signal });
  }

  synthesize(o: { tts: TtsProvider; breaker: Breaker; text: string; voice?: string; signal?: AbortSignal }): Promise<Buffer> {
    const synth = withTimeout((a: { signal?: AbortSignal }) => o.tts.synthesize({ ...AUDIO, ...a, text: o.text, voice: o.voice }), { ms: this.budgets.synthMs, name: 'tts.synthesize' });
    return o.breaker.run(() => synth({ signal: o.signal }), { signal: o.signal });
  }

  /** An LLM stream with a breaker and budgets: see {@link guardLlm}. */
  llm(o: { llm: LlmProvider; breaker: Breaker }): LlmStream {
    return guardLlm({ generate: (a) => o.llm.generate(a), breaker: o.breaker, firstTokenMs: this.budgets.llmFirstTokenMs, stallMs: this.budgets.llmStallMs });
  }
}

/** Resolves `p`, or rejects with a timeout PluginError after `ms` and calls `onTimeout` (to abort the work). */
function deadline<T>(p: Promise<T>, ms: number, what: string, onTimeout: (e: PluginError) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => {
      const e = new PluginError('timeout', `${what} exceeded ${ms} ms`);
      onTimeout(e);
      reject(e);
    }, ms);
    p.then((v) => { clearTimeout(t); resolve(v); }, (e: unknown) => { clearTimeout(t); reject(e); });
  });
}

function retryable(e: unknown): boolean {
  if (isServiceLaneError(e)) return false; // breaker open, slot disabled: don't hammer
  return isPluginError(e) && e.retryable;
}

/**
 * Guards a streamed generation: the first delta must come within `firstTokenMs` (through the breaker, so
 * failures and stalls there count), later deltas within `stallMs` of each other. A retryable failure before
 * the first delta is retried once (a 5xx or a dropped connection usually is transient), except the
 * first-token timeout itself, which already used the budget. The caller's abort
 * ends the stream quietly.
 */
export function guardLlm(o: {
  generate: (a: Parameters<LlmStream>[0]) => AsyncIterable<LlmDelta>;
  breaker?: Breaker;
  firstTokenMs: number;
  stallMs: number;
  retries?: number;
}): LlmStream {
  return (args) => ({
    async *[Symbol.asyncIterator]() {
      const retries = o.retries ?? 1;
      for (let attempt = 0; ; attempt++) {
        const ac = new AbortController();
        const signal = AbortSignal.any([args.signal, ac.signal]);
        const it = o.generate({ ...args, signal })[Symbol.asyncIterator]();
        let first: IteratorResult<LlmDelta>;
        try {
          const next = () => deadline(it.next(), o.firstTokenMs, 'llm first token', (e) => ac.abort(e));
          first = o.breaker ? await o.breaker.run(next, { signal: args.signal }) : await next();
        } catch (e) {
          ac.abort();
          if (args.signal.aborted) return;
          // A first-token timeout already spent the caller's patience: retrying would double the silence.
          if (attempt < retries && retryable(e) && !(isPluginError(e) && e.category === 'timeout')) continue;
          throw e;
        }
        try {
          let r = first;
          while (!r.done) {
            yield r.value;
            if (args.signal.aborted) return;
            r = await deadline(it.next(), o.stallMs, 'llm stream stall', (e) => ac.abort(e));
          }
          return;
        } catch (e) {
          if (args.signal.aborted) return;
          throw e;
        } finally {
          ac.abort();
          void it.return?.(undefined)?.catch(() => undefined);
        }
      }
    },
  });
}
