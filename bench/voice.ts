/**
 * `npm run bench -- voice [--calls 10|100|300] [--llm-delay 300] [--tts-delay 150] [--tts deepgram|elevenlabs|both] [--token-ms 30] [--pause-calls 20] [--workers 2] [--spread-ms 2000] [--baseline 3] [--lead-ms 80] [--frame-ms 20] [--state redis|postgres] [--leak-check] [--debug]`
 *
 * The real platform (HTTP webhooks, media WebSocket, VoiceService, provider plugins, Postgres, Redis) in this
 * process; the fakes (OpenAI, Deepgram listen/speak, Twilio REST) and the fake Twilio callers in a child
 * process, so RSS and CPU measured here are the platform's own. Every call: signed voice webhook → media stream
 * → greeting → a question → a long answer the caller talks over (barge-in) → a follow-up → a long answer with a
 * "mhm" backchannel → hang-up. Injected delays: the fake OpenAI's first token (--llm-delay) and the fake
 * Deepgram speak first byte (--tts-delay). --tts elevenlabs runs the tenant on tts-elevenlabs against the ElevenLabs
 * fake with the same first-byte delay and pacing; --tts both runs the bench once per plugin and prints both
 * (bench/lib/voice-tts.ts).
 *
 * All calls arrive together; before each utterance a caller thinks for a random 0..--spread-ms (0 makes every
 * caller speak in the same instant, a thundering herd no real line sees).
 *
 * The fake OpenAI streams model-like tokens (~4 characters, punctuation its own token) one every --token-ms, so
 * the wait for a first speakable clause is part of every figure, as it is with a real model.
 *
 * Figures (the first ones are what the caller hears):
 * - callerTurnMs: per answered turn, the caller's last speech frame → the first reply audio frame received by the
 *   fake caller, beside the floor F = 200 ms reference endpointing + LLM first-token delay + TTS first-byte delay
 *   (what an agent with no overhead at all would take with a 200 ms endpointing); excessOverFloorMs = callerTurnMs − F;
 * - pauseSet (--pause-calls, after the load run): callers who pause 600 ms mid-sentence after a word that can't
 *   end a request ("for", "and", "the", a bare number, "um"); cutOffs = replies that started before the caller
 *   finished, doubleReplies = more than one reply to one request; both must be 0;
 * - playback gaps: ms of silence inside a reply at the caller (callerUnderruns / callerUnderrunMs);
 * - cpuSecPerCall (the platform process over the run, less the bench's memory probe, per call), cpuSecPerCallAboveIdle
 *   (less also what the idle platform burns per second anyway, measured for 3 s before the runs: at 10 calls that
 *   fixed cost is a large share), rssPerCallMB; greeting; barge-in;
 * - overhead per turn: first audio out − STT final − injected LLM and TTS delays (platform + loopback), p50/p99;
 * - barge-in: agent audio the caller hears after starting to talk over it (ms of audio played after the first
 *   speech frame, at the fake Twilio's playback), whether the LLM stream was aborted, whether the next request
 *   carried only the heard part;
 * - backchannels: any clear / lost / repeated audio during the "mhm" turn;
 * - greeting: `start` sent → first media frame received;
 * - outbound frame jitter: arrival-gap deviation from 20 ms mid-clause, and playback underruns at the caller;
 * - marginal RSS and CPU per call; baseline: the same script run by --baseline single calls one after another.
 * Last stdout line: one JSON object.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import v8 from 'node:v8';
import vm from 'node:vm';
import { compareTts, selectTts, startTtsFake, TTS_CHOICES } from './lib/voice-tts.js';

const argv = process.argv.slice(2);
function flag(name: string, dflt: string): string {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] ? argv[i + 1]! : dflt;
}

const LONG_ANSWER = [
  'We have openings on Tuesday at nine thirty in the morning, on Wednesday at ten and at eleven fifteen,',
  'on Thursday from one in the afternoon until four, and on Friday morning from seven thirty onwards,',
  'and if none of those suit you we can also look at Saturday between eight and two, which is usually quiet.',
].join(' ');
const OIL_ANSWER = 'An oil change takes about forty five minutes. We use full synthetic oil, replace the filter, top up your fluids and check tire pressure, and we can also rotate the tires while the car is here if you like.';
const ANSWERS: Record<string, { text: string }> = {
  'What times do you have on Tuesday?': { text: 'Sure thing! On Tuesday we have nine thirty and eleven in the morning. Would either of those work?' },
  'Which days are open?': { text: LONG_ANSWER },
  'Wait, actually Thursday afternoon please.': { text: 'Sure, Thursday afternoon works. What time suits you?' },
  'Tell me about the oil change.': { text: OIL_ANSWER },
};
const SCRIPT = ['What times do you have on Tuesday?', 'Which days are open?', 'Wait, actually Thursday afternoon please.', 'Tell me about the oil change.', 'Mhm.'];
const MS_PER_CHAR = 50;
/** The reference endpointing in the floor F (the silence a plain agent waits before it sends the request). */
const REFERENCE_ENDPOINTING_MS = 200;

/**
 * The mid-sentence-pause set: each request is said in two parts with a 600 ms pause after a word that cannot
 * end it. Bursts alternate first part / second part; the request the platform should send is both joined.
 */
const PAUSE_PAIRS: Array<[string, string]> = [
  ["I'd like to book an oil change for", 'my Honda next Tuesday.'],
  ['Can you check the brakes and', 'rotate the tires too?'],
  ['I need the', 'earliest slot you have on Friday.'],
  ['The mileage is about 45', 'thousand miles.'],
  ["It's the, um", 'front left tire that makes the noise.'],
];
const PAUSE_MS = 600;
const PAUSE_ANSWER = 'Sure thing! I can set that up for you.';
const PAUSE_PARTIAL_ANSWER = 'Sorry, I only heard part of that.';

interface ClientResult {
  callSid: string;
  ok: boolean;
  error?: string;
  greetingMs?: number;
  /** ms of agent audio played after the caller's first barge-in speech frame (bytes / 8). */
  heardAfterMs?: number;
  /** Time from that frame until the last agent audio was played. */
  stopAfterMs?: number;
  bargeCleared?: boolean;
  backchannelClears?: number;
  backchannelLost?: number;
  receivedBytes?: number;
  playedBytes?: number;
  droppedByClear?: number;
  gapDev: number[];
  underruns: number;
  underrunMs: number;
  /** Each underrun as [epoch ms when playback ran dry, gap ms], so the parent can set aside its own GC probe. */
  underrunAt: Array<[number, number]>;
  /** The deliberate pause while the agent waits to tell a backchannel from a barge-in (ms). */
  backchannelPauseMs?: number;
  /** Per answered turn: caller's last speech frame → first reply audio frame received (ms). */
  turns: Array<{ label: string; ms: number }>;
  /** Pause set only: replies that started before the caller finished; replies beyond one per request. */
  cutOffs?: number;
  extraReplies?: number;
}

interface ProcStats { cpuPct: number; loopDelayP99Ms: number; loopDelayMaxMs: number }
interface FakeSummary extends ProcStats { longRequests: number; longAborted: number; followUps: number; followUpsTruncated: number; openListen: number; openSpeak: number; llmRequests: number }

type ToParent =
  | { type: 'ready'; openaiUrl: string; deepgramUrl: string; twilioUrl: string; ttsUrl?: string }
  | { type: 'summary'; fakes: FakeSummary }
  | { type: 'result'; results: ClientResult[]; callers: ProcStats };
interface RunSpec { calls: number; concurrent: boolean; baseUrl: string; mediaUrl: string; publicBaseUrl: string; accountSid: string; authToken: string; to: string; pause: boolean }
type ToChild = { type: 'run'; spec: RunSpec } | { type: 'reset'; script: 'main' | 'pause' } | { type: 'summary' } | { type: 'stop' };

/** CPU share and event-loop delay of this process from `start()` to `stop()`. */
function procMonitor(): { start(): void; stop(): ProcStats } {
  let cpu0 = process.cpuUsage();
  let t0 = performance.now();
  let loop = monitorEventLoopDelay({ resolution: 10 });
  return {
    start() { cpu0 = process.cpuUsage(); t0 = performance.now(); loop = monitorEventLoopDelay({ resolution: 10 }); loop.enable(); },
    stop() {
      loop.disable();
      const c = process.cpuUsage(cpu0);
      return {
        cpuPct: Math.round(((c.user + c.system) / 1000) / (performance.now() - t0) * 1000) / 10,
        loopDelayP99Ms: Math.round(loop.percentile(99) / 1e4) / 100, loopDelayMaxMs: Math.round(loop.max / 1e4) / 100,
      };
    },
  };
}

const ACCOUNT_SID = 'AC' + 'b1c2d3e4'.repeat(4);
const AUTH_TOKEN = 'twilio-auth-token-for-bench-0001';
const OPENAI_KEY = 'sk-bench';
const DEEPGRAM_KEY = 'dg-bench';

// ------------------------------------------------------------------------------------------ fakes (child 1)

async function fakesProcess(): Promise<void> {
  const { startFakeOpenAI } = await import('../test/fakes/openai.js');
  const { startFakeDeepgram } = await import('../test/fakes/deepgram.js');
  const { startFakeTwilioRest } = await import('../test/fakes/twilio-rest.js');
  const llmDelay = Number(flag('llm-delay', '300'));
  const ttsDelay = Number(flag('tts-delay', '150'));
  const tokenMs = Number(flag('token-ms', '30'));
  const ai = await startFakeOpenAI({ apiKey: OPENAI_KEY, firstTokenDelayMs: llmDelay, chunkDelayMs: tokenMs, tokens: true });
  const dg = await startFakeDeepgram({ apiKey: DEEPGRAM_KEY, speak: { msPerChar: MS_PER_CHAR, firstByteDelayMs: ttsDelay } });
  const ttsFake = await startTtsFake({ tts: flag('tts', 'deepgram'), ttsDelayMs: ttsDelay, msPerChar: MS_PER_CHAR });
  const tw = await startFakeTwilioRest({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN });
  const mon = procMonitor();

  let longRequests = 0;
  let followUps = 0;
  const followUpTruncated: boolean[] = [];
  const longIdx: number[] = [];
  let script: 'main' | 'pause' = 'main';
  const pauseRequests = new Set(PAUSE_PAIRS.map(([a, b]) => `${a} ${b}`));
  ai.respond((body, rec) => {
    const last = body.messages[body.messages.length - 1];
    const said = typeof last?.content === 'string' ? last.content : '';
    if (script === 'pause') return { text: pauseRequests.has(said) ? PAUSE_ANSWER : PAUSE_PARTIAL_ANSWER };
    if (said === 'Which days are open?') { longRequests++; longIdx.push(rec.index); }
    if (said === 'Wait, actually Thursday afternoon please.') {
      followUps++;
      const prev = body.messages[body.messages.length - 2];
      const heard = prev?.role === 'assistant' && typeof prev.content === 'string' ? prev.content : '';
      followUpTruncated.push(heard.length < LONG_ANSWER.length && LONG_ANSWER.startsWith(heard));
    }
    const a = ANSWERS[said];
    return { text: a ? a.text : 'Okay.' };
  });
  dg.listen.respond((_s, burst) => (script === 'pause' ? PAUSE_PAIRS[burst >> 1]?.[burst & 1] : SCRIPT[burst]) ?? '');

  process.on('message', (msg: ToChild) => {
    void (async () => {
      if (msg.type === 'stop') {
        await Promise.all([ai.close(), dg.close(), tw.close(), ttsFake?.close()]);
        process.exit(0);
      }
      if (msg.type === 'reset') {
        ai.reset();
        script = msg.script;
        longRequests = 0;
        followUps = 0;
        followUpTruncated.length = 0;
        longIdx.length = 0;
        mon.start();
        return;
      }
      if (msg.type === 'summary') {
        const deadline = Date.now() + 15_000;
        const openSpeak = () => dg.speak.openSessions + (ttsFake?.openSessions() ?? 0);
        while ((dg.listen.openSessions > 0 || openSpeak() > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
        const fakes: FakeSummary = {
          ...mon.stop(),
          longRequests, longAborted: longIdx.filter((i) => ai.requests[i]?.abortedByClient).length,
          followUps, followUpsTruncated: followUpTruncated.filter(Boolean).length,
          openListen: dg.listen.openSessions, openSpeak: openSpeak(), llmRequests: ai.requests.length,
        };
        process.send!({ type: 'summary', fakes } satisfies ToParent);
      }
    })();
  });
  process.send!({ type: 'ready', openaiUrl: ai.url, deepgramUrl: dg.url, twilioUrl: tw.url, ttsUrl: ttsFake?.url } satisfies ToParent);
}

// ------------------------------------------------------------------------------------------ callers (child 2)

async function callersProcess(): Promise<void> {
  const { connectMediaStream, mediaClock } = await import('../test/fakes/twilio-media.js');
  const { postWebhook, voiceWebhookParams, newSid } = await import('../test/fakes/twilio-webhooks.js');
  const { parseStreamTwiml } = await import('../test/helpers/call-harness.js');
  const { ClauseSplitter } = await import('../core/voice/clauses.js');
  const { chunkTokens } = await import('../test/fakes/openai.js');
  const spreadMs = Number(flag('spread-ms', '2000'));
  const think = () => new Promise((r) => setTimeout(r, Math.random() * spreadMs));
  const mon = procMonitor();

  // The product splits the stream as it arrives, so the clause count depends on the deltas: replay the fake's.
  const clauses = (text: string): number => {
    const s = new ClauseSplitter();
    let n = 0;
    for (const t of chunkTokens(text)) n += s.push(t).length;
    return n + (s.end() ? 1 : 0);
  };
  type Call = Awaited<ReturnType<typeof connectMediaStream>>;
  /** The first reply audio frame after `end` (the caller's last speech frame), searched from the newest. */
  const firstMediaAfter = (c: Call, end: number): number | undefined => {
    let at: number | undefined;
    for (let i = c.received.length - 1; i >= 0; i--) {
      const m = c.received[i]!;
      if (m.at <= end) break;
      if (m.event === 'media') at = m.at;
    }
    return at;
  };
  const lastSent = (c: Call) => c.sent[c.sent.length - 1]!;

  const stages = new Map<string, string>();
  let progress: NodeJS.Timeout | undefined;
  async function oneCall(o: RunSpec): Promise<ClientResult> {
    const callSid = newSid('CA');
    const r: ClientResult = { callSid, ok: false, gapDev: [], underruns: 0, underrunMs: 0, underrunAt: [], turns: [] };
    let call: Call | undefined;
    const stage = (name: string) => stages.set(callSid, name);
    try {
      stage('webhook');
      const res = await postWebhook({
        baseUrl: o.baseUrl, publicUrl: o.publicBaseUrl, path: '/twilio/voice', authToken: o.authToken,
        params: voiceWebhookParams({ accountSid: o.accountSid, callSid, from: '+14086137788', to: o.to }),
      });
      const stream = parseStreamTwiml(res.body);
      if (!stream) throw new Error(`no stream in TwiML (${res.status})`);
      stage('connect');
      call = await connectMediaStream({ url: o.mediaUrl, callSid, accountSid: o.accountSid, customParameters: { callToken: stream.callToken }, autoStart: false, connectTimeoutMs: 30_000 });
      const t0 = mediaClock();
      call.start();
      stage('greeting');
      const first = await call.waitForMessage('media', 1, 30_000);
      r.greetingMs = first.at - t0;
      await call.waitForMark('g0', 30_000);
      const c = call;
      const modelMarks = () => c.marks.filter((m) => m.name.startsWith('m') && !m.cleared).length;
      const answered = (before: number, text: string) => c.waitFor(() => modelMarks() >= before + clauses(text), 30_000, 'answer marks');
      const heardReply = (label: string, said: { endedAt?: number }) => {
        const at = said.endedAt === undefined ? undefined : firstMediaAfter(c, said.endedAt);
        if (at !== undefined) r.turns.push({ label, ms: at - said.endedAt! });
      };

      if (o.pause) {
        // The mid-sentence-pause set: every request in two parts, a pause after a word that can't end it.
        r.cutOffs = 0;
        r.extraReplies = 0;
        for (const [i, pair] of PAUSE_PAIRS.entries()) {
          stage(`pause${i}`);
          await think();
          const marks = modelMarks();
          const p1 = call.say(700);
          const part1 = lastSent(call);
          await p1;
          await call.silence(PAUSE_MS);
          const p2 = call.say(500 + pair[1].length * 10);
          const part2 = lastSent(call);
          await p2;
          await answered(marks, PAUSE_ANSWER);
          await call.waitForPlaybackIdle(30_000);
          // Anything more arriving shortly after is a second reply.
          await new Promise((res) => setTimeout(res, 1500));
          const early = call.received.some((m) => m.event === 'media' && m.at > part1.endedAt! && m.at <= part2.endedAt!);
          if (early) r.cutOffs++;
          r.extraReplies += Math.max(0, modelMarks() - marks - clauses(PAUSE_ANSWER));
          heardReply('pause', part2);
        }
        call.stop();
        r.ok = true;
        stage('done');
        return r;
      }

      // turn 1: a plain question
      stage('turn1');
      let marks = modelMarks();
      await think();
      const s1 = call.say(700);
      const said1 = lastSent(call);
      await s1;
      await answered(marks, ANSWERS[SCRIPT[0]!]!.text);
      heardReply('question', said1);

      // turn 2: a long, still-streaming answer, talked over after ~500 ms of it
      stage('turn2');
      await think();
      const s2 = call.say(600);
      const said2 = lastSent(call);
      await s2;
      const base = call.playedBytes;
      await call.waitForPlayedBytes(base + 4000, 30_000);
      heardReply('long', said2);
      await call.waitForPlayedBytes(base + 4000, 30_000);
      const clearsBefore = call.clears.length;
      const barge = call.say(900);
      const rec = call.sent[call.sent.length - 1]!;
      await call.waitFor(() => rec.startedAt !== undefined, 5000, 'barge speech start');
      const speechStart = rec.startedAt!;
      await call.waitFor((c) => c.clears.length > clearsBefore, 30_000, 'clear');
      const clearAt = call.clears[call.clears.length - 1]!.at;
      r.bargeCleared = true;
      await barge;
      await call.waitFor((c) => c.pendingPlaybackBytes === 0, 10_000, 'playout after clear');
      r.heardAfterMs = call.playedBytesSince(speechStart) / 8;
      const after = call.played.filter((p) => p.at >= speechStart);
      r.stopAfterMs = after.length ? after[after.length - 1]!.at - speechStart : 0;
      marks = modelMarks();
      await answered(marks, ANSWERS[SCRIPT[2]!]!.text);
      heardReply('afterBargeIn', rec);

      // turn 3: a long answer with a backchannel 400 ms into it
      stage('turn3');
      marks = modelMarks();
      await think();
      const s3 = call.say(600);
      const said3 = lastSent(call);
      await s3;
      const base3 = call.playedBytes;
      const recv3 = call.receivedAudioBytes;
      await call.waitForPlayedBytes(base3 + 3200, 30_000);
      const clears3 = call.clears.length;
      const bc = call.say(300);
      const bcRec = call.sent[call.sent.length - 1]!;
      await bc;
      const bcStart = bcRec.startedAt!;
      await answered(marks, OIL_ANSWER);
      heardReply('oil', said3);
      await call.waitForPlaybackIdle(30_000);
      r.backchannelClears = call.clears.length - clears3;
      r.backchannelLost = (call.receivedAudioBytes - recv3) - (call.playedBytes - base3);

      r.receivedBytes = call.receivedAudioBytes;
      r.playedBytes = call.playedBytes;
      r.droppedByClear = call.clears.reduce((n, c) => n + c.droppedBytes, 0);
      // Jitter at the receiver: arrival gaps of media frames within a clause (after its initial lead burst),
      // and underruns: a frame arriving after the previous one finished playing, mid-clause.
      let prevAt = 0;
      let playEnd = 0;
      let inClause = 0;
      for (const m of call.received) {
        if (m.event === 'mark' || m.event === 'clear') { inClause = 0; continue; }
        if (m.event !== 'media') continue;
        const bytes = m.bytes ?? 0;
        if (inClause > 0) {
          const gap = m.at - playEnd;
          // Deliberate pauses are not jitter: the agent holding back while a barge-in or backchannel is decided.
          const inBc = playEnd >= bcStart && playEnd <= bcStart + 2000;
          const inBarge = playEnd >= speechStart && playEnd <= clearAt;
          if (gap > 1 && inBc) r.backchannelPauseMs = gap;
          else if (gap > 1 && !inBarge) { r.underruns++; r.underrunMs += gap; r.underrunAt.push([performance.timeOrigin + playEnd, gap]); }
          if (inClause > 6 && !inBc && !inBarge) r.gapDev.push(Math.abs(m.at - prevAt - bytes / 8));
        }
        playEnd = Math.max(playEnd, m.at) + bytes / 8;
        prevAt = m.at;
        inClause++;
      }
      call.stop();
      r.ok = true;
      stage('done');
    } catch (e) {
      r.error = `${stages.get(callSid)}: ${(e as Error).message}`;
      stage('failed');
      call?.terminate();
    }
    return r;
  }

  process.on('message', (msg: ToChild) => {
    void (async () => {
      if (msg.type === 'stop') process.exit(0);
      if (msg.type !== 'run') return;
      const o = msg.spec;
      mon.start();
      stages.clear();
      const t0 = Date.now();
      progress = setInterval(() => {
        const n = new Map<string, number>();
        for (const v of stages.values()) n.set(v, (n.get(v) ?? 0) + 1);
        process.stderr.write(`  [${Math.round((Date.now() - t0) / 1000)} s] ${[...n.entries()].map(([k, v]) => `${k} ${v}`).join(', ')}\n`);
      }, 10_000);
      let results: ClientResult[];
      if (o.concurrent) {
        results = await Promise.all(Array.from({ length: o.calls }, () => oneCall(o)));
      } else {
        results = [];
        for (let i = 0; i < o.calls; i++) results.push(await oneCall(o));
      }
      clearInterval(progress);
      process.send!({ type: 'result', results, callers: mon.stop() } satisfies ToParent);
    })();
  });
  process.send!({ type: 'ready', openaiUrl: '', deepgramUrl: '', twilioUrl: '' } satisfies ToParent);
}

// ------------------------------------------------------------------------------------------ platform (parent)

const pct = (xs: number[], q: number): number | null => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
};
const r2 = (x: number | null): number | null => (x === null ? null : Math.round(x * 100) / 100);
const dist = (xs: number[]) => ({ p50: r2(pct(xs, 0.5)), p99: r2(pct(xs, 0.99)), max: r2(xs.length ? xs.reduce((m, x) => (x > m ? x : m), -Infinity) : null), n: xs.length });
const say = (s: string) => process.stdout.write(`${s}\n`);

async function platform(): Promise<void> {
  const CALLS = Number(flag('calls', '100'));
  const BASELINE = Number(flag('baseline', '3'));
  const LLM_DELAY = Number(flag('llm-delay', '300'));
  const TTS_DELAY = Number(flag('tts-delay', '150'));
  const TOKEN_MS = Number(flag('token-ms', '30'));
  const PAUSE_CALLS = Number(flag('pause-calls', String(Math.min(CALLS, 20))));
  /** --workers N > 1: the voice role as ROLE=voice VOICE_WORKERS=N processes instead of in this process. */
  const WORKERS = Number(flag('workers', '1'));
  /** What a caller would wait with zero overhead and a plain 200 ms endpointing (see the header). */
  const FLOOR = REFERENCE_ENDPOINTING_MS + LLM_DELAY + TTS_DELAY;
  const STATE = flag('state', 'redis');
  const SPREAD = Number(flag('spread-ms', '2000'));
  const DEBUG = argv.includes('--debug');
  const TTS = flag('tts', 'deepgram');
  if (![CALLS, SPREAD, BASELINE, LLM_DELAY, TTS_DELAY, TOKEN_MS, PAUSE_CALLS, WORKERS].every((n) => Number.isInteger(n) && n >= 0) || CALLS < 1 || !['redis', 'postgres'].includes(STATE) || !TTS_CHOICES.includes(TTS)) {
    process.stderr.write('usage: npm run bench -- voice [--calls N] [--baseline N] [--llm-delay ms] [--tts-delay ms] [--tts deepgram|elevenlabs|both] [--token-ms ms] [--pause-calls N] [--workers N] [--state redis|postgres]\n');
    process.exit(64);
  }
  const { buildPlatform, createHttpApp, listen } = await import('../core/app.js');
  const { loadConfig } = await import('../core/config.js');
  const { silentLogger } = await import('../core/observability/logger.js');
  const { seedDemo, DEMO_NUMBER } = await import('../core/tenancy/seed.js');
  const { createTestDatabase, TEST_REDIS_URL, uniquePrefix } = await import('../test/helpers/db.js');
  type CallSession = import('../core/voice/call-session.js').CallSession;
  type TurnTiming = import('../core/voice/call-session.js').TurnTiming;
  type BargeInEvent = import('../core/voice/call-session.js').BargeInEvent;

  const { requireServices } = await import('./lib/needs.js');
  await requireServices({ bench: 'voice', postgres: true, redis: STATE === 'redis', hint: { redis: 'or run with --state postgres' } });
  const self = fileURLToPath(import.meta.url);
  const common = ['--tts', TTS, '--llm-delay', String(LLM_DELAY), '--tts-delay', String(TTS_DELAY), '--token-ms', String(TOKEN_MS), '--spread-ms', String(SPREAD)];
  const fakesChild = fork(self, ['--role', 'fakes', ...common], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const callersChild = fork(self, ['--role', 'callers', ...common], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  type Child = typeof fakesChild;
  // A crash here must not leave the children running.
  process.on('exit', () => { fakesChild.kill(); callersChild.kill(); });
  const fromChild = <T extends ToParent['type']>(child: Child, type: T): Promise<Extract<ToParent, { type: T }>> =>
    new Promise((resolve) => {
      const on = (m: ToParent) => { if (m.type === type) { child.off('message', on); resolve(m as Extract<ToParent, { type: T }>); } };
      child.on('message', on);
    });
  const [ready] = await Promise.all([fromChild(fakesChild, 'ready'), fromChild(callersChild, 'ready')]);
  // Memory per call is read after a full GC, so it is what calls retain, not garbage not yet collected.
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const retained = () => { gc(); gc(); const m = process.memoryUsage(); return { rss: m.rss, heap: m.heapUsed + m.external }; };

  const tdb = await createTestDatabase('benchvoice');
  const PUBLIC = 'https://bench.servicelane.test';
  const cfg = loadConfig({
    ROLE: 'all', PORT: '0', LOG_LEVEL: 'silent', DATABASE_URL: tdb.url, REDIS_URL: STATE === 'redis' ? TEST_REDIS_URL : undefined,
    ADMIN_JWT_SECRET: 'bench-secret-bench-secret-bench-secret-00', CREDENTIALS_KEY: Buffer.alloc(32, 9).toString('base64'), PUBLIC_BASE_URL: PUBLIC,
    OPENAI_API_KEY: OPENAI_KEY, OPENAI_BASE_URL: `${ready.openaiUrl}/v1`, DEEPGRAM_API_KEY: DEEPGRAM_KEY, DEEPGRAM_BASE_URL: ready.deepgramUrl,
    TWILIO_ACCOUNT_SID: ACCOUNT_SID, TWILIO_AUTH_TOKEN: AUTH_TOKEN, TWILIO_API_BASE_URL: ready.twilioUrl,
    // The fakes listen on loopback, which the plugin egress policy refuses unless allow-listed.
    PLUGIN_EGRESS_ALLOW: '127.0.0.1',
  });
  const p = await buildPlatform(cfg, { logger: silentLogger, statePrefix: uniquePrefix() });
  const server = await listen(p, createHttpApp(p));
  const port = (server.address() as AddressInfo).port;
  const { tenantId } = await seedDemo(p);
  await selectTts({ p, tenantId, tts: TTS, url: ready.ttsUrl });
  if (WORKERS > 1) {
    await clusterBench();
    return;
  }
  const leadArg = flag('lead-ms', '');
  const frameArg = flag('frame-ms', '');
  if (leadArg || frameArg) {
    // Same wiring as core/app.ts, with a different pacing lead (to compare settings in one build).
    const { VoiceService } = await import('../core/voice/voice-service.js');
    await p.voice.close();
    p.voice = new VoiceService({ cfg, tenants: p.tenants, registry: p.registry, toolbox: p.toolbox, state: p.state, jobs: p.jobs, logger: silentLogger, telephony: p.telephony, options: { ...(leadArg ? { leadMs: Number(leadArg) } : {}), ...(frameArg ? { frameMs: Number(frameArg) } : {}) } });
  }
  await p.voice.prewarm(tenantId);

  interface ServerCall { greeting?: { startAt: number; firstFrameAt: number | undefined }; turns: Array<TurnTiming & { text: string }>; lastCaller?: string; callerTexts: string[]; framesIn?: number; sttWrites?: number; barges: BargeInEvent[]; underruns: number; framesSent: number }
  const byCall = new Map<string, ServerCall>();
  p.voice.on('call', (s: CallSession) => {
    const rec: ServerCall = { turns: [], barges: [], underruns: 0, framesSent: 0, callerTexts: [] };
    byCall.set(s.callSid, rec);
    s.on('greeting', (g) => { rec.greeting = g; });
    s.on('utterance', (u) => { if (u.role === 'caller') { rec.lastCaller = u.text; rec.callerTexts.push(u.text); } });
    s.on('turn', (t) => rec.turns.push({ ...t, text: rec.lastCaller ?? '' }));
    s.on('barge_in', (b) => rec.barges.push(b));
    s.on('ended', () => { rec.underruns = s.out.stats.underruns; rec.framesSent = s.out.stats.framesSent; rec.sttWrites = s.sttWrites; });
  });

  /**
   * --workers N: the voice role as its own process tree, exactly `ROLE=voice VOICE_WORKERS=N core/main.ts`
   * (core/voice-cluster.ts), against the same fakes and callers. Only what the caller hears is measured (the
   * sessions live in the workers); CPU and RSS are read from /proc for the supervisor and its workers.
   */
  async function clusterBench(): Promise<void> {
    const { spawn } = await import('node:child_process');
    const fs = await import('node:fs');
    const { freePort, descendants, waitReady, stopChild } = await import('../test/helpers/process.js');
    const vport = await freePort();
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp',
      ROLE: 'voice', VOICE_WORKERS: String(WORKERS), PORT: String(vport), LOG_LEVEL: 'warn', DATABASE_URL: tdb.url,
      ...(STATE === 'redis' ? { REDIS_URL: TEST_REDIS_URL } : {}),
      ADMIN_JWT_SECRET: 'bench-secret-bench-secret-bench-secret-00', CREDENTIALS_KEY: Buffer.alloc(32, 9).toString('base64'), PUBLIC_BASE_URL: PUBLIC,
      OPENAI_API_KEY: OPENAI_KEY, OPENAI_BASE_URL: `${ready.openaiUrl}/v1`, DEEPGRAM_API_KEY: DEEPGRAM_KEY, DEEPGRAM_BASE_URL: ready.deepgramUrl,
      TWILIO_ACCOUNT_SID: ACCOUNT_SID, TWILIO_AUTH_TOKEN: AUTH_TOKEN, TWILIO_API_BASE_URL: ready.twilioUrl, PLUGIN_EGRESS_ALLOW: '127.0.0.1',
    };
    const root = fileURLToPath(new URL('..', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', 'core/main.ts'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (d: Buffer) => { output += d.toString(); });
    child.stderr!.on('data', (d: Buffer) => { output += d.toString(); });
    process.on('exit', () => child.kill('SIGKILL'));
    await waitReady({ child, url: `http://127.0.0.1:${vport}/readyz`, ms: 120_000, output: () => output });
    await new Promise((r) => setTimeout(r, 5000));
    const tree = () => [child.pid!, ...descendants(child.pid!)];
    const ticks = () => tree().reduce((n, pid) => { try { const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' '); return n + Number(f[11]) + Number(f[12]); } catch { return n; } }, 0);
    const rss = () => tree().reduce((n, pid) => { try { return n + Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024; } catch { return n; } }, 0);
    const runCallers = async (calls: number, pause: boolean) => {
      fakesChild.send({ type: 'reset', script: pause ? 'pause' : 'main' } satisfies ToChild);
      const result = fromChild(callersChild, 'result');
      const rss0 = rss();
      let rssPeak = rss0;
      const sampler = setInterval(() => { rssPeak = Math.max(rssPeak, rss()); }, 500);
      const t0 = ticks();
      callersChild.send({ type: 'run', spec: {
        calls, concurrent: true, baseUrl: `http://127.0.0.1:${vport}`, mediaUrl: `ws://127.0.0.1:${vport}/twilio/media`,
        publicBaseUrl: PUBLIC, accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, to: DEMO_NUMBER, pause,
      } } satisfies ToChild);
      const { results } = await result;
      clearInterval(sampler);
      const cpuSec = (ticks() - t0) / 100;
      const summary = fromChild(fakesChild, 'summary');
      fakesChild.send({ type: 'summary' } satisfies ToChild);
      await summary;
      const ok = results.filter((r) => r.ok);
      const turnsMs = ok.flatMap((r) => r.turns.map((t) => t.ms));
      return {
        completed: ok.length, failed: results.length - ok.length, errors: [...new Set(results.filter((r) => !r.ok).map((r) => r.error))].slice(0, 5),
        callerTurnMs: dist(turnsMs), excessOverFloorMs: dist(turnsMs.map((x) => x - FLOOR)),
        callerTurnRatioVsFloor: { p50: r2((pct(turnsMs, 0.5) ?? 0) / FLOOR), p99: r2((pct(turnsMs, 0.99) ?? 0) / FLOOR) },
        playbackGaps: { turns: ok.reduce((n, r) => n + r.underruns, 0), ms: r2(ok.reduce((n, r) => n + r.underrunMs, 0)) },
        greetingFirstAudioMs: dist(ok.map((r) => r.greetingMs!).filter((x) => x !== undefined)),
        bargeInHeardAfterSpeechMs: dist(ok.map((r) => r.heardAfterMs!).filter((x) => x !== undefined)),
        cutOffs: ok.reduce((n, r) => n + (r.cutOffs ?? 0), 0), doubleReplies: ok.reduce((n, r) => n + (r.extraReplies ?? 0), 0),
        cpuSecPerCall: Math.round(cpuSec / calls * 1000) / 1000, rssPerCallMB: r2((rssPeak - rss0) / calls / 1048576),
      };
    };
    say(`voice bench, ${WORKERS} voice workers (ROLE=voice VOICE_WORKERS=${WORKERS}): ${CALLS} calls; floor F = ${FLOOR} ms`);
    const load = await runCallers(CALLS, false);
    say(`${CALLS} calls: caller turn p50 ${load.callerTurnMs.p50} p99 ${load.callerTurnMs.p99} ms, excess over F ${load.excessOverFloorMs.p50} / ${load.excessOverFloorMs.p99} ms; playback gaps ${load.playbackGaps.turns}; ${load.cpuSecPerCall} CPU-s/call`);
    const pauseSet = PAUSE_CALLS > 0 ? await runCallers(PAUSE_CALLS, true) : undefined;
    fakesChild.send({ type: 'stop' } satisfies ToChild);
    callersChild.send({ type: 'stop' } satisfies ToChild);
    await stopChild(child);
    await p.close();
    await tdb.drop();
    say(JSON.stringify({
      bench: 'voice', tts: TTS, workers: WORKERS, calls: CALLS, llmDelayMs: LLM_DELAY, ttsDelayMs: TTS_DELAY, tokenMs: TOKEN_MS, floorMs: FLOOR, state: STATE, spreadMs: SPREAD,
      ...load,
      pauseSet: pauseSet ? { calls: PAUSE_CALLS, requests: PAUSE_CALLS * PAUSE_PAIRS.length, completed: pauseSet.completed, cutOffs: pauseSet.cutOffs, doubleReplies: pauseSet.doubleReplies, callerTurnMs: pauseSet.callerTurnMs } : null,
    }));
    process.exit(0);
  }

  const run = async (calls: number, concurrent: boolean, pause = false) => {
    byCall.clear();
    const before = retained();
    let live: { rss: number; heap: number } | undefined;
    let activePeak = 0;
    let measuring = false;
    /** The forced-GC memory probe stalls this process; underruns it causes are the bench's, not the platform's. */
    let probe: [number, number] | undefined;
    /** CPU the probe's forced full GCs took: the bench's own work, set aside from the platform's. */
    let probeCpuUs = 0;
    const sampler = setInterval(() => {
      activePeak = Math.max(activePeak, p.voice.active);
      // Once every call is up (sockets open, greeting playing, before the first turn): what N live calls hold.
      if (!live && !measuring && p.voice.active === calls) {
        measuring = true;
        setTimeout(() => {
          const t0 = performance.timeOrigin + performance.now();
          const c0 = process.cpuUsage();
          live = retained();
          const c = process.cpuUsage(c0);
          probeCpuUs = c.user + c.system;
          probe = [t0, performance.timeOrigin + performance.now()];
        }, 2000);
      }
    }, 50);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    const stalls: number[] = [];
    const slow = new Map<string, { n: number; ms: number; max: number }>();
    let hook: import('node:async_hooks').AsyncHook | undefined;
    if (DEBUG) {
      const ah = await import('node:async_hooks');
      const types = new Map<number, string>();
      const starts = new Map<number, number>();
      hook = ah.createHook({
        init(id, type) { types.set(id, type); },
        before(id) { starts.set(id, performance.now()); },
        after(id) {
          const t0 = starts.get(id);
          if (t0 === undefined) return;
          starts.delete(id);
          const d = performance.now() - t0;
          if (d > 15) { const k = types.get(id) ?? '?'; const e = slow.get(k) ?? { n: 0, ms: 0, max: 0 }; e.n++; e.ms += d; e.max = Math.max(e.max, d); slow.set(k, e); }
        },
        destroy(id) { types.delete(id); starts.delete(id); },
      }).enable();
    }
    const gcs: Array<{ kind: number; ms: number }> = [];
    let lastTick = performance.now();
    // --debug only: a 5 ms timer and a GC observer are work in the measured process, not the platform's.
    const stallTimer = DEBUG ? setInterval(() => { const n = performance.now(); if (n - lastTick > 30) stalls.push(Math.round(n - lastTick)); lastTick = n; }, 5) : undefined;
    const { PerformanceObserver } = await import('node:perf_hooks');
    const gcObs = new PerformanceObserver((list) => { for (const e of list.getEntries()) gcs.push({ kind: ((e as { detail?: { kind?: number } }).detail)?.kind ?? 0, ms: e.duration }); });
    if (DEBUG) gcObs.observe({ entryTypes: ['gc'] });
    fakesChild.send({ type: 'reset', script: pause ? 'pause' : 'main' } satisfies ToChild);
    const result = fromChild(callersChild, 'result');
    callersChild.send({ type: 'run', spec: {
      calls, concurrent, baseUrl: `http://127.0.0.1:${port}`, mediaUrl: `ws://127.0.0.1:${port}/twilio/media`,
      publicBaseUrl: PUBLIC, accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, to: DEMO_NUMBER, pause,
    } } satisfies ToChild);
    const { results, callers } = await result;
    const summary = fromChild(fakesChild, 'summary');
    fakesChild.send({ type: 'summary' } satisfies ToChild);
    const { fakes } = await summary;
    const wallMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    if (stallTimer) clearInterval(stallTimer);
    gcObs.disconnect();
    hook?.disable();
    if (DEBUG) {
      process.stderr.write(`slow callbacks (>15ms) by resource: ${JSON.stringify([...slow.entries()].map(([k, v]) => [k, v.n, Math.round(v.ms), Math.round(v.max)]))}\n`);
      process.stderr.write(`stalls>30ms: ${stalls.length} [${stalls.sort((a, b) => b - a).slice(0, 20).join(', ')}]\n`);
      const gcBig = gcs.filter((g) => g.ms > 10).sort((a, b) => b.ms - a.ms);
      process.stderr.write(`gc: ${gcs.length} total ${Math.round(gcs.reduce((n, g) => n + g.ms, 0))} ms; >10ms: ${gcBig.length} [${gcBig.slice(0, 10).map((g) => `${g.kind}:${Math.round(g.ms)}`).join(', ')}]\n`);
    }
    loop.disable();
    clearInterval(sampler);
    const deadline = Date.now() + 10_000;
    while (p.voice.active > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const afterAll = retained();

    const inProbe = (at: number) => probe !== undefined && at >= probe[0] - 5 && at <= probe[1] + 250;
    const server = [...byCall.values()];
    const overhead: number[] = [];
    const stages = { llmFirstToken: [] as number[], firstClause: [] as number[], ttsFirstByte: [] as number[], firstAudioOut: [] as number[] };
    // The same turns split into legs, injected delays removed: where the overhead is spent.
    const legs = { llm: [] as number[], clause: [] as number[], tts: [] as number[], out: [] as number[] };
    for (const c of server) {
      for (const t of c.turns) {
        if (t.firstAudioOutAt === undefined) continue;
        overhead.push(t.firstAudioOutAt - t.sttFinalAt - LLM_DELAY - TTS_DELAY);
        if (t.llmFirstTokenAt !== undefined && t.firstClauseAt !== undefined && t.ttsFirstByteAt !== undefined) {
          legs.llm.push(t.llmFirstTokenAt - t.sttFinalAt - LLM_DELAY);
          legs.clause.push(t.firstClauseAt - t.llmFirstTokenAt);
          legs.tts.push(t.ttsFirstByteAt - t.firstClauseAt - TTS_DELAY);
          legs.out.push(t.firstAudioOutAt - t.ttsFirstByteAt);
        }
        if (t.llmFirstTokenAt !== undefined) stages.llmFirstToken.push(t.llmFirstTokenAt - t.sttFinalAt);
        if (t.firstClauseAt !== undefined) stages.firstClause.push(t.firstClauseAt - t.sttFinalAt);
        if (t.ttsFirstByteAt !== undefined) stages.ttsFirstByte.push(t.ttsFirstByteAt - t.sttFinalAt);
        stages.firstAudioOut.push(t.firstAudioOutAt - t.sttFinalAt);
      }
    }
    const ok = results.filter((r) => r.ok);
    const speechBarges = server.flatMap((c) => c.barges.filter((b) => b.kind === 'speech'));
    const backchannels = server.flatMap((c) => c.barges.filter((b) => b.kind === 'backchannel'));
    return {
      calls, concurrent, completed: ok.length, failed: results.length - ok.length,
      errors: [...new Set(results.filter((r) => !r.ok).map((r) => r.error))].slice(0, 5),
      callerTurnMs: dist(ok.flatMap((r) => r.turns.map((t) => t.ms))),
      excessOverFloorMs: dist(ok.flatMap((r) => r.turns.map((t) => t.ms - FLOOR))),
      callerTurnByKindMs: Object.fromEntries([...new Set(ok.flatMap((r) => r.turns.map((t) => t.label)))].map((k) => [k, dist(ok.flatMap((r) => r.turns.filter((t) => t.label === k).map((t) => t.ms)))])),
      cutOffs: ok.reduce((n, r) => n + (r.cutOffs ?? 0), 0),
      doubleReplies: ok.reduce((n, r) => n + (r.extraReplies ?? 0), 0),
      /** Server side: caller turns that reached the model and produced a reply, per call. */
      turnsCommitted: server.reduce((n, c) => n + c.turns.length, 0),
      /** Pause set: caller turns the platform took (and billed) on half a request. */
      partialTurns: server.reduce((n, c) => n + c.callerTexts.filter((t) => !PAUSE_PAIRS.some(([a, b]) => t === `${a} ${b}`)).length, 0),
      // The platform process's CPU over the run, less the bench's own memory probe: what N calls cost here.
      cpuSecPerCall: Math.round((cpu.user + cpu.system - probeCpuUs) / Math.max(1, calls) / 1000) / 1000,
      // The same less what the idle platform burns in that wall time anyway (job pollers, timers): the calls' own share.
      cpuSecPerCallAboveIdle: idleCpuPct === null ? null : Math.round((cpu.user + cpu.system - probeCpuUs - idleCpuPct / 100 * wallMs * 1000) / Math.max(1, calls) / 1000) / 1000,
      overheadMs: dist(overhead),
      overheadLegsMs: { sttFinalToFirstToken: dist(legs.llm), firstTokenToClause: dist(legs.clause), clauseToTtsFirstByte: dist(legs.tts), ttsFirstByteToAudioOut: dist(legs.out) },
      turnsPerCall: r2(server.reduce((n, c) => n + c.turns.length, 0) / Math.max(1, server.length)),
      stagesMs: { llmFirstToken: dist(stages.llmFirstToken), firstClause: dist(stages.firstClause), ttsFirstByte: dist(stages.ttsFirstByte), firstAudioOut: dist(stages.firstAudioOut) },
      bargeIn: {
        n: speechBarges.length,
        heardAfterSpeechMs: dist(ok.map((r) => r.heardAfterMs!).filter((x) => x !== undefined)),
        audioStopsAfterMs: dist(ok.map((r) => r.stopAfterMs!).filter((x) => x !== undefined)),
        clearReceived: ok.filter((r) => r.bargeCleared).length,
        llmStreamingAtBargeIn: speechBarges.filter((b) => b.llmAborted).length,
        llmAbortedAtFake: fakes.longAborted,
        longAnswerRequests: fakes.longRequests,
        nextRequestTruncated: fakes.followUpsTruncated,
        followUpRequests: fakes.followUps,
      },
      backchannel: {
        decidedBackchannel: backchannels.length,
        cutOff: ok.filter((r) => (r.backchannelClears ?? 0) > 0).length,
        bytesLostOrRepeated: ok.reduce((n, r) => n + Math.abs(r.backchannelLost ?? 0), 0),
      },
      greetingFirstAudioMs: dist(ok.map((r) => r.greetingMs!).filter((x) => x !== undefined)),
      greetingServerMs: dist(server.map((c) => c.greeting?.firstFrameAt !== undefined ? c.greeting.firstFrameAt - c.greeting.startAt : NaN).filter((x) => !Number.isNaN(x))),
      frameJitterMs: dist(ok.flatMap((r) => r.gapDev)),
      callerUnderruns: ok.reduce((n, r) => n + r.underrunAt.filter(([at]) => !inProbe(at)).length, 0),
      callerUnderrunMs: r2(ok.reduce((n, r) => n + r.underrunAt.filter(([at]) => !inProbe(at)).reduce((m, [, g]) => m + g, 0), 0)),
      underrunsDuringMemoryProbe: ok.reduce((n, r) => n + r.underrunAt.filter(([at]) => inProbe(at)).length, 0),
      memoryProbeStallMs: probe ? r2(probe[1] - probe[0]) : null,
      backchannelPauseMs: dist(ok.map((r) => r.backchannelPauseMs ?? NaN).filter((x) => !Number.isNaN(x))),
      pacerUnderruns: server.reduce((n, c) => n + c.underruns, 0),
      framesSent: server.reduce((n, c) => n + c.framesSent, 0),
      sttWrites: server.reduce((n, c) => n + (c.sttWrites ?? 0), 0),
      audioBytesCheck: { received: ok.reduce((n, r) => n + r.receivedBytes!, 0), played: ok.reduce((n, r) => n + r.playedBytes!, 0), droppedByClear: ok.reduce((n, r) => n + r.droppedByClear!, 0) },
      providerSessionsLeft: { listen: fakes.openListen, speak: fakes.openSpeak },
      rssPerCallMB: live ? r2((live.rss - before.rss) / calls / 1048576) : null,
      heapPerCallMB: live ? r2((live.heap - before.heap) / calls / 1048576) : null,
      rssRetainedAfterMB: r2((afterAll.rss - before.rss) / 1048576),
      heapRetainedAfterMB: r2((afterAll.heap - before.heap) / 1048576),
      activePeak,
      platformCpuPct: r2(((cpu.user + cpu.system) / 1000) / wallMs * 100),
      platformLoopDelayMs: { p99: r2(loop.percentile(99) / 1e6), max: r2(loop.max / 1e6) },
      fakesProcess: { cpuPct: fakes.cpuPct, loopDelayP99Ms: fakes.loopDelayP99Ms, loopDelayMaxMs: fakes.loopDelayMaxMs },
      callersProcess: callers,
      cpuPctOfCorePerCall: r2(((cpu.user + cpu.system) / 1000) / wallMs / Math.max(1, concurrent ? calls : 1) * 100),
      wallMs: Math.round(wallMs),
    };
  };

  say(`voice bench: ${CALLS} concurrent calls, LLM first token ${LLM_DELAY} ms then a token every ${TOKEN_MS} ms, TTS first byte ${TTS_DELAY} ms, state ${STATE}`);
  say(`floor F = ${REFERENCE_ENDPOINTING_MS} ms reference endpointing + ${LLM_DELAY} ms LLM first token + ${TTS_DELAY} ms TTS first byte = ${FLOOR} ms`);
  // The idle platform's own CPU rate (pollers, timers, the metrics), so per-call CPU can be told from per-second CPU.
  let idleCpuPct: number | null = null;
  {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, 3000));
    const c = process.cpuUsage(c0);
    idleCpuPct = r2((c.user + c.system) / 1000 / (performance.now() - t0) * 100);
  }
  say(`idle platform: ${idleCpuPct}% of a core`);
  const baseline = await run(BASELINE, false);
  say(`baseline (${BASELINE} single calls): caller turn p50 ${baseline.callerTurnMs.p50} ms p99 ${baseline.callerTurnMs.p99} ms (excess over F ${baseline.excessOverFloorMs.p50} / ${baseline.excessOverFloorMs.p99})`);
  const load = await run(CALLS, true);
  say(`${CALLS} calls: caller turn p50 ${load.callerTurnMs.p50} p99 ${load.callerTurnMs.p99} ms, excess over F ${load.excessOverFloorMs.p50} / ${load.excessOverFloorMs.p99} ms; playback gaps ${load.callerUnderruns} (${load.callerUnderrunMs} ms); barge-in heard ${load.bargeIn.heardAfterSpeechMs.p50}/${load.bargeIn.heardAfterSpeechMs.p99} ms; greeting ${load.greetingFirstAudioMs.p50}/${load.greetingFirstAudioMs.p99} ms; ${load.cpuSecPerCall} CPU-s/call (${load.cpuSecPerCallAboveIdle} above idle); ${load.rssPerCallMB} MB/call`);
  const pauseSet = PAUSE_CALLS > 0 ? await run(PAUSE_CALLS, true, true) : undefined;
  if (pauseSet) say(`pause set (${PAUSE_CALLS} calls x ${PAUSE_PAIRS.length} requests): cut-offs ${pauseSet.cutOffs}, double replies ${pauseSet.doubleReplies}, turns taken on half a request ${pauseSet.partialTurns}, reply after the caller finished p50 ${pauseSet.callerTurnMs.p50} p99 ${pauseSet.callerTurnMs.p99} ms`);

  // --leak-check: the same load again; what a second round adds to the heap after its calls ended is a leak.
  let leakCheck: { heapAfterFirstMB: number | null; heapAfterSecondMB: number | null } | undefined;
  if (argv.includes('--leak-check')) {
    const second = await run(CALLS, true);
    leakCheck = { heapAfterFirstMB: load.heapRetainedAfterMB, heapAfterSecondMB: r2((load.heapRetainedAfterMB ?? 0) + (second.heapRetainedAfterMB ?? 0)) };
    if (DEBUG) {
      // Objects by constructor after both rounds ended: anything that scales with calls here is a leak.
      const snap = v8.getHeapSnapshot();
      const chunks: Buffer[] = [];
      for await (const ch of snap) chunks.push(ch as Buffer);
      const j = JSON.parse(Buffer.concat(chunks).toString()) as { snapshot: { meta: { node_fields: string[]; node_types: string[][] } }; nodes: number[]; strings: string[] };
      const f = j.snapshot.meta.node_fields;
      const types = j.snapshot.meta.node_types[0]!;
      const counts = new Map<string, number>();
      for (let i = 0; i < j.nodes.length; i += f.length) {
        if (types[j.nodes[i + f.indexOf('type')]!] !== 'object') continue;
        const name = j.strings[j.nodes[i + f.indexOf('name')]!]!;
        counts.set(name, (counts.get(name) ?? 0) + 1);
      }
      process.stderr.write(`objects: ${[...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 60).map(([k, v]) => `${k}=${v}`).join(' ')}\n`);
    }
  }
  fakesChild.send({ type: 'stop' } satisfies ToChild);
  callersChild.send({ type: 'stop' } satisfies ToChild);
  await p.close();
  await tdb.drop();
  const ratio = (a: number | null, b: number | null) => (a === null || b === null || b <= 0 ? null : r2(a / b));
  say(JSON.stringify({
    bench: 'voice', tts: TTS, calls: CALLS, llmDelayMs: LLM_DELAY, ttsDelayMs: TTS_DELAY, state: STATE, spreadMs: SPREAD,
    tokenMs: TOKEN_MS, floorMs: FLOOR,
    callerTurnMs: load.callerTurnMs, excessOverFloorMs: load.excessOverFloorMs, callerTurnByKindMs: load.callerTurnByKindMs,
    callerTurnRatioVsFloor: { p50: ratio(load.callerTurnMs.p50, FLOOR), p99: ratio(load.callerTurnMs.p99, FLOOR) },
    playbackGaps: { turns: load.callerUnderruns, ms: load.callerUnderrunMs },
    cpuSecPerCall: load.cpuSecPerCall, cpuSecPerCallAboveIdle: load.cpuSecPerCallAboveIdle, idleCpuPct,
    pauseSet: pauseSet ? {
      calls: PAUSE_CALLS, requests: PAUSE_CALLS * PAUSE_PAIRS.length, completed: pauseSet.completed, failed: pauseSet.failed, errors: pauseSet.errors,
      cutOffs: pauseSet.cutOffs, doubleReplies: pauseSet.doubleReplies, partialTurns: pauseSet.partialTurns, turnsCommitted: pauseSet.turnsCommitted, callerTurnMs: pauseSet.callerTurnMs,
    } : null,
    platformSpanMs: load.overheadMs, overheadLegsMs: load.overheadLegsMs, turnsPerCall: load.turnsPerCall,
    overheadRatioVsBaseline: { p50: ratio(load.overheadMs.p50, baseline.overheadMs.p50), p99: ratio(load.overheadMs.p99, baseline.overheadMs.p99) },
    bargeIn: load.bargeIn,
    backchannel: load.backchannel,
    greetingFirstAudioMs: load.greetingFirstAudioMs,
    greetingServerMs: load.greetingServerMs,
    frameJitterMs: load.frameJitterMs,
    backchannelPauseMs: load.backchannelPauseMs,
    callerUnderruns: load.callerUnderruns, callerUnderrunMs: load.callerUnderrunMs, underrunsDuringMemoryProbe: load.underrunsDuringMemoryProbe, memoryProbeStallMs: load.memoryProbeStallMs, pacerUnderruns: load.pacerUnderruns,
    platformCpuPct: load.platformCpuPct, platformLoopDelayMs: load.platformLoopDelayMs, fakesProcess: load.fakesProcess, callersProcess: load.callersProcess,
    cpuPctOfCorePerCallMarginal: CALLS > 1 && load.platformCpuPct !== null && baseline.platformCpuPct !== null ? r2((load.platformCpuPct - baseline.platformCpuPct) / (CALLS - 1)) : null,
    rssPerCallMB: load.rssPerCallMB, heapPerCallMB: load.heapPerCallMB, rssRetainedAfterMB: load.rssRetainedAfterMB, heapRetainedAfterMB: load.heapRetainedAfterMB, cpuPctOfCorePerCall: load.cpuPctOfCorePerCall,
    completed: load.completed, failed: load.failed, errors: load.errors, providerSessionsLeft: load.providerSessionsLeft,
    stagesMs: load.stagesMs,
    baseline: { calls: BASELINE, callerTurnMs: baseline.callerTurnMs, excessOverFloorMs: baseline.excessOverFloorMs, overheadMs: baseline.overheadMs, overheadLegsMs: baseline.overheadLegsMs, bargeIn: baseline.bargeIn.heardAfterSpeechMs, greetingFirstAudioMs: baseline.greetingFirstAudioMs, frameJitterMs: baseline.frameJitterMs, cpuPctOfCorePerCall: baseline.cpuPctOfCorePerCall },
    framesOut: load.framesSent, sttWrites: load.sttWrites, ...(leakCheck ? { leakCheck } : {}),
    audioBytesCheck: load.audioBytesCheck, activePeak: load.activePeak, wallMs: load.wallMs,
  }));
  process.exit(0);
}

const role = flag('role', 'platform');
if (role === 'fakes') await fakesProcess();
else if (role === 'callers') await callersProcess();
else if (flag('tts', 'deepgram') === 'both') await compareTts({ self: fileURLToPath(import.meta.url), argv, say });
else await platform();
