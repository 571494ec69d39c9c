import type { LlmDelta, SttProvider, SttSession, TtsProvider, TtsSession } from '../sdk/index.js';

/**
 * Counters for one call, filled by wrappers around the call's providers so the voice session itself knows
 * nothing about metering. Plain number fields: the STT wrapper adds to one on every caller frame (the hot
 * path, ~50 times a second per call), so it is one property add and nothing else — no map lookup, no
 * allocation, no metric call. Prometheus and the database see the totals once, when the call ends.
 */
export class CallMeter {
  /** μ-law bytes pushed to the STT socket (8 kHz, one byte per sample: bytes / 8 = ms). */
  sttBytes = 0;
  llmPromptTokens = 0;
  llmCompletionTokens = 0;
  /** Generations started (each a streamed request to the LLM). */
  llmRequests = 0;
  /** Characters sent to the TTS socket (what Deepgram and ElevenLabs bill). */
  ttsChars = 0;
  toolCalls = 0;

  get sttAudioMs(): number { return Math.floor(this.sttBytes / 8); }
}

/** An STT provider whose sessions count the bytes pushed into them. */
export function meterStt(stt: SttProvider, m: CallMeter): SttProvider {
  return {
    open: async (o) => meterSttSession(await stt.open(o), m),
    ...(stt.close ? { close: () => stt.close!() } : {}),
  };
}

/** Exported for the bench: the exact wrapper the call uses around a session. */
export function meterSttSession(s: SttSession, m: CallMeter): SttSession {
  return {
    push(chunk) { m.sttBytes += chunk.length; s.push(chunk); },
    finalize: () => s.finalize(),
    close: () => s.close(),
  };
}

/**
 * A TTS provider whose streaming sessions count the characters spoken. One-shot `synthesize` is not a
 * per-call cost: the voice service uses it for the greeting and scripted lines, synthesised once per tenant
 * configuration and then replayed from memory (docs/usage.md).
 */
export function meterTts(tts: TtsProvider, m: CallMeter): TtsProvider {
  return {
    open: async (o) => {
      const s: TtsSession = await tts.open(o);
      return {
        speak(text) { m.ttsChars += text.length; s.speak(text); },
        flush: () => s.flush(),
        clear: () => s.clear(),
        close: () => s.close(),
      };
    },
    synthesize: (o) => tts.synthesize(o),
    ...(tts.close ? { close: () => tts.close!() } : {}),
  };
}

/** Any function returning a stream of LLM deltas (core/voice's LlmStream has this shape). */
export type DeltaStream<A> = (args: A) => AsyncIterable<LlmDelta>;

/**
 * Counts the tokens the provider reports in the `done` delta (OpenAI's `stream_options.include_usage`
 * chunk). A stream the caller cut off by barging in ends before that chunk, so its tokens are not known and
 * not counted (docs/usage.md says so); deltas pass through untouched. A plain iterator that forwards
 * `next`/`return`/`throw` rather than an async generator: a generator layer costs about twice as much per
 * delta (bench/metering.ts).
 */
export function meterLlm<A>(llm: DeltaStream<A>, m: CallMeter): DeltaStream<A> {
  const count = (r: IteratorResult<LlmDelta>): IteratorResult<LlmDelta> => {
    const d = r.value as LlmDelta | undefined;
    if (!r.done && d?.type === 'done' && d.usage) {
      m.llmPromptTokens += d.usage.promptTokens;
      m.llmCompletionTokens += d.usage.completionTokens;
    }
    return r;
  };
  return (args) => ({
    [Symbol.asyncIterator](): AsyncIterator<LlmDelta> {
      m.llmRequests++;
      const it = llm(args)[Symbol.asyncIterator]();
      return {
        next: () => it.next().then(count),
        return: (v?: unknown) => (it.return ? it.return(v) : Promise.resolve({ done: true as const, value: v })),
        ...(it.throw ? { throw: (e?: unknown) => it.throw!(e) } : {}),
      };
    },
  });
}

/** Counts tool executions; `T` keeps the runner's own type (core/voice's ToolRunner). */
export function meterTools<T extends { execute: (...a: never[]) => Promise<unknown> }>(tools: T, m: CallMeter): T {
  return {
    ...tools,
    execute: (...a: Parameters<T['execute']>) => { m.toolCalls++; return tools.execute(...a); },
  };
}
