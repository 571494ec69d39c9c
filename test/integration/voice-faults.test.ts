// Provider and infrastructure faults during live calls: the real platform, media socket and provider plugins,
// with the OpenAI / Deepgram / Twilio fakes misbehaving on purpose. Each test says what the caller hears,
// what is recorded, and that no provider session is left open.
// Budgets are shortened through VoiceService options so a fault shows in well under a second; the
// production defaults are asserted separately.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { WebSocket } from 'ws';
import { startCallHarness, parseStreamTwiml, type CallHarness } from '../helpers/call-harness.js';
import { connectMediaStream, type FakeMediaCall } from '../fakes/twilio-media.js';
import { FLUSH_LIMIT_WARNING_CODE } from '../fakes/deepgram.js';
import { newSid } from '../fakes/twilio-webhooks.js';
import type { CallSession } from '../../core/voice/call-session.js';
import { VoiceService } from '../../core/voice/voice-service.js';
import { DEFAULT_BUDGETS, type ProviderBudgets } from '../../core/voice/providers.js';
import { RedisStateStore } from '../../core/state/redis-store.js';
import type { StateStore } from '../../core/state/store.js';
import { attachMediaServer, IDLE_TIMEOUT_MS, MEDIA_PATH } from '../../core/telephony/media-server.js';
import { DEMO_CUSTOMERS } from '../../core/tenancy/seed.js';
import { LINES } from '../../core/voice/lines.js';
import { uniquePrefix } from '../helpers/db.js';
import type { ChatRequestBody } from '../fakes/openai.js';
import { until } from '../helpers/until.js';

const ALI = DEMO_CUSTOMERS[0]!;
const MS_PER_CHAR = 5;
const BYTES_PER_CHAR = MS_PER_CHAR * 8;
/** Short budgets: a stalled provider is noticed in well under a second. */
const BUDGETS: Partial<ProviderBudgets> = { llmFirstTokenMs: 400, llmStallMs: 400, sttOpenMs: 600, ttsOpenMs: 600 };
const TTS_STALL_MS = 600;

/** The assistant messages between the previous user message and `userText`, in order. */
function assistantsBefore(body: ChatRequestBody, userText: string): string[] {
  const i = body.messages.findIndex((m) => m.role === 'user' && m.content === userText);
  const out: string[] = [];
  for (let j = i - 1; j >= 0; j--) {
    const m = body.messages[j]!;
    if (m.role === 'user') break;
    if (m.role === 'assistant') out.unshift(typeof m.content === 'string' ? m.content : '');
  }
  return out;
}

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** A throwaway Redis with no persistence, so a restart comes back empty, as after a crash without AOF. */
async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  await until(() => new Promise<boolean>((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  }), 5000, `redis-server on ${port}`);
  return child;
}

async function killRedis(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGKILL');
  await exited;
}

describe('voice faults: calls survive slow, stalled and missing providers', function () {
  this.timeout(40_000);
  let h: CallHarness;
  let voice: VoiceService;
  let live: VoiceService;
  /** Every fake caller of the file: a test that fails mid-call must not leave its socket to hang the teardown. */
  const callers: FakeMediaCall[] = [];

  /** A VoiceService on the harness platform with short provider budgets (what production sets in config). */
  function service(o: { state?: StateStore } = {}): VoiceService {
    return new VoiceService({
      cfg: h.p.cfg, tenants: h.p.tenants, registry: h.p.registry, toolbox: h.p.toolbox, state: o.state ?? h.p.state, jobs: h.p.jobs,
      logger: h.p.logger, telephony: h.p.telephony, budgets: BUDGETS, options: { ttsStallMs: TTS_STALL_MS },
    });
  }

  before(async () => {
    h = await startCallHarness({ deepgram: { speak: { msPerChar: MS_PER_CHAR, chunkIntervalMs: 2 } } });
    live = h.p.voice;
    voice = service();
    h.p.voice = voice;
    await voice.prewarm(h.tenantId);
  });
  after(async () => {
    if (h) h.p.voice = live;
    await voice?.close({ graceMs: 0 });
    await h?.close();
  });
  beforeEach(() => {
    h.openai.reset();
    h.openai.respond(null);
    h.deepgram.listen.respond(null);
  });
  afterEach(async () => {
    h.deepgram.listen.holdUpgrades(false);
    h.deepgram.speak.holdUpgrades(false);
    h.deepgram.speak.stallAfterBytes(null);
    for (const c of callers.splice(0)) if (c.ws.readyState !== WebSocket.CLOSED) c.terminate();
    await until(() => h.p.voice.active === 0, 3000, 'calls to end').catch(() => h.p.voice.close({ graceMs: 0 }));
    await until(() => h.deepgram.listen.openSessions === 0 && h.deepgram.speak.openSessions === 0, 5000, 'provider sessions to close');
  });

  async function dial(v: VoiceService = voice): Promise<{ call: FakeMediaCall; callSid: string; session: CallSession }> {
    const { call, callSid } = await h.placeInboundCall({ from: ALI.phone });
    callers.push(call);
    let session: CallSession | undefined;
    await until(() => (session = v.find(callSid)) !== undefined, 5000, 'the call session');
    return { call, callSid, session: session! };
  }

  const callRow = (callSid: string) => h.p.tenants.withTenant(h.tenantId, async (trx) => {
    const c = await trx('calls').where({ call_sid: callSid }).first('id', 'outcome');
    return {
      outcome: c.outcome as string | null,
      events: await trx('call_events').where({ call_id: c.id }).orderBy('id').select('kind', 'payload') as Array<{ kind: string; payload: Record<string, unknown> }>,
      tasks: await trx('callback_tasks').where({ call_id: c.id }).select('reason') as Array<{ reason: string }>,
    };
  });
  const lineMarks = (call: FakeMediaCall) => call.marks.filter((m) => m.name.startsWith('l') && !m.cleared).length;
  const modelMarks = (call: FakeMediaCall) => call.marks.filter((m) => m.name.startsWith('m') && !m.cleared).length;

  it('uses first-token and stall budgets of a few seconds in production', () => {
    assert.deepEqual({ first: DEFAULT_BUDGETS.llmFirstTokenMs, stall: DEFAULT_BUDGETS.llmStallMs }, { first: 8000, stall: 5000 });
  });

  it('LLM first-token timeout: the request is aborted at the vendor (not retried), the caller hears the fallback line, and the next turn works', async () => {
    h.deepgram.listen.enqueueTranscripts(['Can I book an oil change?', 'Are you open Saturday?']);
    h.openai.enqueue({ text: 'Far too late.', firstTokenDelayMs: 5000 }, { text: 'Yes, from eight to two.' });
    const { call, callSid, session } = await dial();
    await call.waitForMark('g0', 10_000);
    await call.say(500);
    await h.openai.waitForAbort(1, 5000);
    await call.waitFor((c) => lineMarks(c) === 1, 5000, 'the fallback line to play');
    assert.deepEqual(h.openai.requests.map((r) => [r.abortedByClient, r.chunksSent]), [[true, 0]], 'one request, closed before any token, no retry');
    assert.equal(session.isEnded, false, 'the call goes on');

    await call.say(500);
    const next = await h.openai.waitForRequests(2, 5000);
    assert.deepEqual(assistantsBefore(next.body, 'Are you open Saturday?'), [LINES.toolFallback], 'the model knows what the caller heard');
    await call.waitFor((c) => modelMarks(c) >= 1, 5000, 'the next answer to play');
    call.stop();
    await session.done;
    const row = await callRow(callSid);
    assert.deepEqual(row.tasks, [], 'no callback task for a call that went on');
    assert.ok(row.events.some((e) => e.kind === 'error' && e.payload.provider === 'llm' && e.payload.category === 'timeout' && e.payload.recovered === true));
    assert.deepEqual(row.events.filter((e) => e.kind === 'line').map((e) => e.payload.name), ['toolFallback']);
    assert.deepEqual(row.events.filter((e) => e.kind === 'utterance' && e.payload.role === 'agent' && !e.payload.greeting).map((e) => e.payload.text), ['Yes, from eight to two.']);
  });

  it('LLM stall mid-stream: the stream is aborted, the spoken clause stays in the transcript and the context, then the fallback line', async () => {
    h.deepgram.listen.enqueueTranscripts(['What do you have this week?', 'Thursday works.']);
    const spoken = 'Sure, I can help with that. ';
    // Events: role, "Sure, ", "I can ", "help with ", "that. " (the clause), "Let me " (held by the splitter), then silence.
    h.openai.enqueue({ text: `${spoken}Let me look at the calendar for you.`, wordsPerChunk: 2, stallAfterChunks: 6 }, { text: 'Great, Thursday it is.' });
    const { call, callSid, session } = await dial();
    await call.waitForMark('g0', 10_000);
    await call.say(500);
    await h.openai.waitForAbort(1, 5000);
    assert.match(h.openai.requests[0]!.textSent, /Let me/, 'the model had sent more than the spoken clause');
    await call.waitFor((c) => lineMarks(c) === 1, 5000, 'the fallback line to play');
    // Two marks: "Sure," is the reply's first unit and speaks alone (core/voice/clauses.ts), then "I can help with that.".
    assert.equal(call.marks.filter((m) => m.name.startsWith('m') && !m.cleared).length, 2, 'the spoken clause played in full');
    assert.equal(session.isEnded, false);

    await call.say(500);
    const next = await h.openai.waitForRequests(2, 5000);
    assert.deepEqual(assistantsBefore(next.body, 'Thursday works.'), [spoken, LINES.toolFallback]);
    await call.waitFor((c) => modelMarks(c) >= 2, 5000, 'the next answer to play');
    call.stop();
    await session.done;
    const row = await callRow(callSid);
    const agent = row.events.filter((e) => e.kind === 'utterance' && e.payload.role === 'agent' && !e.payload.greeting);
    assert.deepEqual(agent.map((e) => [e.payload.text, e.payload.partial ?? false]), [[spoken, true], ['Great, Thursday it is.', false]]);
    assert.deepEqual(row.tasks, []);
  });

  it('TTS stall: the stalled speak socket is closed, the fallback line plays from the cache, a fresh socket speaks the next turn', async () => {
    h.deepgram.listen.enqueueTranscripts(['Tell me about the service packages.', 'And the price?']);
    const answer = 'We offer three packages, the basic one covers oil and filter, the standard adds a tire rotation, and the premium adds brakes.';
    h.openai.enqueue({ text: answer }, { text: 'It starts at forty nine dollars.' });
    const { call, callSid, session } = await dial();
    await call.waitForMark('g0', 10_000);
    const stalled = h.deepgram.speak.lastSession!;
    h.deepgram.speak.stallAfterBytes(1600);
    await call.say(500);
    await until(() => !stalled.open, 5000, 'the stalled speak socket to be closed');
    assert.ok(stalled.bytesSent >= 1600 && stalled.bytesSent < answer.length * BYTES_PER_CHAR, 'the answer was cut off');
    h.deepgram.speak.stallAfterBytes(null);
    await call.waitFor((c) => lineMarks(c) === 1, 5000, 'the cached fallback line');
    await h.deepgram.speak.waitForSessions(stalled.id + 1, 5000);
    assert.equal(session.isEnded, false);

    await call.say(500);
    const next = await h.openai.waitForRequests(2, 5000);
    const before = assistantsBefore(next.body, 'And the price?');
    assert.equal(before.at(-1), LINES.toolFallback);
    assert.ok(answer.startsWith(before[0] ?? '') && before.length <= 2, `the context keeps only what was heard: ${JSON.stringify(before)}`);
    await call.waitFor((c) => modelMarks(c) >= 1 && h.deepgram.speak.lastSession!.texts.includes('It starts at forty nine dollars.'), 5000, 'the next answer through the new socket');
    await call.waitForPlaybackIdle(10_000);
    call.stop();
    await session.done;
    assert.equal(h.deepgram.speak.records.filter((r) => r.open).length, 0, 'no speak socket left open');
    const row = await callRow(callSid);
    assert.ok(row.events.some((e) => e.kind === 'error' && e.payload.provider === 'tts' && e.payload.category === 'timeout' && e.payload.recovered === true));
    assert.deepEqual(row.tasks, []);
  });

  for (const surface of ['listen', 'speak'] as const) {
    const kind = surface === 'listen' ? 'stt' : 'tts';
    it(`${kind.toUpperCase()} socket open timeout (handshake never answered): coded error, fallback line, polite end, no connection left at the vendor`, async () => {
      h.deepgram[surface].holdUpgrades(true);
      const sessionsBefore = h.deepgram[surface].sessions;
      const { call, callSid, session } = await dial();
      await until(() => h.deepgram[surface].heldUpgrades === 1, 5000, 'the handshake to reach the vendor');
      await call.waitForClose(15_000);
      await session.done;
      assert.equal(lineMarks(call), 1, 'the cached fallback line played before the hang-up');
      // By the time the call has ended the handshake must be abandoned (only the FIN is still in flight), not
      // left for the SDK's own 5 s connection timeout to find.
      await until(() => h.deepgram[surface].heldUpgrades === 0, 1000, 'the client to give up its held handshake when the call ended');
      assert.equal(h.deepgram[surface].sessions, sessionsBefore, 'no session was ever opened');
      const row = await callRow(callSid);
      assert.ok(row.events.some((e) => e.kind === 'error' && e.payload.code === 'VOI_ERR_PROVIDER_FAILED' && e.payload.provider === kind && e.payload.category === 'timeout'));
      assert.deepEqual(row.tasks, [{ reason: `provider_failed:${kind}` }]);
      assert.equal(row.outcome, 'callback');
    });
  }

  it('keeps a long answer of short clauses under the Deepgram Flush limit, with every byte of audio', async () => {
    const clauses = Array.from({ length: 30 }, (_, i) => `Option ${i + 1} is fine.`);
    h.deepgram.listen.enqueueTranscripts(['List every option please.']);
    h.openai.enqueue({ text: clauses.join(' '), wordsPerChunk: 1, chunkDelayMs: 5 });
    const { call, session } = await dial();
    await call.waitForMark('g0', 10_000);
    const sock = h.deepgram.speak.lastSession!;
    const receivedBefore = call.receivedAudioBytes;
    await call.say(500);
    await until(() => session.conversation.busy === false && h.openai.requests.length === 1 && h.openai.requests[0]!.completed, 5000, 'the answer to stream');
    await call.waitForPlaybackIdle(20_000);
    await until(() => !session.out.busy, 5000, 'the agent to finish');
    const warnings = sock.sent.filter((m) => m.type === 'Warning');
    assert.deepEqual(warnings, [], 'the vendor warned about the Flush limit');
    assert.equal(sock.flushesRefused, 0);
    const within = (t: number) => sock.flushTimes.filter((x) => x > t - 60_000 && x <= t).length;
    assert.ok(sock.flushTimes.every((t) => within(t) <= 20), `at most 20 flushes in any minute (sent ${sock.flushTimes.length})`);
    const expected = clauses.reduce((n, c) => n + c.length, 0) * BYTES_PER_CHAR;
    // The last frames may still be on the wire when the agent goes idle: wait for them, then require the exact count.
    await until(() => call.receivedAudioBytes - receivedBefore >= expected, 5000, 'the last frames to reach the caller');
    assert.equal(call.receivedAudioBytes - receivedBefore, expected, 'the whole answer was synthesised and sent');
    call.stop();
    await session.done;
  });

  it('the fake refuses a 21st Flush within a minute with the documented warning (the limit the platform keeps under)', async () => {
    const sock = await new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(`${h.deepgram.url.replace('http', 'ws')}/v1/speak?model=aura-asteria-en&encoding=mulaw&sample_rate=8000`, { headers: { authorization: 'Token dg-test-key' } });
      ws.once('open', () => resolve(ws));
      ws.once('error', reject);
    });
    try {
      const warnings: unknown[] = [];
      sock.on('message', (d, bin) => { if (!bin) { const m = JSON.parse(d.toString()) as { type: string }; if (m.type === 'Warning') warnings.push(m); } });
      for (let i = 0; i < 21; i++) sock.send(JSON.stringify({ type: 'Flush' }));
      await until(() => warnings.length === 1, 2000, 'the warning');
      assert.equal((warnings[0] as { code: string }).code, FLUSH_LIMIT_WARNING_CODE);
      assert.equal(h.deepgram.speak.lastSession!.flushesRefused, 1);
    } finally {
      sock.close();
    }
  });

  describe('Redis killed mid-call', () => {
    let redis: ChildProcess | undefined;
    let store: RedisStateStore | undefined;
    let rv: VoiceService | undefined;
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown): void => { unhandled.push(e); };

    after(async () => {
      process.off('unhandledRejection', onUnhandled);
      h.p.voice = voice;
      await rv?.close({ graceMs: 0 });
      await store?.close().catch(() => undefined);
      if (redis) await killRedis(redis);
    });

    it('the call goes on while Redis is down, and its session state is written again once Redis is back', async () => {
      process.on('unhandledRejection', onUnhandled);
      const port = await freePort();
      redis = await startRedis(port);
      store = new RedisStateStore({ url: `redis://127.0.0.1:${port}`, prefix: uniquePrefix(), commandTimeoutMs: 300 });
      await store.ready();
      rv = service({ state: store });
      await rv.prewarm(h.tenantId);
      h.p.voice = rv;
      h.deepgram.listen.enqueueTranscripts(['Do you rotate tires?', 'How long does it take?', 'Thanks.']);
      h.openai.enqueue({ text: 'Yes, we do.' }, { text: 'About thirty minutes.' }, { text: 'You are welcome.' });
      const { call, callSid, session } = await dial(rv);
      const key = `voice:call:${callSid}`;
      const turns = async () => (await store!.getDoc<{ turns: number }>(key).catch(() => null))?.doc.turns;
      await call.waitForMark('g0', 10_000);
      await call.say(500);
      await call.waitFor((c) => modelMarks(c) >= 1, 5000, 'the first answer');
      await until(async () => (await turns()) === 1, 5000, 'state after turn 1');

      await killRedis(redis);
      await call.say(500);
      await call.waitFor((c) => modelMarks(c) >= 2, 5000, 'an answer while Redis is down');
      assert.equal(session.isEnded, false, 'the call goes on');

      redis = await startRedis(port);
      await until(() => store!.ready().then(() => true, () => false), 10_000, 'the store to reconnect');
      await call.say(500);
      await call.waitFor((c) => modelMarks(c) >= 3, 5000, 'an answer after Redis came back');
      await until(async () => (await turns()) === 3, 10_000, 'the session state to be written again');
      call.stop();
      await session.done;
      assert.deepEqual(unhandled, [], 'no unhandled rejection');
      const row = await callRow(callSid);
      assert.deepEqual(row.events.filter((e) => e.kind === 'utterance' && e.payload.role === 'agent' && !e.payload.greeting).map((e) => e.payload.text),
        ['Yes, we do.', 'About thirty minutes.', 'You are welcome.']);
    });
  });

  describe('media socket limits', () => {
    let server: http.Server;
    let url: string;
    let media: { close(): Promise<void> };
    const IDLE_MS = 800;
    const CAP = 2;

    before(async () => {
      // The media server the platform attaches, on its own HTTP server with test limits and the real voice.
      server = http.createServer((_req, res) => { res.statusCode = 404; res.end(); });
      media = attachMediaServer(server, {
        state: h.p.state, logger: h.p.logger, startCall: (s, l) => h.p.voice.startCall(s, l), isDraining: () => false,
        idleTimeoutMs: IDLE_MS, maxConnPerIp: CAP,
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}${MEDIA_PATH}`;
    });
    after(async () => {
      await media?.close();
      await new Promise<void>((r) => server.close(() => r()));
    });

    /** A signed call: the voice webhook mints its stream token; the media socket dials the test server. */
    async function stream(o: { idleSilence?: boolean } = {}): Promise<{ call: FakeMediaCall; callSid: string }> {
      const callSid = newSid('CA');
      const { res } = await h.postVoice({ from: ALI.phone, callSid });
      const s = parseStreamTwiml(res.body);
      assert.ok(s, res.body);
      const call = await connectMediaStream({ url, callSid, accountSid: 'AC' + 'a1b2c3d4'.repeat(4), customParameters: { callToken: s.callToken }, idleSilence: o.idleSilence });
      callers.push(call);
      return { call, callSid };
    }

    it('closes a media socket that sends nothing for the idle limit (60 s in production) and closes its provider sessions', async () => {
      assert.equal(IDLE_TIMEOUT_MS, 60_000);
      const { call, callSid } = await stream({ idleSilence: false });
      const session = await (async () => { await until(() => voice.find(callSid) !== undefined, 5000, 'session'); return voice.find(callSid)!; })();
      await until(() => h.deepgram.listen.openSessions === 1 && h.deepgram.speak.openSessions === 1, 5000, 'provider sessions to open');
      const closed = await call.waitForClose(10_000);
      assert.deepEqual(closed, { code: 1000, reason: 'idle' });
      await session.done;
      await until(() => h.deepgram.listen.openSessions === 0 && h.deepgram.speak.openSessions === 0, 5000, 'provider sessions to close');
      assert.equal(h.openai.requests.length, 0);
    });

    it('refuses the connection over the per-IP cap before the upgrade, and the earlier calls are unaffected', async () => {
      const a = await stream();
      const b = await stream();
      const refused = await new Promise<number>((resolve, reject) => {
        const ws = new WebSocket(url);
        ws.once('unexpected-response', (_req, res) => { resolve(res.statusCode ?? 0); ws.terminate(); });
        ws.once('open', () => { ws.close(); reject(new Error('the connection over the cap was accepted')); });
        ws.once('error', () => undefined);
      });
      assert.equal(refused, 429);
      for (const c of [a, b]) {
        await c.call.waitForMark('g0', 10_000);
        assert.equal(c.call.ws.readyState, WebSocket.OPEN, 'an earlier call is still connected');
        assert.equal(voice.find(c.callSid)?.isEnded, false);
      }
      // A slot freed by a hang-up is usable again.
      const sa = voice.find(a.callSid)!;
      a.call.stop();
      await sa.done;
      await until(() => a.call.ws.readyState === WebSocket.CLOSED, 5000, 'the first socket to close');
      const c = await stream();
      await c.call.waitForMark('g0', 10_000);
      for (const x of [b, c]) {
        const s = voice.find(x.callSid)!;
        x.call.stop();
        await s.done;
      }
    });
  });
});
