// tts-elevenlabs against the fake ElevenLabs (test/fakes/elevenlabs.ts): wire format, clause order, barge-in.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { isPluginError, type TtsProvider } from '../../core/sdk/index.js';
import ttsElevenlabs from '../../plugins/tts-elevenlabs/index.js';
import { startFakeElevenLabs, type FakeElevenLabs } from '../fakes/elevenlabs.js';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.js';
import { createPluginTestContext } from '../helpers/plugin-context.js';
import { until } from '../helpers/call-harness.js';

const demo = JSON.parse(fs.readFileSync(new URL('../../tenants/examples/demo-dealership.json', import.meta.url), 'utf8')) as unknown;
const FORMAT = { encoding: 'mulaw', sampleRateHz: 8000 } as const;

describe('tts-elevenlabs plugin', () => {
  let tp: TestPlatform;
  let fake: FakeElevenLabs;
  let tts: TtsProvider;
  before(async () => {
    tp = await startTestPlatform();
    fake = await startFakeElevenLabs({ msPerChar: 10, chunkBytes: 400 });
    const tenantId = (await tp.p.tenants.create({ name: 'EL', config: demo })).id;
    const ctx = createPluginTestContext({ p: tp.p, tenantId, pluginId: 'tts-elevenlabs' });
    tts = await ttsElevenlabs.create(ctx, { settings: { baseUrl: fake.url, voiceId: 'voiceEnglish01', languageCode: 'es' }, credentials: { apiKey: 'el-test-key' } }) as TtsProvider;
  });
  after(async () => { await fake?.close(); await tp?.close(); });

  it('opens multi-stream-input with ulaw_8000 and the call voice, and streams each clause as its own context, in flush order', async () => {
    const audio: Buffer[] = [];
    const flushed: number[] = [];
    const s = await tts.open({ ...FORMAT, voice: 'voiceSpanish02', onAudio: (b) => audio.push(b), onFlushed: (n) => flushed.push(n), onError: (e) => { throw e; } });
    const rec = fake.sessions.at(-1)!;
    assert.equal(rec.voiceId, 'voiceSpanish02');
    assert.equal(rec.query.output_format, 'ulaw_8000');
    assert.equal(rec.query.model_id, 'eleven_flash_v2_5');
    s.speak('Claro, tengo un horario el martes a las nueve y media de la mañana.');
    const a = s.flush();
    s.speak('¿Le conviene?');
    const b = s.flush();
    await until(() => flushed.length === 2, 10_000, 'both clauses');
    assert.deepEqual(flushed, [a, b]);
    const total = audio.reduce((n, x) => n + x.length, 0);
    const c1 = rec.contexts.get(`c${a}`)!;
    const c2 = rec.contexts.get(`c${b}`)!;
    assert.equal(total, c1.bytesSent + c2.bytesSent, 'every byte arrived once');
    assert.ok(c1.texts.length === 0 && c1.flushes === 1 && c1.closed, 'flushed and closed');
    await s.close();
  });

  it('on barge-in closes the open contexts without closing the socket, drops their late audio, and speaks the next clause', async () => {
    let bytes = 0;
    const flushed: number[] = [];
    const s = await tts.open({ ...FORMAT, onAudio: (b) => { bytes += b.length; }, onFlushed: (n) => flushed.push(n), onError: (e) => { throw e; } });
    const rec = fake.sessions.at(-1)!;
    s.speak('A long answer that the caller is about to talk over, with many words in it so that it takes a while.');
    const a = s.flush();
    await until(() => bytes > 0, 5000, 'first audio');
    s.clear();
    const at = bytes;
    s.speak('Sí, dígame.');
    const b = s.flush();
    await until(() => flushed.includes(b), 10_000, 'the next clause');
    assert.ok(!flushed.includes(a), 'the cut clause is never reported as played');
    assert.ok(rec.open, 'the socket stayed open');
    assert.equal(bytes - at, rec.contexts.get(`c${b}`)!.bytesSent, 'only the new clause was passed on after the clear');
    assert.ok(rec.messages.some((m) => m.context_id === `c${a}` && m.close_context === true));
    await s.close();
  });

  it('synthesizes cached lines over REST with the model, language and ulaw_8000, and maps a refused request (429) to rate_limit', async () => {
    const audio = await tts.synthesize({ ...FORMAT, text: 'Un momento, por favor.' });
    assert.ok(audio.length > 0);
    const r = fake.restRequests.at(-1)!;
    assert.equal(r.query.output_format, 'ulaw_8000');
    assert.equal(r.voiceId, 'voiceEnglish01');
    assert.deepEqual({ model: r.body.model_id, lang: r.body.language_code, text: r.body.text }, { model: 'eleven_flash_v2_5', lang: 'es', text: 'Un momento, por favor.' });
    fake.refuseRest(429);
    await assert.rejects(tts.synthesize({ ...FORMAT, text: 'x' }), (e: unknown) => isPluginError(e) && e.category === 'rate_limit');
    fake.refuseRest(null);
  });
});
