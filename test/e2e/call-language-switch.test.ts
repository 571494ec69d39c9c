// End to end, a caller who changes language mid-call by speaking it: Twilio media fake → Deepgram listen fake
// (multilingual mode, reporting each final's language) → OpenAI fake → Deepgram speak fake. What is asserted is
// what the vendors received: the listen socket's mode, the system prompt and the user turns the model got, the
// voice of the speak socket each reply went to, the bytes Twilio was sent for the scripted lines, and the
// `language` call event. Nothing may be said twice: the utterance that revealed the language is answered once, in
// it, with no greeting replayed in front of it.
import assert from 'node:assert/strict';
import type { ChatRequestBody, FakeTurn } from '../fakes/openai.js';
import type { FakeMediaCall } from '../fakes/twilio-media.js';
import { demoConfig } from '../../core/tenancy/seed.js';
import { MESSAGES } from '../../core/i18n/messages.js';
import type { CallSession } from '../../core/voice/call-session.js';
import { agentIdle, callerSays, DEMO_NUMBER, startCallHarness, until, voiceSession, type CallHarness } from '../helpers/call-harness.js';

/** The fake speak REST synthesises this much audio per character (see the harness options below). */
const MS_PER_CHAR = 8;
const SPANISH_VOICE = 'aura-2-celeste-es';

function lastUser(body: ChatRequestBody): string {
  return String([...body.messages].reverse().find((m) => m.role === 'user')?.content ?? '');
}

/** The agent audio Twilio was sent for each mark, in order: the bytes of media messages since the previous mark. */
function bytesPerMark(call: FakeMediaCall): Array<{ mark: string; bytes: number }> {
  const out: Array<{ mark: string; bytes: number }> = [];
  let bytes = 0;
  for (const m of call.received) {
    if (m.event === 'media') bytes += m.bytes ?? 0;
    else if (m.event === 'mark') { out.push({ mark: m.name ?? '', bytes }); bytes = 0; }
    else if (m.event === 'clear') bytes = 0;
  }
  return out;
}

/** A cached line's audio length as the fake synthesises it (8 bytes of μ-law per ms). */
function clipBytes(text: string): number {
  return text.trim().length * MS_PER_CHAR * 8;
}

async function languageEvents(h: CallHarness, callSid: string): Promise<unknown[]> {
  return h.p.tenants.withTenant(h.tenantId, async (trx) => {
    const c = await trx('calls').where({ call_sid: callSid }).first('id');
    const rows = await trx('call_events').where({ call_id: c.id, kind: 'language' }).orderBy('id').select('payload');
    return rows.map((r: { payload: unknown }) => r.payload);
  });
}

function agentUtterances(session: CallSession): string[] {
  const said: string[] = [];
  session.on('utterance', (e) => { if (e.role === 'agent') said.push(e.text); });
  return said;
}

describe('E2E: a caller who switches language mid-call by speaking it', function () {
  this.timeout(120_000);
  let h: CallHarness;
  before(async () => {
    h = await startCallHarness({ deepgram: { speak: { msPerChar: MS_PER_CHAR } } });
  });
  after(async () => { await h?.close(); });

  it('English, then Spanish: the Spanish question is answered once, in Spanish, by the Spanish voice and prompt; silence prompt and goodbye are Spanish', async () => {
    const cfg = demoConfig() as { agent: Record<string, unknown> };
    await h.p.tenants.updateConfig(h.tenantId, { ...cfg, languages: ['en', 'es'], agent: { ...cfg.agent, silencePromptSec: 3 } });
    const ENGLISH = 'I need an oil change for my Honda.';
    const SPANISH = 'Perdón, ¿me puede atender en español? Quiero una cita para el martes.';
    const REPLY_EN = 'Sure, what day works for you?';
    const REPLY_ES = 'Claro que sí. ¿A qué hora le queda bien el martes?';
    h.openai.respond((body): FakeTurn => (lastUser(body) === SPANISH ? { text: REPLY_ES } : { text: REPLY_EN }));
    const llmBefore = h.openai.requests.length;
    const listenBefore = h.deepgram.listen.sessions;
    const speakBefore = h.deepgram.speak.sessions;

    const { callSid, call } = await h.placeInboundCall({ from: '+14085550177', to: DEMO_NUMBER });
    const session = await voiceSession(h.p, callSid);
    const said = agentUtterances(session);
    await agentIdle(session, call);
    await h.deepgram.listen.waitForSessions(listenBefore + 1);
    const listen = h.deepgram.listen.records[listenBefore]!;
    assert.equal(listen.query.language, 'multi', 'a bilingual line listens in the multilingual mode from the start');
    assert.equal(listen.query.model, 'nova-3');

    assert.equal(await callerSays({ h, session, call, transcript: ENGLISH, ms: 1000 }), ENGLISH);
    await agentIdle(session, call, 30_000);
    const englishSpeak = h.deepgram.speak.records[speakBefore]!;
    assert.equal(englishSpeak.query.model, 'aura-asteria-en');
    assert.ok(englishSpeak.texts.join(' ').includes(REPLY_EN));

    const switches: string[] = [];
    session.on('language', (e) => switches.push(e.language));
    assert.equal(await callerSays({ h, session, call, transcript: SPANISH, ms: 1400 }), SPANISH);
    await agentIdle(session, call, 30_000);
    assert.deepEqual(switches, ['es'], 'the Spanish sentence switched the call, once');

    // The model: asked once with the Spanish words, under the Spanish prompt, with no greeting slipped in before them.
    const asked = h.openai.requests.slice(llmBefore);
    const spanishAsks = asked.filter((r) => lastUser(r.body) === SPANISH);
    assert.equal(spanishAsks.length, 1, 'the caller\'s Spanish turn went to the model exactly once');
    const body = spanishAsks[0]!.body;
    assert.match(String(body.messages[0]!.content), /Responda siempre en español/);
    assert.equal(body.messages.at(-1)!.role, 'user');
    assert.equal(body.messages.at(-2)!.content, REPLY_EN, 'the English reply is the last thing the agent said: no greeting replayed');
    assert.ok(!body.messages.some((m) => String(m.content ?? '').startsWith(MESSAGES.es.greeting('Sunnyvale Honda Service'))));

    // The voice: a new speak socket with the Spanish voice spoke the reply; the English one never heard Spanish text.
    await h.deepgram.speak.waitForSessions(speakBefore + 2);
    const spanishSpeak = h.deepgram.speak.records[speakBefore + 1]!;
    assert.equal(spanishSpeak.query.model, SPANISH_VOICE);
    assert.ok(spanishSpeak.texts.join(' ').includes(REPLY_ES));
    assert.ok(!englishSpeak.texts.join(' ').includes(REPLY_ES));
    assert.equal(h.deepgram.speak.texts.join(' ').split(REPLY_ES).length - 1, 1, 'the Spanish reply was synthesised once');
    assert.equal(said.filter((t) => t === REPLY_ES).length, 1, 'and said once');
    assert.ok(!said.some((t) => t.startsWith(MESSAGES.es.greeting('Sunnyvale Honda Service'))), 'no greeting replayed');
    // The STT: the multilingual socket hears both languages, so it was not reopened (no audio lost in a reopen).
    assert.equal(h.deepgram.listen.sessions, listenBefore + 1);

    // Silence: the prompt and the goodbye are the Spanish lines, from the Spanish cache.
    const marksBefore = bytesPerMark(call).length;
    const ended = new Promise<string>((r) => session.once('ended', (e) => r(e.reason)));
    assert.equal(await ended, 'silence');
    assert.ok(session.conversation.messages.some((m) => m.role === 'assistant' && m.content === MESSAGES.es.lines.silencePrompt));
    assert.ok(!session.conversation.messages.some((m) => m.role === 'assistant' && m.content === MESSAGES.en.lines.silencePrompt));
    const lines = bytesPerMark(call).slice(marksBefore);
    assert.deepEqual(lines.map((l) => l.bytes), [clipBytes(MESSAGES.es.lines.silencePrompt), clipBytes(MESSAGES.es.lines.silenceGoodbye)],
      `Twilio was sent the Spanish clips (${clipBytes(MESSAGES.es.lines.silencePrompt)}, ${clipBytes(MESSAGES.es.lines.silenceGoodbye)} bytes), not the English ones (${clipBytes(MESSAGES.en.lines.silencePrompt)}, ${clipBytes(MESSAGES.en.lines.silenceGoodbye)})`);
    const rest = h.deepgram.speak.restRequests;
    for (const line of [MESSAGES.es.lines.silencePrompt, MESSAGES.es.lines.silenceGoodbye]) {
      assert.ok(rest.some((r) => r.text === line && r.query.model === SPANISH_VOICE), `"${line}" was cached in the Spanish voice`);
    }

    assert.deepEqual(await languageEvents(h, callSid), [{ from: 'en', to: 'es', source: 'speech' }]);
  });

  it('Spanish, then English: a lone "Okay" does not flip the call; a full English sentence does, and is answered in English', async () => {
    const cfg = demoConfig() as { agent: Record<string, unknown> };
    const { greeting: _english, ...agent } = cfg.agent;
    await h.p.tenants.updateConfig(h.tenantId, { ...cfg, agent, languages: ['es', 'en'] });
    const OK = 'Okay.';
    const ENGLISH = 'Sorry, can we do this in English? I want to book a tire rotation.';
    h.openai.respond((body): FakeTurn => ({ text: lastUser(body) === ENGLISH ? 'Of course. Which day works best?' : 'Muy bien. ¿Qué servicio necesita?' }));
    const llmBefore = h.openai.requests.length;
    const speakBefore = h.deepgram.speak.sessions;

    const { callSid, call } = await h.placeInboundCall({ from: '+14085550178', to: DEMO_NUMBER });
    const session = await voiceSession(h.p, callSid);
    await agentIdle(session, call);
    let switches = 0;
    session.on('language', () => { switches++; });

    await callerSays({ h, session, call, transcript: OK, ms: 500 });
    await agentIdle(session, call, 30_000);
    assert.equal(switches, 0, 'one word is no evidence');
    const okAsk = h.openai.requests.slice(llmBefore).find((r) => lastUser(r.body) === OK)!;
    assert.match(String(okAsk.body.messages[0]!.content), /Responda siempre en español/);

    await callerSays({ h, session, call, transcript: ENGLISH, ms: 1600 });
    await agentIdle(session, call, 30_000);
    assert.equal(switches, 1);
    const asks = h.openai.requests.slice(llmBefore).filter((r) => lastUser(r.body) === ENGLISH);
    assert.equal(asks.length, 1);
    assert.match(String(asks[0]!.body.messages[0]!.content), /Always reply in English/);
    assert.doesNotMatch(String(asks[0]!.body.messages[0]!.content), /Responda siempre en español/);
    await until(() => h.deepgram.speak.sessions >= speakBefore + 2, 5000, 'the English speak socket');
    const english = h.deepgram.speak.records[speakBefore + 1]!;
    assert.equal(english.query.model, 'aura-asteria-en', 'the English voice (the tenant\'s agent.voice)');
    assert.ok(english.texts.join(' ').includes('Of course. Which day works best?'));
    assert.equal(h.deepgram.speak.records[speakBefore]!.query.model, SPANISH_VOICE);
    assert.deepEqual(await languageEvents(h, callSid), [{ from: 'es', to: 'en', source: 'speech' }]);
    call.close();
  });

  it('with languageDetection off, Spanish words on an English line stay English: English STT, no switch', async () => {
    await h.p.tenants.updateConfig(h.tenantId, { ...demoConfig(), languages: ['en', 'es'], languageDetection: false });
    h.openai.respond(() => ({ text: 'Sure.' }));
    const listenBefore = h.deepgram.listen.sessions;
    const { callSid, call } = await h.placeInboundCall({ from: '+14085550179', to: DEMO_NUMBER });
    const session = await voiceSession(h.p, callSid);
    await agentIdle(session, call);
    await callerSays({ h, session, call, transcript: 'Hola, quiero una cita para el martes.', ms: 1200 });
    await agentIdle(session, call, 30_000);
    const listen = h.deepgram.listen.records[listenBefore]!;
    assert.equal(listen.query.model, 'nova-2-phonecall');
    assert.equal(listen.query.language, 'en-US');
    assert.deepEqual(await languageEvents(h, callSid), []);
    call.close();
  });
});
