// Turn-taking end to end on loopback (call harness, fake Twilio caller, Deepgram and OpenAI fakes, real
// plugins): a caller who pauses mid-sentence is not answered in the pause and gets exactly one reply; a caller
// who has finished is answered without waiting for UtteranceEnd; a request the caller talks on from is
// withdrawn, never spoken and never counted. Behaviour only; how fast is bench/voice.ts's job.
import assert from 'node:assert/strict';
import { startCallHarness, type CallHarness } from '../helpers/call-harness.js';
import type { FakeMediaCall } from '../fakes/twilio-media.js';
import type { CallSession } from '../../core/voice/call-session.js';
import { DEMO_CUSTOMERS } from '../../core/tenancy/seed.js';
import { until } from '../helpers/until.js';

const MS_PER_CHAR = 15;

describe('Turn-taking: patient with a paused caller, fast with a finished one', function () {
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
    await until(() => h.p.voice.active === 0, 3000, 'calls to end').catch(() => h.p.voice.close());
    await until(() => h.deepgram.listen.openSessions === 0 && h.deepgram.speak.openSessions === 0, 5000, 'provider sessions to close');
  });

  async function dial(): Promise<{ call: FakeMediaCall; session: CallSession; turns: number[]; callerSaid: string[] }> {
    const { call, callSid } = await h.placeInboundCall({ from: DEMO_CUSTOMERS[0]!.phone });
    let session: CallSession | undefined;
    await until(() => (session = h.p.voice.find(callSid)) !== undefined, 5000, 'the call session');
    const turns: number[] = [];
    const callerSaid: string[] = [];
    session!.on('turn', (t) => turns.push(t.turn));
    session!.on('utterance', (u) => { if (u.role === 'caller') callerSaid.push(u.text); });
    await call.waitForMark('g0', 10_000);
    return { call, session: session!, turns, callerSaid };
  }

  /** Says one burst and returns when its last frame went out (the fake caller's clock). */
  async function say(call: FakeMediaCall, ms: number): Promise<number> {
    const p = call.say(ms);
    const rec = call.sent[call.sent.length - 1]!;
    await p;
    return rec.endedAt!;
  }

  const modelMediaBetween = (call: FakeMediaCall, from: number, to: number): number =>
    call.received.filter((m) => m.event === 'media' && m.at > from && m.at <= to).length;

  it('a caller who pauses after "for" is not answered in the pause and gets one reply to the whole request', async () => {
    h.deepgram.listen.enqueueTranscripts(["I'd like to book an oil change for", 'my Honda next Tuesday.']);
    h.openai.respond(() => ({ text: 'Sure thing! Tuesday works.' }));
    const { call, session, turns, callerSaid } = await dial();
    const firstEnd = await say(call, 500);
    await call.silence(600);
    const secondEnd = await say(call, 500);
    await call.waitFor((c) => c.marks.filter((m) => m.name.startsWith('m') && !m.cleared).length >= 2, 10_000, 'reply marks');
    await call.waitForPlaybackIdle(10_000);
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(modelMediaBetween(call, firstEnd, secondEnd), 0, 'nothing was said while the caller paused');
    const asked = h.openai.requests.map((r) => r.body.messages[r.body.messages.length - 1]!.content);
    assert.deepEqual(asked, ["I'd like to book an oil change for my Honda next Tuesday."], 'one request, for the whole sentence');
    assert.deepEqual(turns, [1]);
    assert.deepEqual(callerSaid, ["I'd like to book an oil change for my Honda next Tuesday."]);
    assert.deepEqual(h.deepgram.speak.lastSession!.texts, ['Sure thing!', 'Tuesday works.'], 'one reply, spoken once');
    call.stop();
    await session.done;
  });

  it('a finished caller is answered on the stable final, without waiting for UtteranceEnd', async () => {
    h.deepgram.listen.enqueueTranscripts(['What are your hours today?']);
    h.openai.enqueue({ text: 'We are open until six.' });
    const { call, session } = await dial();
    await call.say(500);
    await h.openai.waitForRequests(1, 5000);
    const listen = h.deepgram.listen.lastSession!;
    assert.ok(listen.sent.some((m) => m.type === 'Results' && m.speech_final === true), 'the final came');
    assert.ok(!listen.sent.some((m) => m.type === 'UtteranceEnd'), 'the request went out before UtteranceEnd');
    await call.waitFor((c) => c.marks.some((m) => m.name.startsWith('m') && !m.cleared), 10_000, 'reply mark');
    call.stop();
    await session.done;
  });

  it('words that cannot end a request wait for UtteranceEnd when nothing follows', async () => {
    h.deepgram.listen.enqueueTranscripts(['Can you check the brakes and']);
    h.openai.enqueue({ text: 'Of course.' });
    const { call, session } = await dial();
    await call.say(500);
    await h.openai.waitForRequests(1, 8000);
    assert.ok(h.deepgram.listen.lastSession!.sent.some((m) => m.type === 'UtteranceEnd'), 'the request waited for UtteranceEnd');
    assert.equal(h.openai.requests[0]!.body.messages[h.openai.requests[0]!.body.messages.length - 1]!.content, 'Can you check the brakes and');
    call.stop();
    await session.done;
  });

  it('a caller who goes on after a complete-looking pause: the speculative request is withdrawn, never spoken, never counted', async () => {
    h.deepgram.listen.enqueueTranscripts(['I need an oil change.', 'For my Honda on Tuesday.']);
    // A slow first token keeps the speculative reply unspoken while the caller starts again.
    h.openai.respond((body) => {
      const said = body.messages[body.messages.length - 1]!.content;
      return said === 'I need an oil change.' ? { text: 'Sure, when?', firstTokenDelayMs: 1500 } : { text: 'Tuesday works for the Honda.' };
    });
    const { call, session, turns, callerSaid } = await dial();
    await say(call, 500);
    await h.openai.waitForRequests(1, 5000);
    await say(call, 500);
    await call.waitFor((c) => c.marks.some((m) => m.name.startsWith('m') && !m.cleared), 10_000, 'reply mark');
    await call.waitForPlaybackIdle(10_000);
    await until(() => h.openai.requests[0]!.abortedByClient, 3000, 'the speculative stream to be aborted');
    const asked = h.openai.requests.map((r) => r.body.messages[r.body.messages.length - 1]!.content);
    assert.deepEqual(asked, ['I need an oil change.', 'I need an oil change. For my Honda on Tuesday.']);
    // The second request carries no trace of the first: the caller's words once, no assistant reply between.
    const second = h.openai.requests[1]!.body.messages;
    assert.equal(second.filter((m) => m.role === 'user').length, 1);
    assert.deepEqual(h.deepgram.speak.lastSession!.texts, ['Tuesday works for the Honda.']);
    assert.deepEqual(turns, [1]);
    assert.deepEqual(callerSaid, ['I need an oil change. For my Honda on Tuesday.']);
    call.stop();
    await session.done;
  });
});
