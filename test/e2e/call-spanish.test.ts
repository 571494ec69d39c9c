// End to end in Spanish: the demo dealership serves Spanish first ("languages": ["es", "en"]). Ali calls,
// hears the Spanish greeting with the English keypad offer, books an oil change, and the booking is
// confirmed with the date and time in Spanish. Real SDKs against the fakes; what is asserted is what the
// vendors received: the listen socket's language and model, the speak socket's voice (model), the text of
// the greeting synthesised over REST, and the system prompt the model was given.
import assert from 'node:assert/strict';
import { DateTime } from 'luxon';
import type { ChatRequestBody, FakeTurn } from '../fakes/openai.js';
import { demoConfig } from '../../core/tenancy/seed.js';
import { MESSAGES } from '../../core/i18n/messages.js';
import {
  agentIdle, callerSays, DEMO_NUMBER, startCallHarness, voiceSession, type CallHarness,
} from '../helpers/call-harness.js';

const ALI = '+14086137788';
const ZONE = 'America/Los_Angeles';

function nextTuesday(): string {
  const today = DateTime.now().setZone(ZONE).startOf('day');
  const ahead = ((2 - today.weekday + 7) % 7) || 7;
  return today.plus({ days: ahead }).toISODate()!;
}

function lastToolResult(body: ChatRequestBody): { name: string; result: Record<string, unknown> } | null {
  const last = body.messages[body.messages.length - 1]!;
  if (last.role !== 'tool') return null;
  const names = new Map<string, string>();
  for (const m of body.messages) for (const tc of m.tool_calls ?? []) names.set(tc.id, tc.function.name);
  return { name: names.get(last.tool_call_id ?? '') ?? '?', result: JSON.parse(String(last.content)) as Record<string, unknown> };
}

describe('E2E: a Spanish-speaking caller books in Spanish', function () {
  this.timeout(120_000);
  let h: CallHarness;
  before(async () => {
    h = await startCallHarness({ deepgram: { speak: { msPerChar: 8 } } });
    // The demo's own `agent.greeting` is English; a Spanish-first tenant uses the catalogue's Spanish one.
    const cfg = demoConfig() as { agent?: Record<string, unknown> };
    const { greeting: _english, ...agent } = cfg.agent ?? {};
    await h.p.tenants.updateConfig(h.tenantId, { ...cfg, agent, languages: ['es', 'en'] });
  });
  after(async () => { await h?.close(); });

  it('Spanish-capable STT (nova-3, multilingual on a bilingual line), a Spanish Aura voice, the Spanish greeting, a Spanish prompt and a booking confirmed as "el martes … a las …"', async () => {
    const tuesday = nextTuesday();
    const script = { offered: [] as Array<{ slot: string; time: string }>, vehicleId: null as string | null, when: '', prompt: '' };
    h.openai.respond((body): FakeTurn | undefined => {
      script.prompt = String(body.messages[0]?.content ?? '');
      const r = lastToolResult(body);
      if (r) {
        switch (r.name) {
          case 'lookup_customer': return { text: 'Con gusto. ¿Me da su apellido y el código postal de su cuenta?' };
          case 'verify_customer': {
            assert.equal(r.result.verified, true, JSON.stringify(r.result));
            script.vehicleId = (r.result.vehicles as Array<{ vehicle_id: string }>)[0]?.vehicle_id ?? null;
            return { toolCalls: [{ name: 'get_available_slots', arguments: { date: tuesday, service_type: 'oil_change' } }] };
          }
          case 'get_available_slots':
            script.offered = r.result.slots as Array<{ slot: string; time: string }>;
            return { text: `El ${String(r.result.day)} tengo ${script.offered.map((s) => s.time).join(', ')}. ¿Cuál le conviene?` };
          case 'book_appointment':
            assert.equal(r.result.booked, true, JSON.stringify(r.result));
            script.when = String(r.result.when);
            return { text: `Listo, su cita quedó para ${script.when}. ¿Algo más?` };
          default: return { text: 'De acuerdo.' };
        }
      }
      const said = String(body.messages[body.messages.length - 1]!.content ?? '').toLowerCase();
      if (said.includes('cambio de aceite')) return { toolCalls: [{ name: 'lookup_customer', arguments: {} }] };
      if (said.includes('khani')) return { toolCalls: [{ name: 'verify_customer', arguments: { first_name: null, last_name: 'Khani', vin_last4: null, zip: '94087' } }] };
      if (said.includes('primera')) return { toolCalls: [{ name: 'book_appointment', arguments: { start: script.offered[0]!.slot, service_type: 'oil_change', vehicle_id: script.vehicleId } }] };
      return undefined;
    });

    const { callSid, call } = await h.placeInboundCall({ from: ALI, to: DEMO_NUMBER });
    const session = await voiceSession(h.p, callSid);
    await agentIdle(session, call);

    // The greeting and every scripted line were synthesised in Spanish with the Spanish voice.
    const greeting = `${MESSAGES.es.greeting('Sunnyvale Honda Service')} For English, press two.`;
    const rest = h.deepgram.speak.restRequests;
    assert.ok(rest.some((r) => r.text === greeting), JSON.stringify(rest.map((r) => r.text)));
    // Spanish lines in the Spanish voice; the English ones (for a caller who presses 2) never in it.
    const spanishVoice = rest.filter((r) => r.query.model === 'aura-2-celeste-es').map((r) => r.text);
    assert.ok(spanishVoice.includes(greeting));
    for (const line of Object.values(MESSAGES.es.lines)) assert.ok(spanishVoice.includes(line), `"${line}" is cached in the Spanish voice`);
    for (const line of Object.values(MESSAGES.en.lines)) assert.ok(!spanishVoice.includes(line), `"${line}" is not spoken by the Spanish voice`);

    for (const [t, ms] of [['Hola, quiero un cambio de aceite para el martes.', 1200], ['Khani, nueve cuatro cero ocho siete.', 900], ['La primera, por favor.', 700]] as const) {
      await callerSays({ h, session, call, transcript: t, ms });
      await agentIdle(session, call, 30_000);
    }

    const listen = h.deepgram.listen.records[0]!;
    // A bilingual line listens for the caller's language (docs/languages.md): nova-3 in its multilingual mode.
    assert.equal(listen.query.language, 'multi');
    assert.equal(listen.query.model, 'nova-3', 'nova-2-phonecall is English-only');
    assert.equal(h.deepgram.listen.sessions, 1, 'Spanish answers on a Spanish-first line switch nothing');
    assert.equal(h.deepgram.speak.records[0]!.query.model, 'aura-2-celeste-es', 'the live speak socket uses the Spanish voice');
    assert.match(script.prompt, /Responda siempre en español/);
    assert.match(script.prompt, /Usted contesta el teléfono de Sunnyvale Honda Service\. Hoy es \p{L}+ \d+ de \p{L}+ de \d{4}/u);

    // The booking: one row, confirmed to the caller in Spanish words for day and time.
    const at = DateTime.fromISO(script.offered[0]!.slot, { zone: ZONE });
    const expected = `el ${at.setLocale('es').toFormat("cccc d 'de' LLLL")} ${at.hour === 1 || at.hour === 13 ? 'a la' : 'a las'} ${at.toFormat('h:mm')} de la mañana`;
    assert.equal(script.when, expected);
    assert.match(script.when, /^el martes \d+ de [a-z]+ a las \d{1,2}:\d{2} de la mañana$/);
    assert.ok(h.deepgram.speak.texts.join('').includes(`su cita quedó para ${expected}`), 'the confirmation went to the Spanish voice');
    const appts = await h.p.tenants.withTenant(h.tenantId, (trx) => trx('appointments').where({ service_type: 'oil_change', status: 'booked' })
      .where('starts_at', '=', at.toJSDate()).select('id'));
    assert.equal(appts.length, 1);
  });

  it('a caller on an English-first line presses 2 during the greeting: Spanish STT and voice reopened, Spanish greeting and prompt, dates in Spanish', async () => {
    // Keypad only (no speech detection): the STT runs per language, so the keypad choice reopens it for Spanish.
    await h.p.tenants.updateConfig(h.tenantId, { ...demoConfig(), languages: ['en', 'es'], languageDetection: false });
    let request: ChatRequestBody | undefined;
    let slotsDay = '';
    h.openai.respond((body): FakeTurn | undefined => {
      request = body;
      const r = lastToolResult(body);
      if (r?.name === 'get_available_slots') { slotsDay = String(r.result.day); return { text: `El ${slotsDay} tengo horarios libres.` }; }
      if (String(body.messages.at(-1)!.content ?? '').includes('martes')) return { toolCalls: [{ name: 'get_available_slots', arguments: { date: nextTuesday(), service_type: 'oil_change' } }] };
      return { text: 'Claro.' };
    });
    const listenBefore = h.deepgram.listen.records.length;
    const speakBefore = h.deepgram.speak.records.length;
    const { callSid, call } = await h.placeInboundCall({ from: '+14085550999', to: DEMO_NUMBER });
    const session = await voiceSession(h.p, callSid);
    const switched = new Promise<string>((r) => session.once('language', (e) => r(e.language)));
    await h.deepgram.listen.waitForSessions(listenBefore + 1);
    call.dtmf('2');
    assert.equal(await switched, 'es');
    await agentIdle(session, call);

    const listens = h.deepgram.listen.records.slice(listenBefore);
    assert.equal(listens[0]!.query.model, 'nova-2-phonecall', 'the call opened in English');
    await h.deepgram.listen.waitForSessions(listenBefore + 2);
    const es = h.deepgram.listen.records.slice(listenBefore)[1]!;
    assert.equal(es.query.language, 'es');
    assert.equal(es.query.model, 'nova-3');
    await h.deepgram.speak.waitForSessions(speakBefore + 2);
    assert.equal(h.deepgram.speak.records.at(-1)!.query.model, 'aura-2-celeste-es', 'the new speak socket has the Spanish voice');

    await callerSays({ h, session, call, transcript: '¿Tienen algo el martes?', ms: 900 });
    await agentIdle(session, call, 30_000);
    assert.ok(request);
    assert.match(String(request.messages[0]!.content), /Responda siempre en español/);
    assert.ok(request.messages.some((m) => m.role === 'assistant' && String(m.content).startsWith(MESSAGES.es.greeting('Sunnyvale Honda Service'))), 'the model knows the caller heard the Spanish greeting');
    assert.match(slotsDay, /^martes \d+ de \p{L}+$/u, 'tool results speak dates in the call language');
    const events = await h.p.tenants.withTenant(h.tenantId, async (trx) => {
      const c = await trx('calls').where({ call_sid: callSid }).first('id');
      return trx('call_events').where({ call_id: c.id, kind: 'language' }).select('payload');
    });
    assert.deepEqual(events.map((e: { payload: unknown }) => e.payload), [{ from: 'en', to: 'es', source: 'dtmf' }]);
  });

  it('with speech detection on, pressing 2 switches through the same path: Spanish voice, prompt and greeting, the multilingual STT socket kept', async () => {
    await h.p.tenants.updateConfig(h.tenantId, { ...demoConfig(), languages: ['en', 'es'] });
    let request: ChatRequestBody | undefined;
    h.openai.respond((body): FakeTurn => { request = body; return { text: 'Claro.' }; });
    const listenBefore = h.deepgram.listen.sessions;
    const speakBefore = h.deepgram.speak.sessions;
    const { callSid, call } = await h.placeInboundCall({ from: '+14085550998', to: DEMO_NUMBER });
    const session = await voiceSession(h.p, callSid);
    await h.deepgram.listen.waitForSessions(listenBefore + 1);
    await h.deepgram.speak.waitForSessions(speakBefore + 1);
    call.dtmf('2');
    await agentIdle(session, call);
    await h.deepgram.speak.waitForSessions(speakBefore + 2);
    assert.equal(h.deepgram.speak.records.at(-1)!.query.model, 'aura-2-celeste-es');
    await callerSays({ h, session, call, transcript: 'Sí, para el martes.', ms: 800 });
    await agentIdle(session, call, 30_000);
    assert.match(String(request!.messages[0]!.content), /Responda siempre en español/);
    assert.ok(request!.messages.some((m) => m.role === 'assistant' && String(m.content).startsWith(MESSAGES.es.greeting('Sunnyvale Honda Service'))), 'the keypad switch replays the greeting in Spanish');
    assert.equal(h.deepgram.listen.sessions, listenBefore + 1, 'the multilingual socket hears Spanish as it is');
    assert.equal(h.deepgram.listen.records[listenBefore]!.query.language, 'multi');
    const events = await h.p.tenants.withTenant(h.tenantId, async (trx) => {
      const c = await trx('calls').where({ call_sid: callSid }).first('id');
      return trx('call_events').where({ call_id: c.id, kind: 'language' }).select('payload');
    });
    assert.deepEqual(events.map((e: { payload: unknown }) => e.payload), [{ from: 'en', to: 'es', source: 'dtmf' }]);
    call.close();
  });
});
