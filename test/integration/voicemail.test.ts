// Issue 10 item 6, inbound: a caller who reaches a closed dealership (voicemail.whenClosed) or asks to leave a
// message is recorded; the signed recording callback becomes a callback task whose transcript comes from the
// tenant's STT plugin (Deepgram pre-recorded, through the SDK, against the fake), visible in the admin API.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { createHttpApp } from '../../core/app.js';
import { signDevToken } from '../../core/admin-api/auth.js';
import { DateTime } from 'luxon';
import { PUBLIC_BASE_URL, TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, startCallHarness, until, type CallHarness } from '../helpers/call-harness.js';
import { newSid, postWebhook, recordingStatusParams } from '../fakes/twilio-webhooks.js';
import type { DealershipConfig } from '../../core/tenancy/config.js';

const ALI = '+14086137788';
const TRANSCRIPT = 'Hi, this is Ali Khani. Please call me back about the brake noise.';
/** 1 s of 16-bit 8 kHz WAV after a 44-byte header, as Twilio serves `.wav`. */
const WAV = Buffer.concat([Buffer.from('RIFF'), Buffer.alloc(40), Buffer.alloc(16_000, 3)]);

interface TaskRow { id: string; reason: string; source: string; phone: string | null; recording_sid: string | null; recording_url: string | null; transcript: string | null; transcript_status: string | null; transcript_language: string | null; recording_duration_sec: number | null }

describe('inbound voicemail (issue 10, item 6)', function () {
  this.timeout(60_000);
  let h: CallHarness;
  let baseConfig: DealershipConfig;
  let evil: http.Server;
  let evilHits = 0;

  const tasks = () => h.p.tenants.withTenant(h.tenantId, (trx) => trx('callback_tasks').where({ source: 'voicemail' }).orderBy('created_at').select('*')) as Promise<TaskRow[]>;
  const postRecording = (params: Record<string, string>, o: { signature?: string | null } = {}) => postWebhook({
    baseUrl: h.baseUrl, publicUrl: PUBLIC_BASE_URL, path: '/twilio/recording', params, authToken: TEST_AUTH_TOKEN, ...(o.signature !== undefined ? { signature: o.signature } : {}),
  });
  const errorCode = (body: string) => (JSON.parse(body) as { error?: { code?: string } }).error?.code;

  /** A call that reached the dealership (call row + route), as /voice leaves it. */
  async function answeredCall(): Promise<string> {
    const callSid = newSid('CA');
    const { res } = await h.postVoice({ from: ALI, callSid });
    assert.equal(res.status, 200);
    return callSid;
  }

  before(async () => {
    h = await startCallHarness();
    h.deepgram.prerecorded.respond(() => ({ transcript: TRANSCRIPT, language: 'en' }));
    baseConfig = (await h.p.tenants.get(h.tenantId)).config!;
    evil = http.createServer((_req, res) => { evilHits++; res.end('gotcha'); });
    await new Promise<void>((r) => evil.listen(0, '127.0.0.1', r));
  });
  after(async () => { await h?.close(); await new Promise((r) => evil?.close(r)); });
  afterEach(async () => {
    await h.p.tenants.updateConfig(h.tenantId, baseConfig);
    await h.p.telephony.voicemail.idle();
  });

  it('a closed dealership with voicemail.whenClosed answers <Record> with the signed callback URLs: no stream token, no provider session', async () => {
    const today = DateTime.now().setZone(baseConfig.timezone).toISODate()!;
    await h.p.tenants.updateConfig(h.tenantId, { ...baseConfig, holidays: [today], voicemail: { whenClosed: true } });
    const { res } = await h.postVoice({ from: ALI, callSid: newSid('CA') });
    assert.equal(res.status, 200);
    assert.doesNotMatch(res.body, /<Stream/);
    assert.match(res.body, /We are closed right now/);
    assert.match(res.body, /<Record [^>]*recordingStatusCallback="https:\/\/servicelane\.test\/twilio\/recording"/);
    assert.match(res.body, /action="https:\/\/servicelane\.test\/twilio\/voicemail-done"/);
    assert.match(res.body, /recordingStatusCallbackEvent="completed absent"/);
    assert.match(res.body, /maxLength="120"/);
    assert.deepEqual(h.providerSessions(), { llmRequests: 0, sttSessions: 0, ttsSessions: 0, ttsRest: 0 });
  });

  it('by default (whenClosed off) a closed dealership still gets the assistant', async () => {
    const today = DateTime.now().setZone(baseConfig.timezone).toISODate()!;
    await h.p.tenants.updateConfig(h.tenantId, { ...baseConfig, holidays: [today] });
    const { res } = await h.postVoice({ from: ALI, callSid: newSid('CA') });
    assert.match(res.body, /<Stream/);
  });

  it('a signed recording callback → a callback task with the Deepgram transcript and the recording, in the admin API; a repeat adds nothing', async () => {
    const callSid = await answeredCall();
    const rec = h.twilio.addRecording({ callSid, audio: WAV, durationSec: 7 });
    const fetchesBefore = h.twilio.mediaFetches.length;
    const dgBefore = h.deepgram.prerecorded.requests.length;
    const params = recordingStatusParams({ accountSid: TEST_ACCOUNT_SID, callSid, recordingSid: rec.sid, recordingUrl: rec.recordingUrl, durationSec: 7 });
    const res = await postRecording(params);
    assert.equal(res.status, 204, res.body);
    await h.p.telephony.voicemail.idle();
    const [task] = (await tasks()).filter((t) => t.recording_sid === rec.sid);
    assert.ok(task);
    assert.deepEqual([task.reason, task.phone, task.transcript, task.transcript_status, task.transcript_language, task.recording_duration_sec, task.recording_url],
      ['voicemail', ALI, TRANSCRIPT, 'done', 'en', 7, rec.recordingUrl]);
    // Downloaded once with the account's Basic auth (the fake refuses anything else), the bytes sent to Deepgram.
    assert.deepEqual(h.twilio.mediaFetches.slice(fetchesBefore), [{ path: `${new URL(rec.recordingUrl).pathname}.wav`, status: 200 }]);
    const dg = h.deepgram.prerecorded.requests.slice(dgBefore);
    assert.equal(dg.length, 1);
    assert.equal(dg[0]!.bytes, WAV.length);
    assert.match(dg[0]!.contentType, /audio\/x-wav/);
    assert.equal(dg[0]!.query.model, 'nova-3');

    // Twilio retries a callback it thinks failed: one task, one download.
    assert.equal((await postRecording(params)).status, 204);
    await h.p.telephony.voicemail.idle();
    assert.equal((await tasks()).filter((t) => t.recording_sid === rec.sid).length, 1);
    assert.equal(h.twilio.mediaFetches.length - fetchesBefore, 1);

    const app = createHttpApp(h.p);
    const tok = signDevToken({ secret: h.tp.cfg.jwt.secret!, role: 'tenant_admin', tenant: h.tenantId, sub: 'test-admin' });
    const list = await request(app).get(`/admin/v1/tenants/${h.tenantId}/callbacks?source=voicemail&status=open`).set('Authorization', `Bearer ${tok}`);
    assert.equal(list.status, 200, JSON.stringify(list.body));
    const item = (list.body as { items: Record<string, unknown>[] }).items.find((i) => i.recordingSid === rec.sid);
    assert.deepEqual(item && [item.source, item.callSid, item.transcript, item.transcriptStatus, item.recordingUrl, item.recordingDurationSec],
      ['voicemail', callSid, TRANSCRIPT, 'done', rec.recordingUrl, 7]);
    const agentOnly = await request(app).get(`/admin/v1/tenants/${h.tenantId}/callbacks?source=agent`).set('Authorization', `Bearer ${tok}`);
    assert.ok((agentOnly.body as { items: { source: string }[] }).items.every((i) => i.source === 'agent'));
    const bad = await request(app).get(`/admin/v1/tenants/${h.tenantId}/callbacks?source=fax`).set('Authorization', `Bearer ${tok}`);
    assert.equal(bad.status, 400);
  });

  it('a forged callback (bad signature) → TEL_ERR_SIGNATURE: no task, no download', async () => {
    const callSid = await answeredCall();
    const rec = h.twilio.addRecording({ callSid, audio: WAV });
    const before = (await tasks()).length;
    const fetches = h.twilio.mediaFetches.length;
    const params = recordingStatusParams({ accountSid: TEST_ACCOUNT_SID, callSid, recordingSid: rec.sid, recordingUrl: rec.recordingUrl });
    for (const signature of ['forged+signature=', null]) {
      const res = await postRecording(params, { signature });
      assert.equal(res.status, 403);
      assert.equal(errorCode(res.body), 'TEL_ERR_SIGNATURE');
    }
    await h.p.telephony.voicemail.idle();
    assert.equal((await tasks()).length, before);
    assert.equal(h.twilio.mediaFetches.length, fetches);
  });

  it('a RecordingUrl on another host, port, account or recording → TEL_ERR_RECORDING_INVALID: nothing fetched, no task', async () => {
    const callSid = await answeredCall();
    const rec = h.twilio.addRecording({ callSid, audio: WAV });
    const path = new URL(rec.recordingUrl).pathname;
    const { port } = evil.address() as AddressInfo;
    const otherAccount = `AC${'f'.repeat(32)}`;
    const before = (await tasks()).length;
    const fetches = h.twilio.mediaFetches.length;
    for (const recordingUrl of [
      `http://127.0.0.1:${port}${path}`,
      `https://api.twilio.com.evil.example${path}`,
      `https://api.twilio.com:8443${path}`,
      `https://user:pw@api.twilio.com${path}`,
      `https://api.twilio.com${path}?x=1`,
      `https://api.twilio.com${path.replace(TEST_ACCOUNT_SID, otherAccount)}`,
      `https://api.twilio.com${path.replace(rec.sid, newSid('RE'))}`,
      'not a url',
    ]) {
      const res = await postRecording(recordingStatusParams({ accountSid: TEST_ACCOUNT_SID, callSid, recordingSid: rec.sid, recordingUrl }));
      assert.equal(res.status, 400, recordingUrl);
      assert.equal(errorCode(res.body), 'TEL_ERR_RECORDING_INVALID', recordingUrl);
    }
    await h.p.telephony.voicemail.idle();
    assert.equal(evilHits, 0, 'no request reached the foreign host');
    assert.equal(h.twilio.mediaFetches.length, fetches);
    assert.equal((await tasks()).length, before);
  });

  it('an absent recording (silence, too short) creates no task', async () => {
    const callSid = await answeredCall();
    const before = (await tasks()).length;
    const res = await postRecording(recordingStatusParams({ accountSid: TEST_ACCOUNT_SID, callSid, recordingSid: newSid('RE'), recordingUrl: `https://api.twilio.com/2010-04-01/Accounts/${TEST_ACCOUNT_SID}/Recordings/${newSid('RE')}`, status: 'absent', durationSec: 0, errorCode: '16102' }));
    assert.equal(res.status, 204);
    assert.equal((await tasks()).length, before);
  });

  it('keeps the task with the recording when the transcription fails', async () => {
    const callSid = await answeredCall();
    const rec = h.twilio.addRecording({ callSid, audio: WAV });
    h.deepgram.prerecorded.failNext(500);
    const res = await postRecording(recordingStatusParams({ accountSid: TEST_ACCOUNT_SID, callSid, recordingSid: rec.sid, recordingUrl: rec.recordingUrl }));
    assert.equal(res.status, 204);
    await h.p.telephony.voicemail.idle();
    const [task] = (await tasks()).filter((t) => t.recording_sid === rec.sid);
    assert.deepEqual([task?.transcript_status, task?.transcript, task?.recording_url], ['failed', null, rec.recordingUrl]);
  });

  it('leave_message: the agent ends the conversation and the live call is redirected to <Record> over REST', async () => {
    h.deepgram.listen.enqueueTranscripts(['I just want to leave a message.']);
    h.openai.enqueue({ text: 'Of course.', toolCalls: [{ name: 'leave_message', arguments: {} }] });
    const { call, callSid } = await h.placeInboundCall({ from: ALI });
    // The inbound call as Twilio's REST API knows it, so call control can address it.
    const now = new Date();
    h.twilio.calls.set(callSid, { sid: callSid, to: '+14085550123', from: ALI, status: 'in-progress', direction: 'inbound', dateCreated: now, dateUpdated: now, startTime: now, endTime: null, duration: null, answeredBy: null, params: {}, updates: [] });
    await call.waitForMark('g0', 10_000);
    await call.say(500);
    await until(() => (h.twilio.calls.get(callSid)?.updates.length ?? 0) > 0, 15_000, 'the call redirect');
    const update = h.twilio.calls.get(callSid)!.updates[0]!;
    assert.equal(update.Status, undefined, 'redirected, not hung up');
    assert.match(String(update.Twiml), /<Record [^>]*recordingStatusCallback="https:\/\/servicelane\.test\/twilio\/recording"/);
    assert.match(String(update.Twiml), /leave your message after the tone/);
    await call.waitForClose(15_000).catch(() => call.terminate());
  });
});
