/**
 * `npm run bench -- metering [--batches 300] [--frames 20000] [--deltas 2000]`
 *
 * What usage metering costs on the voice hot path (docs/usage.md), in nanoseconds per operation, with the
 * unmetered path measured in the same run as the baseline:
 * - STT frame push: a 160-byte μ-law frame pushed into an STT session, bare vs through the call meter's
 *   session wrapper (core/usage/call-meter.ts `meterSttSession`, the exact wrapper a call uses);
 * - LLM delta: one streamed delta read by `for await`, bare vs through `meterLlm`.
 * Batches of each alternate (baseline, metered, baseline, …) so both see the same machine load; each batch
 * gives one ns/op figure, and p50/p99 are over batches. `overheadNs` is metered p50 − baseline p50;
 * `coreShareAt15kFps` is that STT overhead at 15,000 frames a second (300 calls), as a fraction of one core.
 * Last stdout line: one JSON object.
 */
import { performance } from 'node:perf_hooks';
import type { LlmDelta, SttSession } from '../core/sdk/index.js';
import { CallMeter, meterLlm, meterSttSession } from '../core/usage/call-meter.js';

const argv = process.argv.slice(2);
function flag(name: string, dflt: string): number {
  const i = argv.indexOf(`--${name}`);
  const v = Number(i >= 0 && argv[i + 1] ? argv[i + 1] : dflt);
  if (!Number.isInteger(v) || v < 1) {
    process.stderr.write(`usage: npm run bench -- metering [--batches N] [--frames N] [--deltas N] (bad --${name})\n`);
    process.exit(64);
  }
  return v;
}
const BATCHES = flag('batches', '300');
const FRAMES = flag('frames', '20000');
const DELTAS = flag('deltas', '2000');
const log = (s: string) => process.stdout.write(`${s}\n`);

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}
const r1 = (x: number) => Math.round(x * 10) / 10;

// ---- STT push ------------------------------------------------------------------------------------

// The provider session stand-in does what every real one must at least do with a frame: look at it. The sink
// is read at the end so the work can't be optimised away.
let sink = 0;
const bare: SttSession = { push(chunk) { sink += chunk[0]!; }, finalize() {}, close: async () => {} };
const meter = new CallMeter();
const metered = meterSttSession(bare, meter);
const frame = Buffer.alloc(160, 0xff);

function pushBatch(s: SttSession): number {
  const t0 = performance.now();
  for (let i = 0; i < FRAMES; i++) s.push(frame);
  return ((performance.now() - t0) * 1e6) / FRAMES;
}

// ---- LLM deltas ----------------------------------------------------------------------------------

const TEXT: LlmDelta = { type: 'text', text: 'word ' };
const DONE: LlmDelta = { type: 'done', finishReason: 'stop', usage: { promptTokens: 812, completionTokens: 57 } };
type Args = { signal: AbortSignal };
const source = (_a: Args): AsyncIterable<LlmDelta> => ({
  async *[Symbol.asyncIterator]() {
    for (let i = 0; i < DELTAS - 1; i++) yield TEXT;
    yield DONE;
  },
});
const args: Args = { signal: new AbortController().signal };

async function deltaBatch(stream: (a: Args) => AsyncIterable<LlmDelta>): Promise<number> {
  const t0 = performance.now();
  let n = 0;
  for await (const d of stream(args)) if (d.type === 'text') n += d.text.length;
  sink += n;
  return ((performance.now() - t0) * 1e6) / DELTAS;
}

// ---- run -----------------------------------------------------------------------------------------

// Warm-up: let both paths reach their optimised form before anything is recorded.
for (let i = 0; i < 20; i++) { pushBatch(bare); pushBatch(metered); }
const llmMeter = new CallMeter();
const meteredLlm = meterLlm(source, llmMeter);
for (let i = 0; i < 10; i++) { await deltaBatch(source); await deltaBatch(meteredLlm); }

const stt = { baseline: [] as number[], metered: [] as number[] };
const llm = { baseline: [] as number[], metered: [] as number[] };
for (let b = 0; b < BATCHES; b++) {
  // Alternate which goes first so neither always runs right after GC of the other.
  if (b % 2 === 0) { stt.baseline.push(pushBatch(bare)); stt.metered.push(pushBatch(metered)); } else { stt.metered.push(pushBatch(metered)); stt.baseline.push(pushBatch(bare)); }
  if (b % 2 === 0) { llm.baseline.push(await deltaBatch(source)); llm.metered.push(await deltaBatch(meteredLlm)); } else { llm.metered.push(await deltaBatch(meteredLlm)); llm.baseline.push(await deltaBatch(source)); }
}

// The meter counted exactly what went through it (a bench that measured a broken wrapper would be worthless).
const pushes = (20 + BATCHES) * FRAMES;
if (meter.sttBytes !== pushes * 160) throw new Error(`meter counted ${meter.sttBytes} bytes, expected ${pushes * 160}`);
if (llmMeter.llmCompletionTokens !== (10 + BATCHES) * 57) throw new Error(`meter counted ${llmMeter.llmCompletionTokens} completion tokens`);

const summary = (x: { baseline: number[]; metered: number[] }) => {
  const f = {
    baselineP50Ns: r1(pct(x.baseline, 50)), baselineP99Ns: r1(pct(x.baseline, 99)),
    meteredP50Ns: r1(pct(x.metered, 50)), meteredP99Ns: r1(pct(x.metered, 99)),
  };
  return { ...f, overheadNs: r1(f.meteredP50Ns - f.baselineP50Ns) };
};
const sttF = summary(stt);
const llmF = summary(llm);
log(`STT push:  baseline p50 ${sttF.baselineP50Ns} ns (p99 ${sttF.baselineP99Ns}), metered p50 ${sttF.meteredP50Ns} ns (p99 ${sttF.meteredP99Ns}) → +${sttF.overheadNs} ns per frame`);
log(`LLM delta: baseline p50 ${llmF.baselineP50Ns} ns (p99 ${llmF.baselineP99Ns}), metered p50 ${llmF.meteredP50Ns} ns (p99 ${llmF.meteredP99Ns}) → +${llmF.overheadNs} ns per delta`);
const coreShare = Math.max(0, sttF.overheadNs) * 15_000 / 1e9;
log(`at 15,000 frames/s (300 calls) the STT wrapper costs ${(coreShare * 100).toFixed(4)} % of one core`);
log(JSON.stringify({ batches: BATCHES, framesPerBatch: FRAMES, deltasPerBatch: DELTAS, sttPush: sttF, llmDelta: llmF, coreShareAt15kFps: Number(coreShare.toFixed(6)), sink: sink > 0 }));
