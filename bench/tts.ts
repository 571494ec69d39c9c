/**
 * `npm run bench -- tts [--sockets 10] [--delay 100] [--ms-per-char 5]`
 *
 * First-audio latency of the two TTS plugins, tts-deepgram and tts-elevenlabs, each against its own
 * protocol-faithful fake with the SAME injected delay (--delay ms from flush to the first audio byte) and the
 * same audio length per character, so what differs is the plugin and its wire protocol (Deepgram speak v1:
 * Speak + Flush on one stream; ElevenLabs multi-stream-input: one context per clause, flush + close). Each
 * clause: speak + flush on a warm socket → first onAudio. Figures: p50/p99 per plugin, and each plugin's
 * overhead over the injected delay (the floor both share). Each socket speaks 10 clauses (under Deepgram's
 * Flush limit); socket open time is reported separately (median). Last stdout line: one JSON object.
 */
import { performance } from 'node:perf_hooks';
import type { PluginContext, TtsProvider } from '../core/sdk/index.js';
import { createPluginHttp } from '../core/sdk/http.js';
import { createEgress, parseEgressAllow } from '../core/sdk/egress.js';
import ttsDeepgram from '../plugins/tts-deepgram/index.js';
import ttsElevenlabs from '../plugins/tts-elevenlabs/index.js';
import { startFakeDeepgram } from '../test/fakes/deepgram.js';
import { startFakeElevenLabs } from '../test/fakes/elevenlabs.js';
import { flag } from './lib/figures.js';

/** Deepgram allows 20 Flushes per socket per minute (tts-deepgram paces beyond half of it), so each socket speaks 10. */
const PER_SOCKET = 10;
const SOCKETS = Number(flag('sockets', '10'));
const CLAUSES = SOCKETS * PER_SOCKET;
const DELAY = Number(flag('delay', '100'));
const MS_PER_CHAR = Number(flag('ms-per-char', '5'));
const FORMAT = { encoding: 'mulaw', sampleRateHz: 8000 } as const;
const TEXT = 'We have an opening on Tuesday at nine thirty in the morning.';

/** A plugin context as the registry builds one, with loopback allowed and an in-memory store. */
function context(pluginId: string): { ctx: PluginContext; close: () => void } {
  const ac = new AbortController();
  const egress = createEgress({ policy: { httpsOnly: false, allow: parseEgressAllow(['127.0.0.0/8']).allow } });
  const kv = new Map<string, unknown>();
  const noop = () => undefined;
  const ctx: PluginContext = {
    tenantId: 'bench', pluginId, timezone: 'UTC', logger: { debug: noop, info: noop, warn: noop, error: noop },
    http: createPluginHttp({ pluginId, signal: ac.signal, fetch: egress.fetch }),
    egress: { fetch: egress.fetch, agents: egress.agents, check: egress.check },
    store: { get: async <T>(k: string) => kv.get(k) as T | undefined, set: async (k, v) => { kv.set(k, v); }, delete: async (k) => { kv.delete(k); } },
    clock: { now: () => Date.now() }, signal: ac.signal,
  };
  return { ctx, close: () => { ac.abort(); void egress.close(); } };
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! * 10) / 10;
}

async function measure(tts: TtsProvider): Promise<{ openMs: number; firstAudio: number[] }> {
  const opens: number[] = [];
  const firstAudio: number[] = [];
  for (let k = 0; k < SOCKETS; k++) {
    let resolveAudio: (() => void) | null = null;
    let resolveFlush: (() => void) | null = null;
    const t0 = performance.now();
    const s = await tts.open({ ...FORMAT, onAudio: () => { resolveAudio?.(); resolveAudio = null; }, onFlushed: () => { resolveFlush?.(); resolveFlush = null; }, onError: (e) => { throw e; } });
    opens.push(performance.now() - t0);
    for (let i = 0; i < PER_SOCKET; i++) {
      const audio = new Promise<void>((r) => { resolveAudio = r; });
      const flushed = new Promise<void>((r) => { resolveFlush = r; });
      const start = performance.now();
      s.speak(TEXT);
      s.flush();
      await audio;
      firstAudio.push(performance.now() - start);
      await flushed;
    }
    await s.close();
  }
  return { openMs: pct(opens, 50), firstAudio };
}

const dg = await startFakeDeepgram({ apiKey: 'dg-bench', speak: { firstByteDelayMs: DELAY, msPerChar: MS_PER_CHAR, chunkIntervalMs: 0, flushLimit: null } });
const el = await startFakeElevenLabs({ apiKey: 'el-bench', firstByteDelayMs: DELAY, msPerChar: MS_PER_CHAR, chunkIntervalMs: 0 });
const dgCtx = context('tts-deepgram');
const elCtx = context('tts-elevenlabs');
try {
  const deepgram = await measure(await ttsDeepgram.create(dgCtx.ctx, { settings: { baseUrl: dg.url }, credentials: { apiKey: 'dg-bench' } }) as TtsProvider);
  const elevenlabs = await measure(await ttsElevenlabs.create(elCtx.ctx, { settings: { baseUrl: el.url }, credentials: { apiKey: 'el-bench' } }) as TtsProvider);
  const fig = (r: { openMs: number; firstAudio: number[] }) => ({
    first_audio_p50_ms: pct(r.firstAudio, 50), first_audio_p99_ms: pct(r.firstAudio, 99),
    overhead_p50_ms: Math.round((pct(r.firstAudio, 50) - DELAY) * 10) / 10, overhead_p99_ms: Math.round((pct(r.firstAudio, 99) - DELAY) * 10) / 10,
    open_ms: Math.round(r.openMs * 10) / 10,
  });
  const out = {
    bench: 'tts', clauses: CLAUSES, injected_first_byte_delay_ms: DELAY, floor_ms: DELAY,
    deepgram: fig(deepgram), elevenlabs: fig(elevenlabs),
    ratio_p50_elevenlabs_over_deepgram: Math.round((pct(elevenlabs.firstAudio, 50) / pct(deepgram.firstAudio, 50)) * 100) / 100,
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
} finally {
  dgCtx.close();
  elCtx.close();
  await Promise.all([dg.close(), el.close()]);
}
