// The three provider plugins with their real SDKs pointed at the protocol-faithful fakes.
import assert from 'node:assert/strict';
import type { LlmDelta, PluginContext, TranscriptEvent } from '../../core/sdk/index.js';
import sttPlugin from '../../plugins/stt-deepgram/index.js';
import llmPlugin from '../../plugins/llm-openai/index.js';
import ttsPlugin from '../../plugins/tts-deepgram/index.js';
import { startFakeDeepgram, type FakeDeepgram } from '../fakes/deepgram.js';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { FRAME_BYTES, silence, tone } from '../fakes/mulaw.js';
import { createTestContext } from '../../core/sdk/testing/index.js';
import { until } from '../helpers/until.js';

/** The SDK's test context: the real egress policy (loopback allow-listed, where the fakes listen), no platform env. */
function ctx(): PluginContext {
  return createTestContext({ pluginId: 'x', tenantId: 't1' });
}

describe('stt-deepgram plugin', () => {
  let dg: FakeDeepgram;
  beforeEach(async () => { dg = await startFakeDeepgram({ apiKey: 'dg-test' }); });
  afterEach(() => dg.close());

  const make = async (key = 'dg-test') => sttPlugin.create(ctx(), { settings: { baseUrl: dg.url }, credentials: { apiKey: key } });

  it('opens listen v1 with phone-call options and maps messages to transcript events', async () => {
    const stt = await make();
    const events: TranscriptEvent[] = [];
    dg.listen.enqueueTranscripts(['I need an oil change']);
    const s = await stt.open({ encoding: 'mulaw', sampleRateHz: 8000, onEvent: (e) => events.push(e) });
    const q = dg.listen.lastSession!.query;
    assert.deepEqual(
      { model: q.model, encoding: q.encoding, sample_rate: q.sample_rate, interim_results: q.interim_results, endpointing: q.endpointing, utterance_end_ms: q.utterance_end_ms, vad_events: q.vad_events },
      { model: 'nova-2-phonecall', encoding: 'mulaw', sample_rate: '8000', interim_results: 'true', endpointing: '100', utterance_end_ms: '1000', vad_events: 'true' },
    );
    const audio = Buffer.concat([silence(60), tone(600, 220, 8000), silence(1200)]);
    for (let off = 0; off < audio.length; off += FRAME_BYTES) s.push(audio.subarray(off, off + FRAME_BYTES));
    await until(() => events.some((e) => e.type === 'utterance_end'));
    assert.equal(events[0]!.type, 'speech_started');
    assert.ok(events.some((e) => e.type === 'interim'));
    assert.deepEqual(events.find((e) => e.type === 'final'), { type: 'final', text: 'I need an oil change', speechFinal: true });
    await s.close();
    assert.equal(dg.listen.lastSession!.closeStream, true, 'CloseStream sent before closing');
    assert.equal(events[events.length - 1]!.type, 'closed');
    assert.equal((events[events.length - 1] as { error?: Error }).error, undefined);
    await until(() => dg.listen.openSessions === 0);
  });

  it('reports an unexpected drop once as closed with an error and does not reconnect by itself', async () => {
    const stt = await make();
    const events: TranscriptEvent[] = [];
    const s = await stt.open({ encoding: 'mulaw', sampleRateHz: 8000, onEvent: (e) => events.push(e) });
    dg.listen.kill(1011);
    await until(() => events.some((e) => e.type === 'closed'));
    const closed = events.find((e) => e.type === 'closed') as { error?: Error & { category?: string } };
    assert.equal(closed.error?.category, 'connectivity');
    s.push(silence(20)); // after the drop: ignored, no throw
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(dg.listen.sessions, 1, 'the SDK opened no second session');
    await s.close();
  });

  it('refuses a bad key with an auth PluginError and leaves no session open', async () => {
    const stt = await make('wrong');
    await assert.rejects(stt.open({ encoding: 'mulaw', sampleRateHz: 8000, onEvent: () => {} }), (e: unknown) => (e as { category?: string }).category === 'auth');
    assert.equal(dg.listen.sessions, 0);
  });
});

describe('tts-deepgram plugin', () => {
  let dg: FakeDeepgram;
  beforeEach(async () => { dg = await startFakeDeepgram({ apiKey: 'dg-test' }); });
  afterEach(() => dg.close());

  const make = async () => ttsPlugin.create(ctx(), { settings: { voice: 'aura-luna-en', baseUrl: dg.url }, credentials: { apiKey: 'dg-test' } });

  it('speaks clause by clause, delivers audio in order, then Flushed with the flush sequence', async () => {
    const tts = await make();
    const chunks: Buffer[] = [];
    const flushed: number[] = [];
    const order: string[] = [];
    const s = await tts.open({
      encoding: 'mulaw', sampleRateHz: 8000, voice: 'aura-asteria-en',
      onAudio: (b) => { chunks.push(b); if (order[order.length - 1] !== 'audio') order.push('audio'); },
      onFlushed: (n) => { flushed.push(n); order.push(`flushed:${n}`); },
      onError: (e) => { throw e; },
    });
    assert.equal(dg.speak.lastSession!.query.model, 'aura-asteria-en');
    assert.equal(dg.speak.lastSession!.query.sample_rate, '8000');
    s.speak('Hello there.');
    assert.equal(s.flush(), 0);
    s.speak('Second clause,');
    assert.equal(s.flush(), 1);
    await until(() => flushed.length === 2);
    assert.deepEqual(order, ['audio', 'flushed:0', 'audio', 'flushed:1']);
    assert.equal(chunks.reduce((n, c) => n + c.length, 0), ('Hello there.'.length + 'Second clause,'.length) * 60 * 8);
    await s.close();
    await until(() => dg.speak.openSessions === 0);
  });

  it('drops audio synthesised before Clear and plays what follows', async () => {
    const tts = await make();
    let bytes = 0;
    const flushed: number[] = [];
    const s = await tts.open({ encoding: 'mulaw', sampleRateHz: 8000, onAudio: (b) => { bytes += b.length; }, onFlushed: (n) => flushed.push(n), onError: () => {} });
    s.speak('A long answer that will be interrupted by the caller before it finishes.');
    s.flush();
    await until(() => bytes > 0);
    s.clear();
    const afterClear = bytes;
    s.speak('Okay.');
    s.flush();
    await until(() => flushed.length === 1);
    assert.equal(flushed[0], 1);
    assert.ok(bytes - afterClear <= 'Okay.'.length * 60 * 8 + 1600, 'at most one stale chunk slipped in before clear() ran');
    assert.equal(dg.speak.clears, 1);
    await s.close();
  });

  it('synthesises a whole line over REST as raw μ-law and maps a 400 to invalid_request', async () => {
    const tts = await make();
    const audio = await tts.synthesize({ encoding: 'mulaw', sampleRateHz: 8000, text: 'Hi there' });
    assert.equal(audio.length, 8 * 60 * 8);
    assert.equal(dg.speak.restRequests[0]!.query.container, 'none');
    assert.equal(dg.speak.restRequests[0]!.query.model, 'aura-luna-en');
    await assert.rejects(tts.synthesize({ encoding: 'mulaw', sampleRateHz: 8000, text: ' ' }), (e: unknown) => (e as { category?: string }).category === 'invalid_request');
  });

  it('reports an unexpected drop through onError', async () => {
    const tts = await make();
    const errors: Error[] = [];
    const s = await tts.open({ encoding: 'mulaw', sampleRateHz: 8000, onAudio: () => {}, onFlushed: () => {}, onError: (e) => errors.push(e) });
    dg.speak.kill(1011);
    await until(() => errors.length === 1);
    assert.equal((errors[0] as { category?: string }).category, 'connectivity');
    await s.close();
  });
});

describe('llm-openai plugin', () => {
  let ai: FakeOpenAI;
  beforeEach(async () => { ai = await startFakeOpenAI({ apiKey: 'sk-test' }); });
  afterEach(() => ai.close());

  const make = async () => llmPlugin.create(ctx(), { settings: { baseUrl: ai.url + '/v1' }, credentials: { apiKey: 'sk-test' } });
  const collect = async (it: AsyncIterable<LlmDelta>): Promise<LlmDelta[]> => { const out: LlmDelta[] = []; for await (const d of it) out.push(d); return out; };

  it('streams text then done with usage, asking for include_usage and the default model', async () => {
    const llm = await make();
    ai.enqueue({ text: 'Sure, I can help with that.' });
    const out = await collect(llm.generate({ messages: [{ role: 'user', content: 'hi' }] }));
    assert.equal(out.filter((d) => d.type === 'text').map((d) => (d as { text: string }).text).join(''), 'Sure, I can help with that.');
    const done = out[out.length - 1] as Extract<LlmDelta, { type: 'done' }>;
    assert.equal(done.finishReason, 'stop');
    assert.ok(done.usage && done.usage.promptTokens > 0);
    const body = ai.lastRequest!.body;
    assert.equal(body.model, 'gpt-4o');
    assert.deepEqual(body.stream_options, { include_usage: true });
    assert.equal(body.tools, undefined);
  });

  it('accumulates parallel tool-call fragments by index into whole calls', async () => {
    const llm = await make();
    ai.enqueue({ toolCalls: [{ name: 'get_available_slots', arguments: { date: '2026-03-03', service_type: 'oil_change' }, id: 'call_A' }, { name: 'lookup_customer', arguments: {}, id: 'call_B' }] });
    const out = await collect(llm.generate({
      messages: [{ role: 'user', content: 'slots?' }],
      tools: [{ name: 'get_available_slots', description: 'd', parameters: { type: 'object', properties: {} } }],
      model: 'gpt-4o-mini',
    }));
    const calls = out.filter((d) => d.type === 'tool_call').map((d) => (d as Extract<LlmDelta, { type: 'tool_call' }>).call);
    assert.deepEqual(calls, [
      { id: 'call_A', type: 'function', function: { name: 'get_available_slots', arguments: JSON.stringify({ date: '2026-03-03', service_type: 'oil_change' }) } },
      { id: 'call_B', type: 'function', function: { name: 'lookup_customer', arguments: '{}' } },
    ]);
    assert.equal((out[out.length - 1] as { finishReason: string }).finishReason, 'tool_calls');
    assert.equal(ai.lastRequest!.body.parallel_tool_calls, true);
    assert.equal(ai.lastRequest!.body.model, 'gpt-4o-mini');
  });

  it('closes the HTTP stream at once when the signal aborts, without throwing', async () => {
    const llm = await make();
    ai.enqueue({ text: 'one two three four five six seven eight nine ten eleven twelve', chunkDelayMs: 30, wordsPerChunk: 1 });
    const ac = new AbortController();
    const out: LlmDelta[] = [];
    for await (const d of llm.generate({ messages: [{ role: 'user', content: 'x' }], signal: ac.signal })) {
      out.push(d);
      if (out.length === 2) ac.abort();
    }
    await ai.waitForAbort(1);
    assert.ok(!out.some((d) => d.type === 'done'));
  });

  it('closes the stream when the consumer stops iterating', async () => {
    const llm = await make();
    ai.enqueue({ text: 'one two three four five six seven eight nine ten', chunkDelayMs: 30, wordsPerChunk: 1 });
    for await (const d of llm.generate({ messages: [{ role: 'user', content: 'x' }] })) {
      if (d.type === 'text') break;
    }
    await ai.waitForAbort(1);
  });

  it('maps HTTP errors, mid-stream errors and a dropped stream to PluginError categories', async () => {
    const llm = await make();
    ai.enqueue({ error: { status: 429, message: 'slow down' } }, { text: 'a b c d', streamErrorAfterChunks: 2 }, { text: 'a b c d e f', dropAfterChunks: 2 });
    const cat = (want: string) => (e: unknown): boolean => (e as { category?: string }).category === want;
    await assert.rejects(collect(llm.generate({ messages: [{ role: 'user', content: 'x' }] })), cat('rate_limit'));
    await assert.rejects(collect(llm.generate({ messages: [{ role: 'user', content: 'x' }] })), cat('upstream'));
    await assert.rejects(collect(llm.generate({ messages: [{ role: 'user', content: 'x' }] })), cat('connectivity'));
  });
});
