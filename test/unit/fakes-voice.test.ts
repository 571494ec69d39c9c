// Proves the voice fakes speak each vendor's wire protocol: the REAL SDKs (openai, @deepgram/sdk,
// twilio) are pointed at them, and the media fake is driven by a tiny agent written here.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { DeepgramClient, DeepgramError } from '@deepgram/sdk';
import twilio from 'twilio';
import type RequestClient from 'twilio/lib/base/RequestClient.js';
import type * as TwilioHttpResponse from 'twilio/lib/http/response.js';
import { WebSocketServer, type WebSocket } from 'ws';
import { decode, encode, energy, silence, tone, FRAME_BYTES } from '../fakes/mulaw.js';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { startFakeDeepgram, type FakeDeepgram } from '../fakes/deepgram.js';
import { startFakeTwilioRest, type FakeTwilioRest } from '../fakes/twilio-rest.js';
import { connectMediaStream, mediaClock } from '../fakes/twilio-media.js';
import { postWebhook, statusCallbackParams, voiceWebhookParams } from '../fakes/twilio-webhooks.js';
import { until } from '../helpers/until.js';

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

describe('mulaw', () => {
  it('round-trips PCM within μ-law quantisation error', () => {
    const pcm = Int16Array.from([0, 100, -100, 1000, -1000, 12000, -12000, 32000, -32000]);
    const back = decode(encode(pcm));
    pcm.forEach((s, i) => assert.ok(Math.abs(back[i]! - s) <= Math.max(8, Math.abs(s) * 0.07), `${s} → ${back[i]}`));
  });

  it('tells a tone from silence by energy', () => {
    assert.equal(tone(20).length, FRAME_BYTES);
    assert.equal(energy(silence(20)), 0);
    assert.ok(energy(tone(20, 220, 8000)) > 3000);
    assert.ok(energy(tone(20, 220, 100)) < 500);
  });
});

describe('fake OpenAI with the real openai SDK', () => {
  let fake: FakeOpenAI;
  let client: OpenAI;
  beforeEach(async () => {
    fake = await startFakeOpenAI({ apiKey: 'sk-test' });
    client = new OpenAI({ apiKey: 'sk-test', baseURL: fake.url + '/v1', maxRetries: 0, timeout: 5000 });
  });
  afterEach(() => fake.close());

  it('streams a text turn in chunks ending with a usage chunk whose choices are empty', async () => {
    const text = 'Sure, I can book your oil change for Tuesday morning.';
    fake.enqueue({ text });
    const stream = await client.chat.completions.create({
      model: 'gpt-4o-mini', stream: true, stream_options: { include_usage: true },
      messages: [{ role: 'user', content: 'oil change please' }],
    });
    let got = '';
    let role: string | undefined;
    let finish: string | null | undefined;
    let deltas = 0;
    let usageTotal: number | undefined;
    for await (const chunk of stream) {
      const c = chunk.choices[0];
      if (!c) {
        usageTotal = chunk.usage?.total_tokens;
        continue;
      }
      role ??= c.delta.role;
      if (c.delta.content) {
        got += c.delta.content;
        deltas++;
      }
      finish = c.finish_reason ?? finish;
    }
    assert.equal(got, text);
    assert.equal(role, 'assistant');
    assert.equal(finish, 'stop');
    assert.ok(deltas > 3, 'text arrives in several chunks');
    assert.ok(usageTotal !== undefined && usageTotal > 0);
    assert.equal(fake.requests[0]!.body.messages[0]!.content, 'oil change please');
    assert.equal(fake.requests[0]!.abortedByClient, false);
  });

  it('streams parallel tool calls that the SDK stream helper accumulates', async () => {
    fake.enqueue({ toolCalls: [{ name: 'check_availability', arguments: { date: '2025-01-02' } }, { name: 'book_slot', arguments: { slot: '10:00' } }] });
    const runner = client.chat.completions.stream({
      model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'book me' }],
      tools: [{ type: 'function', function: { name: 'check_availability', parameters: { type: 'object' } } }],
    });
    const final = await runner.finalChatCompletion();
    const calls = final.choices[0]!.message.tool_calls ?? [];
    assert.equal(final.choices[0]!.finish_reason, 'tool_calls');
    assert.deepEqual(calls.map((c) => (c.type === 'function' ? [c.function.name, JSON.parse(c.function.arguments)] : null)), [
      ['check_availability', { date: '2025-01-02' }],
      ['book_slot', { slot: '10:00' }],
    ]);
    assert.ok(calls.every((c) => c.id.startsWith('call_')));
    assert.ok(Array.isArray(fake.requests[0]!.body.tools));
  });

  it('answers non-streaming requests with a chat.completion object', async () => {
    fake.enqueue({ text: 'Hello.' });
    const res = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(res.object, 'chat.completion');
    assert.equal(res.choices[0]!.message.content, 'Hello.');
  });

  it('maps a scripted 429 to RateLimitError and marks it not retryable', async () => {
    fake.enqueue({ error: { status: 429, message: 'Rate limit reached', code: 'rate_limit_exceeded' } });
    const retrying = new OpenAI({ apiKey: 'sk-test', baseURL: fake.url + '/v1', maxRetries: 2 });
    await assert.rejects(
      retrying.chat.completions.create({ model: 'm', stream: true, messages: [{ role: 'user', content: 'x' }] }),
      (e: unknown) => e instanceof OpenAI.RateLimitError && e.status === 429 && e.code === 'rate_limit_exceeded',
    );
    assert.equal(fake.requests.length, 1, 'x-should-retry:false stops the SDK from retrying');
  });

  it('rejects a missing or wrong key with 401 and OpenAI error JSON', async () => {
    const res = await fetch(fake.url + '/v1/chat/completions', { method: 'POST', body: '{"messages":[]}' });
    assert.equal(res.status, 401);
    const body: unknown = await res.json();
    assert.ok(isRecord(body) && isRecord(body.error) && 'message' in body.error && 'type' in body.error && 'param' in body.error && 'code' in body.error);
    const wrong = new OpenAI({ apiKey: 'sk-wrong', baseURL: fake.url + '/v1', maxRetries: 0 });
    await assert.rejects(wrong.chat.completions.create({ model: 'm', messages: [] }), (e: unknown) => e instanceof OpenAI.AuthenticationError);
  });

  it('records a client abort mid-stream and what had been sent by then', async () => {
    fake.enqueue({ text: 'one two three four five six seven eight nine ten eleven twelve', chunkDelayMs: 20, wordsPerChunk: 1 });
    fake.respond((body) => {
      const last = body.messages[body.messages.length - 1];
      return last?.role === 'assistant' ? { text: `you heard: ${String(last.content)}` } : undefined;
    });
    const ac = new AbortController();
    const stream = await client.chat.completions.create(
      { model: 'm', stream: true, messages: [{ role: 'user', content: 'count' }] },
      { signal: ac.signal },
    );
    let heard = '';
    for await (const chunk of stream) {
      heard += chunk.choices[0]?.delta.content ?? '';
      if (heard.split(' ').length > 3) ac.abort();
    }
    await fake.waitForAbort(1);
    const first = fake.requests[0]!;
    assert.equal(first.abortedByClient, true);
    assert.equal(first.completed, false);
    assert.ok(first.textSent.startsWith(heard) && first.textSent.length < 'one two three four five six seven eight nine ten eleven twelve'.length);

    const next = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'count' }, { role: 'assistant', content: heard }] });
    assert.equal(next.choices[0]!.message.content, `you heard: ${heard}`);
    assert.equal(fake.aborted, 1);
  });

  it('surfaces a mid-stream SSE error as an APIError from the iterator', async () => {
    fake.enqueue({ text: 'a b c d e f', streamErrorAfterChunks: 2 });
    const stream = await client.chat.completions.create({ model: 'm', stream: true, messages: [{ role: 'user', content: 'x' }] });
    await assert.rejects(async () => {
      for await (const _ of stream) {
        // drain
      }
    }, (e: unknown) => e instanceof OpenAI.APIError);
  });
});

describe('fake Deepgram with the real @deepgram/sdk', () => {
  let fake: FakeDeepgram;
  let dg: DeepgramClient;
  beforeEach(async () => {
    fake = await startFakeDeepgram({ apiKey: 'dg-test' });
    dg = new DeepgramClient({ apiKey: 'dg-test', baseUrl: fake.url });
  });
  afterEach(() => fake.close());

  const listenArgs = {
    model: 'nova-2-phonecall', encoding: 'mulaw', sample_rate: 8000, channels: 1, interim_results: 'true', endpointing: 300,
    utterance_end_ms: 1000, vad_events: 'true', smart_format: 'true', punctuate: 'true', reconnectAttempts: 0, connectionTimeoutInSeconds: 5,
  } as const;

  async function openListen(): Promise<{ conn: Awaited<ReturnType<DeepgramClient['listen']['v1']['connect']>>; msgs: Array<Record<string, unknown>>; closes: number[] }> {
    const conn = await dg.listen.v1.connect({ ...listenArgs });
    const msgs: Array<Record<string, unknown>> = [];
    const closes: number[] = [];
    conn.on('message', (m: unknown) => {
      if (isRecord(m)) msgs.push(m);
    });
    conn.on('close', (e: unknown) => {
      if (isRecord(e) && typeof e.code === 'number') closes.push(e.code);
    });
    conn.connect();
    await conn.waitForOpen();
    return { conn, msgs, closes };
  }

  function sendFrames(conn: { sendMedia(b: Buffer): void }, audio: Buffer): void {
    for (let off = 0; off < audio.length; off += FRAME_BYTES) conn.sendMedia(audio.subarray(off, off + FRAME_BYTES));
  }

  it('turns speech bursts into SpeechStarted, interims, speech_final Results and UtteranceEnd', async () => {
    fake.listen.enqueueTranscripts(['I need an oil change', { transcript: 'yes', speechFinal: false }]);
    const { conn, msgs, closes } = await openListen();
    assert.equal(fake.listen.openSessions, 1);
    assert.equal(fake.listen.lastSession!.query.encoding, 'mulaw');
    assert.equal(fake.listen.lastSession!.query.endpointing, '300');

    sendFrames(conn, Buffer.concat([silence(100), tone(800, 220), silence(1100)]));
    await until(() => msgs.some((m) => m.type === 'UtteranceEnd'));
    const types = msgs.map((m) => (m.type === 'Results' ? `Results:${String(m.is_final)}` : String(m.type)));
    assert.equal(types[0], 'SpeechStarted');
    assert.ok(types.includes('Results:false'), 'interim results while speaking');
    const final = msgs.find((m) => m.type === 'Results' && m.is_final === true)!;
    assert.equal(final.speech_final, true);
    const alt = (final.channel as { alternatives: Array<{ transcript: string; words: unknown[] }> }).alternatives[0]!;
    assert.equal(alt.transcript, 'I need an oil change');
    assert.equal(alt.words.length, 5);
    assert.ok(Math.abs((msgs[0]!.timestamp as number) - 0.1) < 0.001);
    assert.ok(types.indexOf('Results:true') < types.indexOf('UtteranceEnd'));

    msgs.length = 0;
    sendFrames(conn, Buffer.concat([tone(300, 220), silence(1100)]));
    await until(() => msgs.some((m) => m.type === 'UtteranceEnd'));
    const second = msgs.find((m) => m.type === 'Results' && m.is_final === true)!;
    assert.equal(second.speech_final, false, 'speechFinal:false leaves UtteranceEnd as the only end signal');

    msgs.length = 0;
    sendFrames(conn, tone(200, 220));
    conn.sendFinalize({ type: 'Finalize' });
    await until(() => msgs.some((m) => m.from_finalize === true));
    const fin = msgs.find((m) => m.from_finalize === true)!;
    assert.equal((fin.channel as { alternatives: Array<{ transcript: string }> }).alternatives[0]!.transcript, '', 'no transcript left → empty final');

    conn.sendKeepAlive({ type: 'KeepAlive' });
    conn.sendCloseStream({ type: 'CloseStream' });
    await until(() => closes.length > 0);
    assert.equal(msgs[msgs.length - 1]!.type, 'Metadata');
    assert.equal(closes[0], 1000);
    const rec = fake.listen.records[0]!;
    assert.equal(rec.bytesReceived, 8 * (100 + 800 + 1100 + 300 + 1100 + 200));
    assert.equal(rec.keepAlives, 1);
    await until(() => fake.listen.openSessions === 0);
  });

  it('refuses a bad key with 401 and an injected fault with 500 on the upgrade', async () => {
    const bad = new DeepgramClient({ apiKey: 'nope', baseUrl: fake.url });
    const c1 = await bad.listen.v1.connect({ ...listenArgs });
    c1.connect();
    const status = (code: number) => (e: unknown): boolean => isRecord(e) && e.message === `Unexpected server response: ${code}`;
    await assert.rejects(c1.waitForOpen(), status(401));
    fake.listen.failNextUpgrade(500);
    const c2 = await dg.listen.v1.connect({ ...listenArgs });
    c2.connect();
    await assert.rejects(c2.waitForOpen(), status(500));
    assert.equal(fake.listen.sessions, 0);
  });

  it('closes an idle session with 1011 and can kill sessions mid-stream', async () => {
    fake.listen.setIdleTimeout(80);
    const a = await openListen();
    await until(() => a.closes.length > 0);
    assert.equal(a.closes[0], 1011);
    fake.listen.setIdleTimeout(null);
    const b = await openListen();
    b.conn.sendMedia(silence(20));
    await until(() => fake.listen.records[1]!.bytesReceived === 160);
    fake.listen.kill();
    await until(() => b.closes.length > 0);
    assert.equal(b.closes[0], 1011);

    fake.listen.closeAfterAudioMs(500);
    fake.listen.respond((session, burst) => `session ${session.id} burst ${burst}`);
    const c = await openListen();
    sendFrames(c.conn, Buffer.concat([tone(100, 220), silence(320)]));
    await until(() => c.msgs.some((m) => m.is_final === true));
    const alt = (c.msgs.find((m) => m.is_final === true)!.channel as { alternatives: Array<{ transcript: string }> }).alternatives[0]!;
    assert.equal(alt.transcript, 'session 3 burst 0');
    sendFrames(c.conn, silence(100));
    await until(() => c.closes.length > 0);
    assert.equal(c.closes[0], 1011);
  });

  it('synthesises Speak+Flush as chunked μ-law Blobs then Flushed, and stops on Clear', async () => {
    const sp = await dg.speak.v1.connect({ model: 'aura-asteria-en', encoding: 'mulaw', sample_rate: '8000', reconnectAttempts: 0 });
    const json: Array<Record<string, unknown>> = [];
    const blobs: Blob[] = [];
    sp.on('message', (m: unknown) => {
      if (m instanceof Blob) blobs.push(m);
      else if (isRecord(m)) json.push(m);
    });
    sp.connect();
    await sp.waitForOpen();
    sp.sendText({ type: 'Speak', text: 'Your car ' });
    sp.sendText({ type: 'Speak', text: 'is ready.' });
    sp.sendFlush({ type: 'Flush' });
    await until(() => json.some((m) => m.type === 'Flushed'));
    assert.equal(json[0]!.type, 'Metadata');
    const bytes = (await Promise.all(blobs.map((b) => b.arrayBuffer()))).reduce((n, b) => n + b.byteLength, 0);
    assert.equal(bytes, 'Your car is ready.'.length * 60 * 8);
    assert.ok(blobs.length > 3, 'audio arrives in several messages');
    assert.equal(json.find((m) => m.type === 'Flushed')!.sequence_id, 0);

    blobs.length = 0;
    sp.sendText({ type: 'Speak', text: 'A very long answer that the caller interrupts before it is finished playing.' });
    sp.sendFlush({ type: 'Flush' });
    await until(() => blobs.length > 0);
    sp.sendClear({ type: 'Clear' });
    await until(() => json.some((m) => m.type === 'Cleared'));
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(blobs.length < 10, 'synthesis stopped after Clear');
    assert.equal(json.filter((m) => m.type === 'Flushed').length, 1, 'no Flushed for a cleared flush');
    assert.equal(fake.speak.clears, 1);
    assert.deepEqual(fake.speak.texts.slice(0, 2), ['Your car ', 'is ready.']);
    sp.sendClose({ type: 'Close' });
    await until(() => fake.speak.openSessions === 0);
  });

  it('serves REST TTS as raw μ-law and 400 for empty text', async () => {
    const audio = await dg.speak.v1.audio.generate({ text: 'Hi there', model: 'aura-asteria-en', encoding: 'mulaw', sample_rate: 8000, container: 'none' });
    const bytes = Buffer.from(await audio.arrayBuffer());
    assert.equal(bytes.length, 8 * 60 * 8);
    assert.ok(energy(bytes) > 1000);
    await assert.rejects(
      dg.speak.v1.audio.generate({ text: '', model: 'aura-asteria-en', encoding: 'mulaw' }),
      (e: unknown) => e instanceof DeepgramError && e.statusCode === 400,
    );
    assert.deepEqual(fake.speak.restRequests.map((r) => r.status), [200, 400]);
  });
});

// Option A of protocols.md §3: the product owns its own copy of this; the test needs one to reach the fake.
class LoopbackRequestClient extends twilio.RequestClient {
  constructor(private readonly target: string) {
    super();
  }
  override request<T>(opts: RequestClient.RequestOptions<T>): Promise<TwilioHttpResponse.default<T>> {
    const u = new URL(opts.uri);
    opts.uri = new URL(u.pathname + u.search, this.target).href;
    return super.request(opts);
  }
}

describe('fake Twilio REST with the real twilio SDK', () => {
  const accountSid = 'AC' + '0'.repeat(32);
  const authToken = 'tok-test';
  let fake: FakeTwilioRest;
  let client: twilio.Twilio;
  beforeEach(async () => {
    fake = await startFakeTwilioRest({ accountSid, authToken });
    client = twilio(accountSid, authToken, { httpClient: new LoopbackRequestClient(fake.url) });
  });
  afterEach(() => fake.close());

  it('creates, fetches and hangs up a call with Twilio-shaped JSON', async () => {
    const call = await client.calls.create({
      to: '+15551230001', from: '+15551230002', twiml: '<Response><Say>hi</Say></Response>',
      statusCallback: 'https://x.test/twilio/status', statusCallbackEvent: ['initiated', 'answered', 'completed'],
      machineDetection: 'DetectMessageEnd', asyncAmd: 'true',
    });
    assert.match(call.sid, /^CA[0-9a-f]{32}$/);
    assert.equal(call.status, 'queued');
    assert.ok(call.dateCreated instanceof Date && !Number.isNaN(call.dateCreated.getTime()));
    const form = fake.requests[0]!.form;
    assert.deepEqual(form.StatusCallbackEvent, ['initiated', 'answered', 'completed']);
    assert.equal(form.AsyncAmd, 'true');

    fake.setCallStatus(call.sid, 'in-progress');
    const hung = await client.calls(call.sid).update({ status: 'completed' });
    assert.equal(hung.status, 'completed');
    const fetched = await client.calls(call.sid).fetch();
    assert.equal(fetched.status, 'completed');
    assert.ok(fetched.endTime instanceof Date);
  });

  it('lists a number by PhoneNumber and updates its voice webhook', async () => {
    fake.addNumber('+15557654321');
    fake.addNumber('+15550000000');
    const list = await client.incomingPhoneNumbers.list({ phoneNumber: '+15557654321' });
    assert.equal(list.length, 1);
    assert.equal(list[0]!.phoneNumber, '+15557654321');
    const updated = await client.incomingPhoneNumbers(list[0]!.sid).update({
      voiceUrl: 'https://agent.test/twilio/voice', voiceMethod: 'POST', statusCallback: 'https://agent.test/twilio/status', statusCallbackMethod: 'POST',
    });
    assert.equal(updated.voiceUrl, 'https://agent.test/twilio/voice');
    assert.equal(updated.statusCallback, 'https://agent.test/twilio/status');
  });

  it('returns Twilio error bodies as RestException (invalid To, not found, injected, bad auth)', async () => {
    const isRest = (status: number, code: number) => (e: unknown): boolean => e instanceof twilio.RestException && e.status === status && e.code === code;
    await assert.rejects(client.calls.create({ to: 'garbage', from: '+15551230002', url: 'https://x.test/v' }), isRest(400, 21211));
    await assert.rejects(client.calls('CA' + 'f'.repeat(32)).fetch(), isRest(404, 20404));
    fake.failNext(503);
    await assert.rejects(client.calls.create({ to: '+15551230001', from: '+15551230002', url: 'https://x.test/v' }), isRest(503, 20500));
    const bad = twilio(accountSid, 'wrong', { httpClient: new LoopbackRequestClient(fake.url) });
    await assert.rejects(bad.calls.list(), isRest(401, 20003));
  });
});

describe('Twilio webhook driver', () => {
  it('signs against the public URL so twilio.validateRequest accepts it, and a bad signature is refused', async () => {
    const authToken = 'tok-hook';
    const publicUrl = 'https://agent.example.com';
    const seen: Array<{ ok: boolean; idem: string | undefined; params: Record<string, string> }> = [];
    const server = http.createServer((req, res) => {
      let raw = '';
      req.on('data', (c: Buffer) => (raw += c.toString()));
      req.on('end', () => {
        const params = Object.fromEntries(new URLSearchParams(raw));
        const ok = twilio.validateRequest(authToken, String(req.headers['x-twilio-signature'] ?? ''), publicUrl + (req.url ?? ''), params);
        const idem = req.headers['i-twilio-idempotency-token'];
        seen.push({ ok, idem: typeof idem === 'string' ? idem : undefined, params });
        res.writeHead(ok ? 200 : 403, { 'content-type': 'text/xml' });
        res.end(ok ? '<Response/>' : 'forbidden');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const params = voiceWebhookParams({ accountSid: 'AC1', from: '+15551110000', to: '+15552220000' });
      const good = await postWebhook({ baseUrl, publicUrl, path: '/twilio/voice', params, authToken, idempotencyToken: 'idem-1' });
      assert.equal(good.status, 200);
      assert.equal(good.body, '<Response/>');
      assert.equal(seen[0]!.params.Called, '+15552220000');
      assert.equal(seen[0]!.idem, 'idem-1');
      const status = statusCallbackParams({ accountSid: 'AC1', from: '+1', to: '+2', callStatus: 'completed', sequenceNumber: 3, callDuration: 61 });
      assert.equal(status.Duration, '2');
      assert.match(status.Timestamp!, /^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000$/);
      const forged = await postWebhook({ baseUrl, publicUrl: 'https://evil.example.com', path: '/twilio/status', params: status, authToken });
      assert.equal(forged.status, 403);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});

describe('fake Twilio media caller', () => {
  let wss: WebSocketServer;
  let url: string;
  let agent: { ws?: WebSocket; inbound: Array<Record<string, unknown>>; streamSid?: string };

  beforeEach(async () => {
    agent = { inbound: [] };
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((r) => wss.once('listening', () => r()));
    url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/twilio/media`;
    wss.on('connection', (ws) => {
      agent.ws = ws;
      ws.on('message', (d) => {
        const m = JSON.parse(d.toString()) as Record<string, unknown>;
        agent.inbound.push(m);
        if (m.event === 'start') agent.streamSid = String(m.streamSid);
      });
    });
  });
  afterEach(async () => {
    for (const c of wss.clients) c.terminate();
    await new Promise((r) => wss.close(r));
  });

  function agentSend(msg: Record<string, unknown>): void {
    agent.ws!.send(JSON.stringify(msg));
  }
  function agentAudio(ms: number): void {
    const audio = tone(ms, 300);
    for (let off = 0; off < audio.length; off += FRAME_BYTES) {
      agentSend({ event: 'media', streamSid: agent.streamSid, media: { payload: audio.subarray(off, off + FRAME_BYTES).toString('base64') } });
    }
  }

  it('sends connected, start and media frames shaped like Twilio', async () => {
    const call = await connectMediaStream({ url, customParameters: { tenantId: 't_42' }, idleSilence: false });
    await call.say(60, { fast: true });
    call.dtmf('5');
    call.stop();
    await until(() => agent.inbound.some((m) => m.event === 'stop'));
    const [connected, start, m1, , m3, dtmf, stop] = agent.inbound;
    assert.deepEqual(connected, { event: 'connected', protocol: 'Call', version: '1.0.0' });
    assert.equal(start!.sequenceNumber, '1');
    const s = start!.start as Record<string, unknown>;
    assert.deepEqual(s.customParameters, { tenantId: 't_42' });
    assert.deepEqual(s.mediaFormat, { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 });
    assert.equal(s.callSid, call.callSid);
    assert.deepEqual(m1!.media, { track: 'inbound', chunk: '1', timestamp: '0', payload: tone(60, 220).subarray(0, 160).toString('base64') });
    assert.equal(m1!.sequenceNumber, '2');
    assert.equal((m3!.media as Record<string, unknown>).timestamp, '40');
    assert.deepEqual(dtmf, { event: 'dtmf', sequenceNumber: '5', streamSid: call.streamSid, dtmf: { track: 'inbound_track', digit: '5' } });
    assert.equal(stop!.event, 'stop');
    assert.equal((await call.waitForClose()).code, 1000);
  });

  it('paces caller audio in real time and fills gaps with silence', async () => {
    const call = await connectMediaStream({ url });
    const t0 = mediaClock();
    await call.say(100);
    const took = mediaClock() - t0;
    assert.ok(took >= 80, `real-time pacing took ${took} ms`);
    await until(() => agent.inbound.filter((m) => m.event === 'media').length >= 8);
    call.close();
    const media = agent.inbound.filter((m) => m.event === 'media').map((m) => Buffer.from(String((m.media as Record<string, unknown>).payload), 'base64'));
    assert.ok(media.every((b) => b.length === 160));
    assert.ok(media.some((b) => energy(b) === 0) && media.some((b) => energy(b) > 1000));
  });

  it('plays agent audio at 8 bytes/ms, echoes marks after their audio, and flushes on clear', async () => {
    const call = await connectMediaStream({ url, idleSilence: false });
    await until(() => agent.streamSid !== undefined);
    const t0 = mediaClock();
    agentAudio(200);
    agentSend({ event: 'mark', streamSid: agent.streamSid, mark: { name: 'greeting' } });
    const mark = await call.waitForMark('greeting');
    const elapsed = mark.at - t0;
    assert.ok(elapsed >= 180 && elapsed < 400, `mark after ${elapsed} ms`);
    assert.equal(call.playedBytes, 1600);
    assert.equal(mark.cleared, false);
    await until(() => agent.inbound.some((m) => m.event === 'mark'));
    assert.deepEqual(agent.inbound.find((m) => m.event === 'mark'), { event: 'mark', sequenceNumber: '2', streamSid: call.streamSid, mark: { name: 'greeting' } });

    agentAudio(2000);
    agentSend({ event: 'mark', streamSid: agent.streamSid, mark: { name: 'answer' } });
    await call.waitForPlayedBytes(1600 + 400);
    const tClear = mediaClock();
    agentSend({ event: 'clear', streamSid: agent.streamSid });
    const answer = await call.waitForMark('answer');
    assert.equal(answer.cleared, true);
    assert.ok(answer.at - tClear < 100);
    assert.equal(call.clears.length, 1);
    assert.ok(call.clears[0]!.droppedBytes > 12000);
    assert.ok(call.playedBytes < 1600 + 2400, 'the cleared answer never finished playing');
    assert.equal(call.pendingPlaybackBytes, 0);

    agentSend({ event: 'media', streamSid: 'MZwrong', media: { payload: tone(20).toString('base64') } });
    agentSend({ event: 'mark', streamSid: agent.streamSid, mark: { name: 'idle' } });
    await call.waitForMark('idle');
    assert.equal(call.streamSidMismatches, 1);
    assert.equal(call.playedBytesSince(tClear + 1000), 0);
    call.close();
  });
});
