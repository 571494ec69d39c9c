// stt-deepgram in Deepgram's code-switching mode (`language=multi`), with the real SDK against the fake: what the
// socket is opened with, and the language each final reports (docs/languages.md).
import assert from 'node:assert/strict';
import type { SttSession, TranscriptEvent } from '../../core/sdk/index.js';
import { createTestContext } from '../../core/sdk/testing/index.js';
import { waitFor } from '../../core/sdk/testing/common.js';
import sttPlugin from '../../plugins/stt-deepgram/index.js';
import { startFakeDeepgram, type FakeDeepgram } from '../fakes/deepgram.js';
import { FRAME_BYTES, silence, tone } from '../fakes/mulaw.js';

describe('stt-deepgram in multilingual mode', () => {
  let dg: FakeDeepgram;
  const sessions: SttSession[] = [];
  beforeEach(async () => { dg = await startFakeDeepgram({ apiKey: 'dg-test' }); });
  afterEach(async () => {
    await Promise.allSettled(sessions.splice(0).map((s) => s.close()));
    await dg.close();
  });

  const make = (settings: Record<string, unknown> = {}) =>
    sttPlugin.create(createTestContext({ pluginId: 'stt-deepgram', tenantId: 't1' }), { settings: { baseUrl: dg.url, ...settings }, credentials: { apiKey: 'dg-test' } });

  /** One burst of speech per utterance, then enough silence for the final and UtteranceEnd. */
  async function speak(s: SttSession, events: TranscriptEvent[], n: number): Promise<void> {
    const audio = Buffer.concat([silence(60), tone(600, 220, 8000), silence(1200)]);
    for (let off = 0; off < audio.length; off += FRAME_BYTES) s.push(audio.subarray(off, off + FRAME_BYTES));
    await waitFor(() => events.filter((e) => e.type === 'utterance_end').length >= n, { timeoutMs: 5000, what: `utterance ${n}` });
  }

  it('opens nova-3 with language=multi and reports each final\'s dominant language; interims and monolingual finals carry none', async () => {
    const stt = await make();
    const events: TranscriptEvent[] = [];
    dg.listen.enqueueTranscripts([
      'Hola, quiero una cita para el martes.',
      { transcript: 'I need my oil changed, por favor.' },
      { transcript: 'Okay then', language: 'en' },
    ]);
    const s = await stt.open({ encoding: 'mulaw', sampleRateHz: 8000, language: 'multi', onEvent: (e) => events.push(e) });
    sessions.push(s);
    const q = dg.listen.lastSession!.query;
    assert.equal(q.language, 'multi');
    assert.equal(q.model, 'nova-3', 'nova-2-phonecall is English-only: multi runs on nova-3');
    for (let i = 1; i <= 3; i++) await speak(s, events, i);

    const finals = events.filter((e): e is Extract<TranscriptEvent, { type: 'final' }> => e.type === 'final');
    assert.deepEqual(finals.map((f) => [f.text, f.language]), [
      ['Hola, quiero una cita para el martes.', 'es'],
      // Mixed: five English words, two Spanish; Deepgram's `languages` lists the one with most words first.
      ['I need my oil changed, por favor.', 'en'],
      ['Okay then', 'en'],
    ]);
    const mixed = dg.listen.lastSession!.sent.filter((m) => m.type === 'Results' && m.is_final)[1] as { channel: { alternatives: Array<{ languages: string[]; words: Array<{ language: string }> }> } };
    assert.deepEqual(mixed.channel.alternatives[0]!.languages, ['en', 'es']);
    assert.deepEqual(mixed.channel.alternatives[0]!.words.map((w) => w.language), ['en', 'en', 'en', 'en', 'en', 'es', 'es']);
    assert.ok(events.some((e) => e.type === 'interim'), 'interim results arrived');
    for (const e of events) if (e.type === 'interim') assert.deepEqual(Object.keys(e).sort(), ['text', 'type']);
  });

  it('a session opened in one language reports no language on its finals', async () => {
    const stt = await make();
    const events: TranscriptEvent[] = [];
    dg.listen.enqueueTranscripts(['Hola, quiero una cita para el martes.']);
    const s = await stt.open({ encoding: 'mulaw', sampleRateHz: 8000, language: 'es', onEvent: (e) => events.push(e) });
    sessions.push(s);
    await speak(s, events, 1);
    assert.deepEqual(events.find((e) => e.type === 'final'), { type: 'final', text: 'Hola, quiero una cita para el martes.', speechFinal: true });
  });

  it('languageModels.multi picks the model; a model without a multilingual mode is refused as invalid_request', async () => {
    const nova2 = await make({ languageModels: { multi: 'nova-2' } });
    sessions.push(await nova2.open({ encoding: 'mulaw', sampleRateHz: 8000, language: 'multi', onEvent: () => {} }));
    assert.equal(dg.listen.lastSession!.query.model, 'nova-2');

    const phone = await make({ languageModels: { multi: 'nova-2-phonecall' } });
    await assert.rejects(phone.open({ encoding: 'mulaw', sampleRateHz: 8000, language: 'multi', onEvent: () => {} }),
      (e: unknown) => (e as { category?: string }).category === 'invalid_request');
    assert.equal(dg.listen.sessions, 1, 'the refused handshake opened no session');
  });
});
