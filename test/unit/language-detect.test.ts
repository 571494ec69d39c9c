import assert from 'node:assert/strict';
import { detectsSpokenLanguage, SpokenLanguage } from '../../core/i18n/language-detect.js';
import { parseDealershipConfig } from '../../core/tenancy/config.js';
import { demoConfig } from '../../core/tenancy/seed.js';
import { callLanguages } from '../../core/voice/language-switch.js';
import { resolveCallLanguage } from '../../core/i18n/call-language.js';
import { isServiceLaneError } from '../../core/errors.js';
import { dominantLanguage, mapListenMessage } from '../../plugins/stt-deepgram/stt.js';

describe('spoken language detection (the rule against flapping)', () => {
  const fresh = () => new SpokenLanguage({ served: ['en', 'es'], current: 'en' });

  it('switches on one final of three or more words in another served language, once', () => {
    const d = fresh();
    d.observe('Quiero una cita', 'es');
    assert.equal(d.take(), 'es');
    assert.equal(d.take(), undefined, 'a decision is taken once');
  });
  it('ignores one-word finals, which are the same in both languages or too short to tell', () => {
    const d = fresh();
    for (const w of ['Sí.', 'No.', 'Okay.', 'Honda.', '94087']) d.observe(w, 'es');
    assert.equal(d.take(), undefined);
  });
  it('switches on two consecutive two-word finals in the same other language, and a final in the current language breaks the streak', () => {
    const d = fresh();
    d.observe('Buenas tardes', 'es');
    assert.equal(d.take(), undefined, 'one short final is not enough');
    d.observe('Yes please', 'en');
    d.observe('Por favor', 'es');
    assert.equal(d.take(), undefined, 'the English final reset the streak');
    d.observe('Mi carro', 'es');
    assert.equal(d.take(), 'es');
  });
  it('never switches to a language the tenant does not serve, nor on finals with no reported language', () => {
    const d = fresh();
    d.observe('Je voudrais un rendez-vous demain', 'fr');
    d.observe('Quiero una cita para mañana', undefined);
    assert.equal(d.take(), undefined);
  });
  it('takes regional tags as their language, and after a switch the new language is the current one', () => {
    const d = fresh();
    d.observe('Necesito cambiar el aceite', 'es-419');
    assert.equal(d.take(), 'es');
    d.observe('Necesito cambiar las llantas', 'es');
    assert.equal(d.take(), undefined, 'already in Spanish');
    d.observe('Actually can we do English', 'en-US');
    assert.equal(d.take(), 'en', 'and back');
  });
  it('forgets its evidence when the keypad switched the call', () => {
    const d = fresh();
    d.observe('Buenas tardes', 'es');
    d.switchedTo('es');
    d.observe('Mi carro', 'es');
    assert.equal(d.take(), undefined);
  });
});

describe('which calls listen for the caller\'s language', () => {
  it('a bilingual tenant does by default (STT opened `multi` in every language); one language or languageDetection:false does not', () => {
    const bilingual = parseDealershipConfig({ ...demoConfig(), languages: ['en', 'es'] });
    assert.equal(detectsSpokenLanguage(bilingual), true);
    assert.equal(detectsSpokenLanguage(parseDealershipConfig(demoConfig())), false);
    const keypadOnly = parseDealershipConfig({ ...demoConfig(), languages: ['en', 'es'], languageDetection: false });
    assert.equal(detectsSpokenLanguage(keypadOnly), false);

    const speechFor = () => ({ linesSlot: 's', configKey: 'k', systemPrompt: 'p' });
    const on = callLanguages({ cfg: bilingual, start: resolveCallLanguage(bilingual, 'en', { detect: true }), speechFor });
    assert.ok(on.spoken);
    assert.equal(on.resolve('es')!.sttLanguage, 'multi');
    assert.equal(on.resolve('en')!.sttLanguage, 'multi');
    assert.equal(on.resolve('fr'), undefined);
    assert.equal(on.forDigit('2'), 'es');
    const off = callLanguages({ cfg: keypadOnly, start: resolveCallLanguage(keypadOnly, 'en'), speechFor });
    assert.equal(off.spoken, undefined);
    assert.equal(off.resolve('es')!.sttLanguage, 'es');
  });
  it('refuses a non-boolean languageDetection with TEN_ERR_CONFIG_INVALID', () => {
    assert.throws(() => parseDealershipConfig({ ...demoConfig(), languages: ['en', 'es'], languageDetection: 'yes' }), (e: unknown) => isServiceLaneError(e) && e.code === 'TEN_ERR_CONFIG_INVALID');
  });
});

describe('stt-deepgram: the language of a multilingual final', () => {
  const results = (alt: Record<string, unknown>, isFinal = true) => ({ type: 'Results', is_final: isFinal, speech_final: true, channel: { alternatives: [alt] } });

  it('is the first of `languages` (sorted by word count, most first)', () => {
    assert.deepEqual(mapListenMessage(results({ transcript: 'No recuerdo mi bank password.', languages: ['es', 'en'], words: [] })),
      { type: 'final', text: 'No recuerdo mi bank password.', speechFinal: true, language: 'es' });
  });
  it('falls back to the most frequent word language, and is absent when Deepgram reported none or heard nothing', () => {
    assert.equal(dominantLanguage({ words: [{ language: 'en' }, { language: 'es' }, { language: 'es' }] }), 'es');
    assert.deepEqual(mapListenMessage(results({ transcript: 'Hello there', words: [{}] })), { type: 'final', text: 'Hello there', speechFinal: true });
    assert.deepEqual(mapListenMessage(results({ transcript: '', languages: [] })), { type: 'final', text: '', speechFinal: true });
    assert.deepEqual(mapListenMessage(results({ transcript: 'Hola', languages: ['es'] }, false)), { type: 'interim', text: 'Hola' });
  });
});
