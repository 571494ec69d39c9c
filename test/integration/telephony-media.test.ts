// The Twilio media WebSocket against the real platform: path checks before the upgrade, the one-time call
// token on `start`, one stream per call, malformed frames, payload and rate limits, and the start timeout
// (tenancy-security.md §6.1 #6–#11). Every refusal asserts that no STT/LLM/TTS session reached the fakes.
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { metrics } from '../../core/observability/metrics.js';
import { connectMediaStream, type FakeMediaCall } from '../fakes/twilio-media.js';
import type { ListenSessionRecord } from '../fakes/deepgram.js';
import { newSid } from '../fakes/twilio-webhooks.js';
import { parseStreamTwiml, startCallHarness, TEST_ACCOUNT_SID, type CallHarness, type ProviderSessions } from '../helpers/call-harness.js';

const ALI = '+14086137788';

/** The HTTP status of a WebSocket upgrade attempt (101 when it was accepted). */
function upgradeStatus(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { handshakeTimeout: 5000 });
    ws.once('unexpected-response', (_req, res) => { resolve(res.statusCode ?? 0); res.resume(); ws.terminate(); });
    ws.once('open', () => { resolve(101); ws.close(); });
    ws.once('error', (e) => reject(e));
  });
}

async function droppedTotal(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const v of (await metrics.mediaFramesDropped.get()).values) {
    const r = String(v.labels.reason);
    out[r] = (out[r] ?? 0) + v.value;
  }
  return out;
}

function delta(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) if (v - (before[k] ?? 0) > 0) out[k] = v - (before[k] ?? 0);
  return out;
}

interface MintedCall { callSid: string; token: string; ticket: string }

/** A genuine signed voice webhook: the call's sid and its one-time token (and the stored ticket, for copies). */
async function mintCall(h: CallHarness): Promise<MintedCall> {
  const callSid = newSid('CA');
  const { res } = await h.postVoice({ from: ALI, callSid });
  const stream = parseStreamTwiml(res.body);
  assert.ok(stream, res.body);
  const ticket = await h.p.state.get(`streamtok:${stream.callToken}`);
  assert.ok(ticket);
  return { callSid, token: stream.callToken, ticket };
}

function dial(h: CallHarness, o: { callSid?: string; token?: string; autoStart?: boolean; customParameters?: Record<string, string> }): Promise<FakeMediaCall> {
  return connectMediaStream({
    url: h.mediaUrl, callSid: o.callSid ?? newSid('CA'), accountSid: TEST_ACCOUNT_SID, autoStart: o.autoStart,
    customParameters: o.customParameters ?? (o.token !== undefined ? { callToken: o.token } : {}), idleSilence: false,
  });
}

/** Dials with a valid token and waits until the call's STT and TTS sessions are both open at the fake. */
async function dialLive(h: CallHarness, minted: MintedCall): Promise<FakeMediaCall> {
  const n = { stt: h.deepgram.listen.sessions, tts: h.deepgram.speak.sessions };
  const call = await dial(h, { callSid: minted.callSid, token: minted.token });
  await h.deepgram.listen.waitForSessions(n.stt + 1, 10_000);
  await h.deepgram.speak.waitForSessions(n.tts + 1, 10_000);
  return call;
}

/** A started call whose voice side is up (its STT session is open at the fake). */
async function startLiveCall(h: CallHarness): Promise<{ minted: MintedCall; call: FakeMediaCall; stt: ListenSessionRecord }> {
  const minted = await mintCall(h);
  const call = await dialLive(h, minted);
  return { minted, call, stt: h.deepgram.listen.lastSession! };
}

/** A voice service is wired into the platform: starts with a valid token open real provider sessions. */
function voiceReady(h: CallHarness): boolean {
  return typeof (h.p as { voice?: { startCall?: unknown } }).voice?.startCall === 'function';
}

describe('Twilio media WebSocket (/twilio/media)', function () {
  this.timeout(30_000);
  let h: CallHarness;
  let opened: ProviderSessions;
  before(async () => { h = await startCallHarness(); });
  after(async () => { await h?.close(); });
  beforeEach(() => { opened = h.providerSessions(); });
  const assertNothingOpened = (): void => assert.deepEqual(h.providerSessions(), opened, 'no STT/LLM/TTS session was opened');

  describe('upgrade', () => {
    it('rejects an upgrade on any other path before the WebSocket handshake completes', async () => {
      const base = h.mediaUrl.replace('/twilio/media', '');
      for (const path of ['/', '/twilio/media/', '/twilio/mediax', '/twilio/voice', '/TWILIO/MEDIA', '/admin/v1/tenants']) {
        assert.equal(await upgradeStatus(base + path), 404, path);
      }
      assert.equal(await upgradeStatus(h.mediaUrl), 101, 'the media path itself upgrades');
      assertNothingOpened();
    });

    it('refuses new streams with 503 while the process drains', async () => {
      h.p.draining = true;
      try {
        assert.equal(await upgradeStatus(h.mediaUrl), 503);
      } finally { h.p.draining = false; }
      assertNothingOpened();
    });
  });

  describe('call token on start', () => {
    it('closes 1008 on a start with no, unknown or oversized callToken, and opens no session', async () => {
      for (const customParameters of [{}, { callToken: 'not-a-real-token' }, { callToken: 'x'.repeat(5000) }] as Record<string, string>[]) {
        const call = await dial(h, { customParameters });
        const closed = await call.waitForClose(5000);
        assert.equal(closed.code, 1008, JSON.stringify(customParameters).slice(0, 40));
      }
      assertNothingOpened();
    });

    it('closes 1008 on a token minted for another call, and that token is spent', async () => {
      const a = await mintCall(h);
      const b = await mintCall(h);
      const call = await dial(h, { callSid: b.callSid, token: a.token });
      assert.equal((await call.waitForClose(5000)).code, 1008);
      assert.equal(await h.p.state.get(`streamtok:${a.token}`), null, 'a misused token cannot be tried again');
      assertNothingOpened();
    });

    it('closes 1008 on an expired token', async () => {
      const a = await mintCall(h);
      await h.p.state.delete(`streamtok:${a.token}`); // what the 60 s TTL does
      const call = await dial(h, { callSid: a.callSid, token: a.token });
      assert.equal((await call.waitForClose(5000)).code, 1008);
      assertNothingOpened();
    });

    it('closes 1008 when a token is used a second time', async function () {
      const a = await mintCall(h);
      const first = voiceReady(h) ? await dialLive(h, a) : await dial(h, { callSid: a.callSid, token: a.token });
      if (!voiceReady(h)) await first.waitForClose(5000);
      const sessions = h.providerSessions();
      const second = await dial(h, { callSid: a.callSid, token: a.token });
      assert.equal((await second.waitForClose(5000)).code, 1008);
      assert.deepEqual(h.providerSessions(), sessions, 'the reuse opened nothing');
      first.stop();
      await first.waitForClose(5000);
    });

    it('closes a start whose media format is not 8 kHz μ-law without spending the token or opening a session', async () => {
      const a = await mintCall(h);
      const call = await dial(h, { callSid: a.callSid, token: a.token, autoStart: false });
      call.sendRaw(JSON.stringify({ event: 'connected', protocol: 'Call', version: '1.0.0' }));
      call.sendRaw(JSON.stringify({
        event: 'start', sequenceNumber: '1', streamSid: call.streamSid,
        start: { accountSid: TEST_ACCOUNT_SID, callSid: a.callSid, streamSid: call.streamSid, tracks: ['inbound'], customParameters: { callToken: a.token }, mediaFormat: { encoding: 'audio/x-l16', sampleRate: 16000, channels: 1 } },
      }));
      assert.equal((await call.waitForClose(5000)).code, 1003);
      assert.ok(await h.p.state.get(`streamtok:${a.token}`), 'the token is still unspent');
      assertNothingOpened();
    });
  });

  describe('one stream per call', () => {
    it('refuses a second stream for a live call with 1008, even with a second valid ticket, and keeps the first', async function () {
      if (!voiceReady(h)) this.skip();
      const a = await mintCall(h);
      // Twilio re-opening a stream for the same call: a second ticket for the same CallSid.
      await h.p.state.set('streamtok:second-ticket-for-same-call', a.ticket, 60);
      const first = await dialLive(h, a);
      const sessions = h.providerSessions();
      const second = await dial(h, { callSid: a.callSid, token: 'second-ticket-for-same-call' });
      assert.equal((await second.waitForClose(5000)).code, 1008);
      assert.equal(first.closed, null, 'the live stream is untouched');
      assert.deepEqual(h.providerSessions(), sessions, 'the refused stream opened nothing');
      first.stop();
      await first.waitForClose(5000);
    });
  });

  describe('malformed frames', () => {
    it('drops and counts malformed frames before start, closes 1008 past the threshold, and keeps serving', async () => {
      const before = await droppedTotal();
      const call = await dial(h, { autoStart: false });
      const junk: Array<string | Buffer> = [
        'not json', '{"event":', Buffer.from([1, 2, 3, 4]), '{}', 'null', '[1,2]', '{"event":42}', '{"streamSid":"MZ1"}',
        JSON.stringify({ event: 'media', streamSid: 'MZ1', media: { payload: Buffer.alloc(160, 0xff).toString('base64') } }),
        JSON.stringify({ event: 'media', media: { payload: '@@@@' } }),
        JSON.stringify({ event: 'dance', streamSid: 'MZ1' }),
      ];
      for (let i = 0; i < 3; i++) for (const j of junk) call.sendRaw(j);
      const closed = await call.waitForClose(5000);
      assert.equal(closed.code, 1008);
      const d = delta(await droppedTotal(), before);
      for (const reason of ['json', 'binary', 'shape', 'before_start', 'event']) assert.ok((d[reason] ?? 0) > 0, `counted as ${reason}: ${JSON.stringify(d)}`);
      assert.ok(Object.values(d).reduce((a, b) => a + b, 0) >= 21);
      assertNothingOpened();
      // no crash: the server still answers webhooks and upgrades
      assert.equal(await upgradeStatus(h.mediaUrl), 101);
      await mintCall(h);
    });

    it('drops malformed frames on a live call without ending it, and forwards only valid caller audio', async function () {
      if (!voiceReady(h)) this.skip();
      const { call, stt } = await startLiveCall(h);
      const before = await droppedTotal();
      const bytesBefore = stt.bytesReceived;
      const bad = [
        JSON.stringify({ event: 'media', media: { payload: Buffer.alloc(160, 0x10).toString('base64') } }), // no streamSid
        JSON.stringify({ event: 'media', streamSid: 'MZother', media: { payload: Buffer.alloc(160, 0x10).toString('base64') } }),
        JSON.stringify({ event: 'media', streamSid: call.streamSid, media: { payload: 'SGVsbG8@@@@***' } }),
        JSON.stringify({ event: 'media', streamSid: call.streamSid, media: { payload: '' } }),
        JSON.stringify({ event: 'dtmf', streamSid: call.streamSid, dtmf: { digit: 'Z' } }),
        'garbage',
        Buffer.alloc(160, 0x10),
      ];
      for (const b of bad) call.sendRaw(b);
      await call.silence(200, { fast: true });
      const waitFor = async (pred: () => boolean): Promise<void> => { for (let i = 0; i < 2000 && !pred(); i++) await new Promise((r) => setTimeout(r, 5)); };
      await waitFor(() => stt.bytesReceived - bytesBefore >= 1600);
      const d = delta(await droppedTotal(), before);
      assert.ok((d.stream_sid ?? 0) >= 2, JSON.stringify(d));
      assert.ok((d.base64 ?? 0) + (d.payload ?? 0) >= 2, JSON.stringify(d));
      assert.equal(call.closed, null, 'a few bad frames do not end a call');
      assert.equal(stt.bytesReceived - bytesBefore, 1600, 'exactly the 200 ms of valid audio reached the STT');
      call.stop();
      await call.waitForClose(5000);
    });
  });

  describe('limits', () => {
    it('closes a 10 MB frame with 1009 (maxPayload) and opens nothing', async () => {
      const call = await dial(h, { autoStart: false });
      call.sendRaw('x'.repeat(10 * 1024 * 1024));
      const closed = await call.waitForClose(10_000);
      assert.equal(closed.code, 1009);
      assertNothingOpened();
    });

    it('closes a socket that sends 5,000 frames in a second (rate cap) and opens nothing', async () => {
      const before = await droppedTotal();
      const call = await dial(h, { autoStart: false });
      const frame = JSON.stringify({ event: 'connected', protocol: 'Call', version: '1.0.0' });
      for (let i = 0; i < 5000; i++) call.sendRaw(frame);
      const closed = await call.waitForClose(10_000);
      assert.equal(closed.code, 1008);
      assert.equal(delta(await droppedTotal(), before).rate_limit, 1);
      assertNothingOpened();
    });

    it('closes a live call flooded with 5,000 media frames a second and releases its provider sessions', async function () {
      if (!voiceReady(h)) this.skip();
      const { call, stt } = await startLiveCall(h);
      const frame = JSON.stringify({ event: 'media', streamSid: call.streamSid, media: { track: 'inbound', payload: Buffer.alloc(160, 0xff).toString('base64') } });
      for (let i = 0; i < 5000; i++) call.sendRaw(frame);
      assert.equal((await call.waitForClose(10_000)).code, 1008);
      for (let i = 0; i < 1000 && stt.open; i++) await new Promise((r) => setTimeout(r, 5));
      assert.equal(stt.open, false, 'the STT session was closed with the stream');
    });

    it('closes a socket that sends no start within 5 s, without opening anything', async () => {
      const before = await droppedTotal();
      const call = await dial(h, { autoStart: false });
      call.sendRaw(JSON.stringify({ event: 'connected', protocol: 'Call', version: '1.0.0' }));
      const closed = await call.waitForClose(9_000);
      assert.equal(closed.code, 1008);
      assert.equal(delta(await droppedTotal(), before).start_timeout, 1);
      assertNothingOpened();
    });
  });
});
