// CallSession end to end on loopback: the real platform and media WebSocket (call harness), the fake Twilio
// caller (plays agent audio at 8 bytes/ms, echoes marks, honours clear), the Deepgram listen/speak fakes and
// the OpenAI fake, with the real provider plugins. Behaviour only; timings belong to bench/voice.ts.
import assert from 'node:assert/strict';
import { DateTime } from 'luxon';
import { startCallHarness, type CallHarness } from '../helpers/call-harness.js';
import type { FakeMediaCall } from '../fakes/twilio-media.js';
import type { CallSession, BargeInEvent } from '../../core/voice/call-session.js';
import { VoiceService } from '../../core/voice/voice-service.js';
import { RedisStateStore } from '../../core/state/redis-store.js';
import { DEMO_CUSTOMERS } from '../../core/tenancy/seed.js';
import { LINES } from '../../core/voice/lines.js';
import { metrics } from '../../core/observability/metrics.js';
import type { ChatRequestBody } from '../fakes/openai.js';
import { until } from '../helpers/until.js';

const ALI = DEMO_CUSTOMERS[0]!;
const MS_PER_CHAR = 15;
const LONG_ANSWER = [
  'We have openings on Tuesday at nine thirty in the morning, on Wednesday at ten and at eleven fifteen,',
  'on Thursday from one in the afternoon until four, and on Friday morning from seven thirty onwards,',
  'and if none of those suit you we can also look at Saturday between eight and two, which is usually quiet.',
].join(' ');

function assistantBefore(body: ChatRequestBody, userText: string): string | undefined {
  const i = body.messages.findIndex((m) => m.role === 'user' && m.content === userText);
  for (let j = i - 1; j >= 0; j--) {
    const m = body.messages[j]!;
    if (m.role === 'assistant') return typeof m.content === 'string' ? m.content : undefined;
    if (m.role === 'user') return undefined;
  }
  return undefined;
}

describe('CallSession (voice pipeline on the fakes)', function () {
  this.timeout(30_000);
  let h: CallHarness;

  before(async () => {
    h = await startCallHarness({ deepgram: { speak: { msPerChar: MS_PER_CHAR, chunkIntervalMs: 2 } } });
    await h.p.voice.prewarm(h.tenantId);
  });
  after(async () => { await h?.close(); });
  beforeEach(() => {
    h.openai.reset();
    h.openai.respond(null);
    h.deepgram.listen.respond(null);
  });
  afterEach(async () => {
    // Every test leaves no call and no provider session behind (a failed test's call is ended here).
    await until(() => h.p.voice.active === 0, 3000, 'calls to end').catch(() => h.p.voice.close());
    await until(() => h.deepgram.listen.openSessions === 0 && h.deepgram.speak.openSessions === 0, 5000, 'provider sessions to close');
  });

  async function dial(from = ALI.phone): Promise<{ call: FakeMediaCall; callSid: string; session: CallSession }> {
    const { call, callSid } = await h.placeInboundCall({ from });
    let session: CallSession | undefined;
    await until(() => (session = h.p.voice.find(callSid)) !== undefined, 5000, 'the call session');
    return { call, callSid, session: session! };
  }

  const greetingBytes = (): number => h.deepgram.speak.restRequests.find((r) => r.text.startsWith('Thanks for calling Sunnyvale'))!.text.length * MS_PER_CHAR * 8;
  const events = async (callSid: string): Promise<Array<{ kind: string; payload: Record<string, unknown> }>> =>
    h.p.tenants.withTenant(h.tenantId, async (trx) => {
      const call = await trx('calls').where({ call_sid: callSid }).first('id');
      return trx('call_events').where({ call_id: call.id }).orderBy('id').select('kind', 'payload');
    });

  it('plays the cached greeting as the stream starts, with no synthesis on the call path', async () => {
    const restBefore = h.deepgram.speak.restRequests.length;
    const { call, session } = await dial();
    await call.waitForMark('g0', 10_000);
    assert.equal(h.deepgram.speak.restRequests.length, restBefore, 'greeting came from the cache');
    const greeting = h.deepgram.speak.restRequests.find((r) => r.text.startsWith('Thanks for calling Sunnyvale'));
    assert.ok(greeting, 'the greeting was synthesised over REST once, at prewarm');
    assert.equal(call.playedBytes, greeting.text.length * MS_PER_CHAR * 8);
    assert.ok(call.messagesOf('media').every((m) => (m.bytes ?? 0) <= 160), 'outbound audio in 20 ms frames');
    assert.equal(h.deepgram.listen.openSessions, 1);
    call.stop();
    await session.done;
  });

  it('ends the caller turn on speech_final, streams the answer clause by clause with a mark each, and stores the transcript', async () => {
    h.deepgram.listen.enqueueTranscripts(['What are your hours today?']);
    h.openai.enqueue({ text: 'We are open until six tonight. Anything else I can help with?' });
    const { call, callSid, session } = await dial();
    await call.waitForMark('g0', 10_000);
    const turns: number[] = [];
    session.on('turn', (t) => turns.push(t.turn));
    await call.say(500);
    const req = await h.openai.waitForRequests(1, 5000);
    assert.equal(req.body.messages[req.body.messages.length - 1]!.content, 'What are your hours today?');
    await call.waitFor((c) => c.marks.filter((m) => !m.cleared).length >= 3, 10_000, 'clause marks');
    assert.deepEqual(h.deepgram.speak.lastSession!.texts, ['We are open until six tonight.', 'Anything else I can help with?']);
    // A Flush per clause, or fewer when a clause arrives while the previous Flush is still being synthesised.
    const flushes = h.deepgram.speak.lastSession!.flushes;
    assert.ok(flushes >= 1 && flushes <= 2, `flushes: ${flushes}`);
    assert.deepEqual(turns, [1]);
    call.stop();
    await session.done;
    const ev = await events(callSid);
    const utterances = ev.filter((e) => e.kind === 'utterance').map((e) => [e.payload.role, e.payload.text]);
    assert.deepEqual(utterances.slice(1), [['caller', 'What are your hours today?'], ['agent', 'We are open until six tonight. Anything else I can help with?']]);
    assert.equal(ev[ev.length - 1]!.kind, 'call_end');
  });

  it('falls back to UtteranceEnd when no speech_final comes', async () => {
    h.deepgram.listen.enqueueTranscripts([{ transcript: 'I want to book a service', speechFinal: false }]);
    h.openai.enqueue({ text: 'Sure, what service do you need?' });
    const { call, session } = await dial();
    await call.waitForMark('g0', 10_000);
    await call.say(400);
    const req = await h.openai.waitForRequests(1, 5000);
    assert.equal(req.body.messages[req.body.messages.length - 1]!.content, 'I want to book a service');
    const final = h.deepgram.listen.lastSession!.sent.find((m) => m.type === 'Results' && m.is_final === true)!;
    assert.equal(final.speech_final, false);
    call.stop();
    await session.done;
  });

  it('on real speech over the agent: Twilio clear, TTS Clear, LLM stream aborted, and the next request carries only the heard part', async () => {
    h.deepgram.listen.enqueueTranscripts(['Which days are open?', 'Wait, actually I want Thursday afternoon.']);
    h.openai.enqueue({ text: LONG_ANSWER, chunkDelayMs: 60, wordsPerChunk: 2 }, { text: 'Thursday afternoon works.' });
    const { call, session } = await dial();
    const barges: BargeInEvent[] = [];
    session.on('barge_in', (b) => barges.push(b));
    await call.waitForMark('g0', 10_000);
    await call.say(500);
    await h.openai.waitForRequests(1, 5000);
    const before = call.playedBytes;
    await call.waitForPlayedBytes(before + 2400, 5000);
    assert.equal(h.openai.requests[0]!.completed, false, 'the answer is still streaming');
    await call.say(700);
    await call.waitForClear(1, 5000);
    await h.openai.waitForAbort(1, 5000);
    await until(() => h.deepgram.speak.lastSession!.clears >= 1, 2000, 'TTS Clear');
    const second = await h.openai.waitForRequests(2, 5000);
    const heard = assistantBefore(second.body, 'Wait, actually I want Thursday afternoon.');
    assert.ok(heard && heard.length > 0, 'the heard part is kept');
    assert.ok(LONG_ANSWER.startsWith(heard), 'it is a prefix of the answer');
    assert.ok(heard.length < LONG_ANSWER.length / 2, `only the heard part (${heard.length} chars)`);
    assert.ok(!heard.includes('Saturday'));
    assert.equal(barges.length, 1);
    assert.equal(barges[0]!.kind, 'speech');
    assert.equal(barges[0]!.llmAborted, true);
    assert.equal(barges[0]!.heard, heard);
    call.stop();
    await session.done;
  });

  it('a backchannel pauses the agent and it resumes where it stopped, with no audio lost or repeated', async () => {
    h.deepgram.listen.enqueueTranscripts(['Which days are open?', 'Mhm.']);
    h.openai.enqueue({ text: LONG_ANSWER });
    // prom-client hands back its live value objects, so take the number now, not the object.
    const backchannelsBefore = (await metrics.bargeIns.get()).values.find((v) => v.labels.kind === 'backchannel')?.value ?? 0;
    const { call, session } = await dial();
    const barges: BargeInEvent[] = [];
    session.on('barge_in', (b) => barges.push(b));
    await call.waitForMark('g0', 10_000);
    await call.say(500);
    await h.openai.waitForRequests(1, 5000);
    const startPlayed = call.playedBytes;
    await call.waitForPlayedBytes(startPlayed + 3200, 5000);
    await call.say(300);
    await until(() => barges.length === 1, 5000, 'the backchannel decision');
    assert.equal(barges[0]!.kind, 'backchannel');
    await call.waitForPlaybackIdle(20_000);
    await until(() => h.deepgram.speak.lastSession!.flushes === h.deepgram.speak.lastSession!.sent.filter((m) => m.type === 'Flushed').length, 5000, 'all clauses synthesised');
    // One mark per clause; the TTS plugin may cover several clauses with one Flush (Deepgram's Flush limit).
    await call.waitFor((c) => c.marks.filter((m) => m.name.startsWith('m')).length === h.deepgram.speak.lastSession!.texts.length, 5000, 'every clause mark');
    assert.equal(call.clears.length, 0, 'no clear');
    assert.equal(h.deepgram.speak.lastSession!.clears, 0, 'no TTS Clear');
    assert.equal(h.openai.requests.length, 1, 'no new LLM request for "mhm"');
    assert.equal(h.openai.aborted, 0);
    const ttsBytes = h.deepgram.speak.lastSession!.bytesSent;
    assert.equal(call.receivedAudioBytes, greetingBytes() + ttsBytes, 'every synthesised byte was sent once');
    assert.equal(call.playedBytes, call.receivedAudioBytes, 'and played');
    const backchannelsAfter = (await metrics.bargeIns.get()).values.find((v) => v.labels.kind === 'backchannel')?.value ?? 0;
    assert.equal(backchannelsAfter - backchannelsBefore, 1);
    call.stop();
    await session.done;
  });

  it('collects keypad digits into the next caller turn', async () => {
    h.openai.enqueue({ text: 'Thanks, I have that number.' });
    const { call, session } = await dial();
    await call.waitForMark('g0', 10_000);
    for (const d of '4085550142') call.dtmf(d);
    call.dtmf('#');
    const req = await h.openai.waitForRequests(1, 5000);
    assert.equal(req.body.messages[req.body.messages.length - 1]!.content, '(keypad: 4085550142)');
    call.stop();
    await session.done;
  });

  it('transfers on the human key alone, through Twilio REST to the tenant transfer number', async () => {
    const { call, callSid, session } = await dial();
    const now = new Date();
    h.twilio.calls.set(callSid, {
      sid: callSid, to: '+14085550123', from: ALI.phone, status: 'in-progress', direction: 'inbound', dateCreated: now, dateUpdated: now,
      startTime: now, endTime: null, duration: null, answeredBy: null, params: {}, updates: [],
    });
    await call.waitForMark('g0', 10_000);
    call.dtmf('0');
    await session.done;
    const update = h.twilio.calls.get(callSid)!.updates[0]!;
    assert.match(String(update.Twiml), /<Dial[^>]*>\+14085550100<\/Dial>/);
    assert.ok(call.marks.some((m) => m.name.startsWith('l') && !m.cleared), 'the transfer line played first');
    assert.equal(h.openai.requests.length, 0);
    const ev = await events(callSid);
    assert.ok(ev.some((e) => e.kind === 'transfer' && e.payload.source === 'dtmf'));
  });

  it('end_call after verification: hangs up, records the call, and the crm-log job logs it to the CRM once', async () => {
    h.deepgram.listen.enqueueTranscripts(['This is Ali Khani, zip 94087.', "That's all, thanks."]);
    h.openai.enqueue(
      { toolCalls: [{ name: 'verify_customer', arguments: { first_name: 'Ali', last_name: 'Khani', vin_last4: null, zip: ALI.zip } }] },
      { text: 'Thanks Ali, you are verified.' },
      { text: 'Goodbye!', toolCalls: [{ name: 'end_call', arguments: {} }] },
    );
    const { call, callSid, session } = await dial();
    await call.waitForMark('g0', 10_000);
    await call.say(500);
    await h.openai.waitForRequests(2, 5000);
    await call.waitForPlaybackIdle(10_000);
    await call.silence(400);
    await call.say(500);
    await call.waitForClose(15_000);
    await session.done;
    const row = await h.p.tenants.withTenant(h.tenantId, (trx) => trx('calls').where({ call_sid: callSid }).first());
    assert.ok(row.ended_at);
    assert.ok(row.customer_id, 'the verified customer is on the call row');
    const job = await h.p.jobs.waitForJob('crm-log', `crmlog-${h.tenantId}-${row.id}`, { timeoutMs: 15_000 });
    assert.equal(job.state, 'completed');
    const logged = await h.p.tenants.withTenant(h.tenantId, async (trx) => ({
      call: await trx('calls').where({ call_sid: callSid }).first('crm_logged_at'),
      interactions: await trx('crm_interactions').where({ call_id: callSid }).select('customer_id', 'outcome'),
    }));
    assert.ok(logged.call.crm_logged_at);
    assert.deepEqual(logged.interactions.map((i: { customer_id: string }) => i.customer_id), [row.customer_id]);
    const rerun = await h.p.voice.crmLogHandler()({ tenantId: h.tenantId, callId: row.id });
    assert.deepEqual(rerun, { logged: false, reason: 'already_logged' });
  });

  it('closes every provider session when the caller hangs up mid-answer (stop) and when the socket drops', async () => {
    for (const how of ['stop', 'drop'] as const) {
      h.deepgram.listen.enqueueTranscripts(['Tell me everything.']);
      h.openai.enqueue({ text: LONG_ANSWER, chunkDelayMs: 80, wordsPerChunk: 1 });
      const abortedBefore = h.openai.aborted;
      const { call, session } = await dial();
      await call.waitForMark('g0', 10_000);
      await call.say(500);
      await h.openai.waitForRequests(1, 5000);
      await call.waitFor((c) => c.receivedAudioBytes > greetingBytes(), 5000, 'answer audio');
      if (how === 'stop') call.stop(); else call.terminate();
      await session.done;
      await until(() => h.deepgram.listen.openSessions === 0 && h.deepgram.speak.openSessions === 0, 5000, `sessions closed after ${how}`);
      await until(() => h.openai.aborted === abortedBefore + 1, 5000, `LLM stream closed after ${how}`);
      h.openai.reset();
    }
  });

  it('reopens a dropped STT socket once, keeps the call, and treats a second drop as a provider failure', async () => {
    h.deepgram.listen.enqueueTranscripts(['Are you open Saturday?']);
    h.openai.enqueue({ text: 'Yes, from eight to two.' });
    const { call, callSid, session } = await dial();
    await call.waitForMark('g0', 10_000);
    const first = h.deepgram.listen.lastSession!;
    first.kill(1011);
    await h.deepgram.listen.waitForSessions(first.id + 1, 5000);
    await call.say(500);
    const req = await h.openai.waitForRequests(1, 5000);
    assert.equal(req.body.messages[req.body.messages.length - 1]!.content, 'Are you open Saturday?');
    await call.waitForPlaybackIdle(10_000);
    h.deepgram.listen.lastSession!.kill(1011);
    await call.waitForClose(15_000);
    await session.done;
    const ev = await events(callSid);
    assert.ok(ev.some((e) => e.kind === 'error' && e.payload.code === 'VOI_ERR_PROVIDER_FAILED' && e.payload.provider === 'stt'));
  });

  it('on an LLM failure the caller hears the cached fallback line, a callback task is stored, and the call ends cleanly', async () => {
    h.deepgram.listen.enqueueTranscripts(['I need to reschedule.']);
    h.openai.enqueue({ error: { status: 500, message: 'down' } }, { error: { status: 500, message: 'still down' } });
    const { call, callSid, session } = await dial();
    const failed: string[] = [];
    session.on('failed', (f) => failed.push(`${f.kind}:${f.category}`));
    await call.waitForMark('g0', 10_000);
    const playedBefore = call.playedBytes;
    await call.say(500);
    await call.waitForClose(15_000);
    await session.done;
    assert.deepEqual(failed, ['llm:upstream']);
    const fallbackBytes = LINES.providerFallback.length * MS_PER_CHAR * 8;
    assert.equal(call.playedBytes - playedBefore, fallbackBytes, 'the whole fallback line was heard before the hang-up');
    const { tasks, ev } = await h.p.tenants.withTenant(h.tenantId, async (trx) => {
      const c = await trx('calls').where({ call_sid: callSid }).first('id', 'outcome');
      return { tasks: await trx('callback_tasks').where({ call_id: c.id }).select('phone', 'reason', 'status'), ev: c };
    });
    assert.deepEqual(tasks, [{ phone: ALI.phone, reason: 'provider_failed:llm', status: 'open' }]);
    assert.equal(ev.outcome, 'callback');
    const logged = await events(callSid);
    assert.ok(logged.some((e) => e.kind === 'error' && e.payload.code === 'VOI_ERR_PROVIDER_FAILED'));
    assert.ok(logged.some((e) => e.kind === 'utterance' && e.payload.text === 'I need to reschedule.'), 'nothing the caller said was lost');
  });

  it('plays the fallback line even when the TTS socket cannot be opened at all', async () => {
    h.deepgram.speak.refuseUpgrades(503);
    try {
      const { call, callSid, session } = await dial();
      await call.waitForClose(15_000);
      await session.done;
      const tasks = await h.p.tenants.withTenant(h.tenantId, async (trx) => {
        const c = await trx('calls').where({ call_sid: callSid }).first('id');
        return trx('callback_tasks').where({ call_id: c.id }).select('reason');
      });
      assert.deepEqual(tasks, [{ reason: 'provider_failed:tts' }]);
      assert.ok(call.marks.some((m) => m.name.startsWith('l') && !m.cleared), 'the cached fallback line played');
    } finally {
      h.deepgram.speak.refuseUpgrades(null);
    }
  });

  it('keeps the call going from in-process state when the state store is unreachable', async () => {
    const dead = new RedisStateStore({ url: 'redis://127.0.0.1:1', prefix: 'dead:' });
    const live = h.p.voice;
    const voice = new VoiceService({
      cfg: h.p.cfg, tenants: h.p.tenants, registry: h.p.registry, toolbox: h.p.toolbox, state: dead, jobs: h.p.jobs, logger: h.p.logger, telephony: h.p.telephony,
    });
    h.p.voice = voice;
    try {
      h.deepgram.listen.enqueueTranscripts(['Do you rotate tires?']);
      h.openai.enqueue({ text: 'Yes, a tire rotation takes about thirty minutes.' });
      const { call, callSid } = await h.placeInboundCall({ from: ALI.phone });
      await until(() => voice.find(callSid) !== undefined, 5000, 'session');
      const session = voice.find(callSid)!;
      await call.waitForMark('g0', 10_000);
      await call.say(500);
      await call.waitFor((c) => c.marks.filter((m) => m.name.startsWith('m')).length >= 1, 10_000, 'the answer');
      assert.equal(session.isEnded, false);
      call.stop();
      await session.done;
    } finally {
      h.p.voice = live;
      await dead.close().catch(() => undefined);
    }
  });

  it('prompts after the tenant silence time, then says goodbye and hangs up', async () => {
    const t = await h.p.tenants.getActive(h.tenantId);
    const raw = structuredClone(t.rawConfig) as { agent: Record<string, unknown> };
    raw.agent.silencePromptSec = 3;
    await h.p.tenants.updateConfig(h.tenantId, raw);
    try {
      await h.p.voice.prewarm(h.tenantId);
      const { call, callSid, session } = await dial();
      await call.waitForClose(25_000);
      await session.done;
      const lines = (await events(callSid)).filter((e) => e.kind === 'line').map((e) => e.payload.name);
      assert.deepEqual(lines, ['silencePrompt', 'silenceGoodbye']);
      assert.equal(h.openai.requests.length, 0);
    } finally {
      raw.agent.silencePromptSec = 8;
      await h.p.tenants.updateConfig(h.tenantId, raw);
    }
  });

  it('opens nothing and rejects when the tenant has no voice plugins configured', async () => {
    const t = await h.p.tenants.getActive(h.tenantId);
    const raw = structuredClone(t.rawConfig) as { plugins: Record<string, unknown> };
    const stt = raw.plugins.stt;
    delete raw.plugins.stt;
    await h.p.tenants.updateConfig(h.tenantId, raw);
    try {
      const before = h.providerSessions();
      await assert.rejects(h.p.voice.startCall({
        tenantId: h.tenantId, callSid: 'CA' + '0'.repeat(32), streamSid: 'MZ1', accountSid: 'AC1', direction: 'inbound', from: ALI.phone, to: '+14085550123',
        callId: '00000000-0000-0000-0000-000000000000', params: {},
      }, { streamSid: 'MZ1', sendAudio: () => {}, sendMark: () => {}, clear: () => {}, close: () => {}, bufferedAmount: 0 }), (e: unknown) => (e as { code?: string }).code === 'PLG_ERR_SLOT_DISABLED');
      const after = h.providerSessions();
      assert.deepEqual({ ...after, ttsRest: 0 }, { ...before, ttsRest: 0 });
      assert.equal(h.p.voice.active, 0);
    } finally {
      raw.plugins.stt = stt;
      await h.p.tenants.updateConfig(h.tenantId, raw);
    }
  });

  it('keeps the dealership day in the prompt (today in the tenant zone)', async () => {
    h.deepgram.listen.enqueueTranscripts(['Hi']);
    h.openai.enqueue({ text: 'Hello!' });
    const { call, session } = await dial();
    await call.waitForMark('g0', 10_000);
    await call.say(300);
    const req = await h.openai.waitForRequests(1, 5000);
    const today = DateTime.now().setZone('America/Los_Angeles').toFormat('cccc, LLLL d, yyyy');
    assert.match(String(req.body.messages[0]!.content), new RegExp(today));
    call.stop();
    await session.done;
  });
});
