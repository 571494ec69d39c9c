import assert from 'node:assert/strict';
import { DateTime } from 'luxon';
import { speakDate, speakTime, speakWhen } from '../../core/i18n/speech-dates.js';
import { languageForDigit, resolveCallLanguage } from '../../core/i18n/call-language.js';
import { LINE_NAMES, MESSAGES } from '../../core/i18n/messages.js';
import { parseDealershipConfig } from '../../core/tenancy/config.js';
import { demoConfig } from '../../core/tenancy/seed.js';
import { buildSystemPrompt } from '../../core/voice/prompt.js';
import { modelFor } from '../../plugins/stt-deepgram/stt.js';
import { isServiceLaneError } from '../../core/errors.js';

const ZONE = 'America/Los_Angeles';

describe('spoken dates per language', () => {
  it('says a Spanish slot as "el martes 10 de marzo a las 9:30 de la mañana", in the dealership zone', () => {
    const at = DateTime.fromISO('2026-03-10T16:30:00Z').setZone(ZONE);
    assert.equal(speakWhen(at, 'es'), 'el martes 10 de marzo a las 9:30 de la mañana');
    assert.equal(speakWhen(at, 'en-US'), 'Tuesday, March 10 at 9:30 AM');
  });
  it('uses "a la" for one o\'clock and names the afternoon', () => {
    const at = DateTime.fromISO('2026-03-10T13:15:00', { zone: ZONE });
    assert.equal(speakWhen(at, 'es'), 'el martes 10 de marzo a la 1:15 de la tarde');
    assert.equal(speakTime(DateTime.fromISO('2026-03-10T12:00:00', { zone: ZONE }), 'es'), '12:00 del mediodía');
    assert.equal(speakDate(at, 'es'), '10 de marzo de 2026');
  });
});

describe('call language', () => {
  const bilingual = () => parseDealershipConfig({ ...demoConfig(), languages: ['en', 'es'] });

  it('has every scripted line in every language', () => {
    for (const m of Object.values(MESSAGES)) for (const n of LINE_NAMES) assert.ok(m.lines[n].length > 0, n);
  });
  it('offers Spanish by keypad in the English greeting, and the digit selects it', () => {
    const cfg = bilingual();
    const en = resolveCallLanguage(cfg, 'en');
    assert.match(en.greeting, /Para español, oprima dos\.$/);
    assert.equal(languageForDigit(cfg, '2'), 'es');
    assert.equal(languageForDigit(cfg, '3'), undefined);
    assert.equal(languageForDigit(parseDealershipConfig(demoConfig()), '2'), undefined, 'an English-only tenant has no language digit');
  });
  it('takes the tenant\'s per-language lines and voice over the defaults', () => {
    const cfg = parseDealershipConfig({ ...demoConfig(), languages: ['es'], agent: { voices: { es: 'aura-2-javier-es' }, lines: { es: { goodbye: '¡Hasta luego!', greeting: 'Hola, taller Sunnyvale.' } } } });
    const es = resolveCallLanguage(cfg);
    assert.equal(es.language, 'es');
    assert.equal(es.voice, 'aura-2-javier-es');
    assert.equal(es.lines.goodbye, '¡Hasta luego!');
    assert.equal(es.lines.filler, MESSAGES.es.lines.filler);
    assert.equal(es.greeting, 'Hola, taller Sunnyvale.');
    assert.equal(es.sttLanguage, 'es');
  });
  it('refuses a language the agent cannot speak, with TEN_ERR_CONFIG_INVALID', () => {
    assert.throws(() => parseDealershipConfig({ ...demoConfig(), languages: ['en', 'fr'] }), (e: unknown) => isServiceLaneError(e) && e.code === 'TEN_ERR_CONFIG_INVALID');
    assert.throws(() => parseDealershipConfig({ ...demoConfig(), agent: { lines: { es: { hello: 'hola' } } } }), (e: unknown) => isServiceLaneError(e) && e.code === 'TEN_ERR_CONFIG_INVALID');
  });
  it('writes the system prompt in Spanish for a Spanish call', () => {
    const p = buildSystemPrompt(bilingual(), { now: new Date('2026-03-03T17:00:00Z'), language: 'es' });
    assert.match(p, /Hoy es martes 3 de marzo de 2026 y la hora local es 9:00 de la mañana/);
    assert.match(p, /Responda siempre en español/);
    assert.doesNotMatch(p, /How to talk/);
  });
});

describe('stt-deepgram model per language', () => {
  it('keeps nova-2-phonecall for English and moves Spanish to nova-3 (phonecall is English-only)', () => {
    assert.equal(modelFor('en-US', {}), 'nova-2-phonecall');
    assert.equal(modelFor('es', {}), 'nova-3');
    assert.equal(modelFor('es', { model: 'nova-2-phonecall' }), 'nova-3');
    assert.equal(modelFor('es', { languageModels: { es: 'nova-2' } }), 'nova-2');
  });
});
