// End to end barge-in: the caller talks over a long answer (Twilio `clear`, TTS `Clear`, the OpenAI stream
// closed by the client, the context cut to what the caller heard), and a backchannel ("mhm") that must not
// cut the agent off nor lose or repeat any of its audio. Real platform, real SDKs, protocol-faithful fakes.
import assert from 'node:assert/strict';
import type { ChatMessage, FakeTurn, RecordedChatRequest } from '../fakes/openai.js';
import type { BargeInEvent } from '../../core/voice/call-session.js';
import {
  agentIdle, callerSays, DEMO_NUMBER, startCallHarness, until, voiceSession, type CallHarness,
} from '../helpers/call-harness.js';

const ALI = '+14086137788';
/** Synthetic speech: ms of audio per character (fake Deepgram speak), i.e. 8 × this many bytes per character. */
const MS_PER_CHAR = 20;
const BYTES_PER_CHAR = 8 * MS_PER_CHAR;

const LONG_SERVICES = 'We offer oil changes, tire rotations, brake checks, battery swaps, and full inspections. '
  + 'We also do wheel alignment, air filter swaps, wiper blade swaps, and coolant flushes. '
  + 'Most jobs take less than an hour, and we have a comfy lounge with free coffee while you wait. '
  + 'We can also arrange a loaner car for the longer jobs.';
const LONG_HOURS = 'We are open from seven thirty in the morning to six in the evening on weekdays, '
  + 'and from eight to two on Saturdays. We are closed on Sundays and on major holidays, '
  + 'and the lot opens a few minutes early for drop offs.';

function lastUser(messages: ChatMessage[]): string {
  for (let i = messages.length - 1; i >= 0; i--) if (messages[i]!.role === 'user') return String(messages[i]!.content ?? '');
  return '';
}

function requestFor(h: CallHarness, userText: string): RecordedChatRequest | undefined {
  return h.openai.requests.find((r) => lastUser(r.body.messages).includes(userText));
}

function nextBargeIn(session: { once(e: 'barge_in', l: (e: BargeInEvent) => void): unknown }): Promise<BargeInEvent> {
  return new Promise((resolve) => { session.once('barge_in', resolve); });
}

describe('E2E: barge-in on a live call', function () {
  this.timeout(120_000);
  let h: CallHarness;
  before(async () => {
    h = await startCallHarness({ deepgram: { speak: { msPerChar: MS_PER_CHAR } } });
    h.openai.respond((body): FakeTurn | undefined => {
      const said = lastUser(body.messages).toLowerCase();
      // A slow stream: the caller interrupts while the model is still writing the answer.
      if (said.includes('what services')) return { text: LONG_SERVICES, chunkDelayMs: 120, wordsPerChunk: 2 };
      if (said.includes('tire rotation')) return { text: 'Sure, a tire rotation it is. What day works for you?' };
      if (said.includes('hours')) return { text: LONG_HOURS };
      return { text: 'Okay.' };
    });
  });
  after(async () => { await h?.close(); });

  it('stops the agent when the caller talks over it: clear, TTS Clear, LLM stream aborted, context cut to what was heard', async () => {
    const { callSid, call } = await h.placeInboundCall({ from: ALI, to: DEMO_NUMBER });
    const session = await voiceSession(h.p, callSid);
    await agentIdle(session, call);
    const ttsClearsBefore = h.deepgram.speak.clears;

    const question = 'What services do you offer?';
    const playedBefore = call.playedBytes;
    await callerSays({ h, session, call, transcript: question, ms: 900 });
    // Let the caller hear about a second of the answer, while the model is still streaming it.
    await call.waitForPlayedBytes(playedBefore + 8000, 15_000);
    const answerReq = requestFor(h, question);
    assert.ok(answerReq, 'the answer was requested');
    assert.equal(answerReq.completed, false, 'the stream is still running when the caller starts talking');

    const barge = nextBargeIn(session);
    const interruption = 'Actually, can I book a tire rotation instead?';
    await callerSays({ h, session, call, transcript: interruption, ms: 1400 });
    const ev = await barge;
    await call.waitForClear(1, 5000);
    await h.openai.waitForAbort(1, 5000);

    assert.equal(ev.kind, 'speech');
    assert.equal(ev.llmAborted, true);
    assert.equal(call.clears.length, 1, 'Twilio was told to drop the queued audio once');
    assert.equal(answerReq.abortedByClient, true, 'the OpenAI stream was closed by the client');
    assert.ok(answerReq.textSent.length < LONG_SERVICES.length, 'the model had not finished the answer');
    assert.ok(h.deepgram.speak.clears > ttsClearsBefore, 'TTS got Clear');

    // What the caller heard of the answer, measured at the fake Twilio (playback stops at the clear).
    const answerPlayed = call.playedBytes - playedBefore;
    const heardChars = answerPlayed / BYTES_PER_CHAR;
    const heard = ev.heard ?? '';
    assert.ok(heard.length > 0, 'the caller heard part of the answer');
    assert.ok(LONG_SERVICES.startsWith(heard), `heard is a prefix of the answer: "${heard}"`);
    assert.ok(heard.length < answerReq.textSent.length, 'less than the model had written');
    assert.ok(Math.abs(heard.length - heardChars) <= 15, `heard ${heard.length} chars, played ${heardChars.toFixed(1)} chars of audio`);

    // The next request carries only the heard part, right before the interruption.
    const next = await until(() => requestFor(h, 'tire rotation') !== undefined, 10_000, 'the next chat request').then(() => requestFor(h, 'tire rotation')!);
    const msgs = next.body.messages;
    const userIdx = msgs.findIndex((m) => m.role === 'user' && String(m.content).includes('tire rotation'));
    const prev = msgs[userIdx - 1]!;
    assert.equal(prev.role, 'assistant');
    assert.equal(prev.content, heard, 'the interrupted answer was truncated to what was played');
    assert.equal(msgs[userIdx - 2]?.content, question);
    assert.ok(!msgs.some((m) => m.role === 'assistant' && typeof m.content === 'string' && m.content.length > heard.length && LONG_SERVICES.startsWith(m.content)),
      'nothing unheard reached the context');

    await agentIdle(session, call, 30_000);
    assert.equal(call.clears.length, 1, 'the answer to the interruption played without another clear');
    call.stop();
    await session.done;
  });

  it('keeps talking through a backchannel ("mhm"): no clear, no abort, every byte of the answer played once', async () => {
    const { callSid, call } = await h.placeInboundCall({ from: ALI, to: DEMO_NUMBER });
    const session = await voiceSession(h.p, callSid);
    await agentIdle(session, call);
    const tts = h.deepgram.speak.lastSession!;
    const ttsClearsBefore = h.deepgram.speak.clears;
    const base = { tts: tts.bytesSent, received: call.receivedAudioBytes, played: call.playedBytes, marks: call.marks.length };

    const question = 'What are your hours?';
    await callerSays({ h, session, call, transcript: question, ms: 800 });
    await call.waitForPlayedBytes(base.played + 6000, 15_000);
    const barge = nextBargeIn(session);
    h.deepgram.listen.enqueueTranscripts(['mhm']);
    await call.say(300);
    const ev = await barge;
    assert.equal(ev.kind, 'backchannel');
    assert.equal(ev.paused, true, 'the agent held its audio while deciding');

    await agentIdle(session, call, 30_000);
    const answerReq = requestFor(h, question)!;
    assert.equal(answerReq.abortedByClient, false, 'the LLM stream was not aborted');
    assert.equal(answerReq.completed, true);
    assert.equal(call.clears.length, 0, 'no clear was sent');
    assert.equal(h.deepgram.speak.clears, ttsClearsBefore, 'no TTS Clear');
    const ttsBytes = tts.bytesSent - base.tts;
    assert.ok(ttsBytes >= (LONG_HOURS.length - 10) * BYTES_PER_CHAR, 'the whole answer was synthesised');
    assert.equal(call.receivedAudioBytes - base.received, ttsBytes, 'every synthesised byte reached the caller exactly once');
    assert.equal(call.playedBytes - base.played, ttsBytes, 'and was played');
    assert.ok(call.marks.slice(base.marks).every((m) => !m.cleared), 'every clause played to its mark');

    // The context keeps the whole answer.
    await callerSays({ h, session, call, transcript: 'Great, thanks.', ms: 700 });
    const next = await until(() => requestFor(h, 'Great, thanks') !== undefined, 10_000, 'the next chat request').then(() => requestFor(h, 'Great, thanks')!);
    const msgs = next.body.messages;
    assert.equal(msgs[msgs.length - 2]?.content, LONG_HOURS);
    await agentIdle(session, call, 30_000);
    call.stop();
    await session.done;
  });
});
