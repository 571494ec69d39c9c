// Usage metering and limits end to end on the call harness: the real platform, media socket and provider
// plugins against the Deepgram/OpenAI/Twilio fakes. Every figure is checked against what the fakes
// themselves saw or sent (bytes received, the usage chunk written, Speak texts), never against a constant.
import assert from 'node:assert/strict';
import { startCallHarness, until, type CallHarness } from '../helpers/call-harness.js';
import { demoConfig, DEMO_CUSTOMERS } from '../../core/tenancy/seed.js';
import { usageMetrics } from '../../core/usage/metrics.js';
import type { FakeMediaCall } from '../fakes/twilio-media.js';
import type { CallSession } from '../../core/voice/call-session.js';

const ALI = DEMO_CUSTOMERS[0]!;

/** Polls an async condition (lease release runs just after the session's `done`). */
async function eventually(pred: () => Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function counterValue(c: { get(): Promise<{ values: { labels: Record<string, string | number>; value: number }[] }> }, labels: Record<string, string>): Promise<number> {
  const v = (await c.get()).values.find((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val));
  return v?.value ?? 0;
}

describe('usage metering on live calls (call harness)', function () {
  this.timeout(60_000);
  let h: CallHarness;

  before(async () => {
    h = await startCallHarness({ deepgram: { speak: { msPerChar: 5, chunkIntervalMs: 2 } } });
    await h.p.voice.prewarm(h.tenantId);
  });
  after(async () => { await h?.close(); });
  afterEach(async () => {
    await until(() => h.p.voice.active === 0, 5000, 'calls to end').catch(() => h.p.voice.close());
    await setLimits(undefined);
  });

  async function setLimits(limits: Record<string, number> | undefined, extra: Record<string, unknown> = {}): Promise<void> {
    const cfg = { ...demoConfig(), ...extra, ...(limits ? { limits } : {}) };
    await h.p.tenants.updateConfig(h.tenantId, cfg);
  }

  async function dial(from = ALI.phone): Promise<{ call: FakeMediaCall; callSid: string; session: CallSession }> {
    const { call, callSid } = await h.placeInboundCall({ from });
    let session: CallSession | undefined;
    await until(() => (session = h.p.voice.find(callSid)) !== undefined, 10_000, 'the call session');
    return { call, callSid, session: session! };
  }

  const usageRow = (callSid: string) => h.p.tenants.withTenant(h.tenantId, (trx) => trx('call_usage').where({ call_sid: callSid }).first());

  it('records exact figures for a call: STT audio seconds, tokens from the usage chunk, TTS characters, tool calls, providers', async () => {
    h.openai.reset();
    h.deepgram.listen.enqueueTranscripts(['This is Ali Khani, zip 94087.']);
    h.openai.enqueue(
      { toolCalls: [{ name: 'verify_customer', arguments: { first_name: 'Ali', last_name: 'Khani', vin_last4: null, zip: ALI.zip } }] },
      { text: 'Thanks Ali, you are verified. How can I help you today?' },
    );
    const listenBefore = h.deepgram.listen.records.length;
    const speakTextsBefore = h.deepgram.speak.texts.length;
    const ttsBefore = await counterValue(usageMetrics.ttsChars, { tenant: h.tenantId, provider: 'tts-deepgram' });
    const tokensBefore = await counterValue(usageMetrics.llmTokens, { tenant: h.tenantId, provider: 'llm-openai', kind: 'completion' });
    const t0 = Date.now();
    const { call, callSid, session } = await dial();
    // The answer's turn is complete (its stream read to the end, usage chunk included) before the caller hangs up.
    const answered = new Promise<void>((resolve) => session.on('utterance', (e) => { if (e.role === 'agent' && e.text.includes('verified')) resolve(); }));
    await call.waitForMark('g0', 10_000);
    await call.say(500);
    await answered;
    await call.waitForPlaybackIdle(15_000);
    call.stop();
    await session.done;
    const wall = Date.now() - t0;
    await eventually(async () => (await usageRow(callSid)) !== undefined, 'the usage row');
    await until(() => h.deepgram.listen.openSessions === 0, 5000, 'the STT socket to close');

    const row = await usageRow(callSid);
    assert.ok(row, 'a call_usage row was written at the end of the call');
    const sttBytes = h.deepgram.listen.records.slice(listenBefore).reduce((n, r) => n + r.bytesReceived, 0);
    assert.ok(sttBytes > 0);
    assert.equal(Number(row.stt_audio_ms), Math.floor(sttBytes / 8), 'STT ms = μ-law bytes the provider received / 8');
    const sent = h.openai.requests.map((r) => r.usageSent);
    assert.equal(sent.length, 2);
    assert.ok(sent.every((u) => u), 'both generations got their usage chunk');
    assert.equal(Number(row.llm_prompt_tokens), sent.reduce((n, u) => n + u!.prompt_tokens, 0));
    assert.equal(Number(row.llm_completion_tokens), sent.reduce((n, u) => n + u!.completion_tokens, 0));
    assert.equal(row.llm_requests, 2);
    const spoken = h.deepgram.speak.texts.slice(speakTextsBefore).join('');
    assert.ok(spoken.length > 0);
    assert.equal(Number(row.tts_chars), spoken.length, 'TTS characters = the text the TTS socket received');
    assert.equal(row.tool_calls, 1);
    assert.equal(row.direction, 'inbound');
    assert.deepEqual([row.stt_provider, row.llm_provider, row.tts_provider], ['stt-deepgram', 'llm-openai', 'tts-deepgram']);
    const ms = Number(row.telephony_ms);
    assert.equal(ms, new Date(row.ended_at).getTime() - new Date(row.started_at).getTime());
    assert.ok(ms >= 500 && ms <= wall, `telephony ms ${ms} within the call's wall time ${wall}`);
    assert.equal(row.end_reason, 'stop');
    // Prometheus counts the same figures, once, at the end of the call.
    assert.equal(await counterValue(usageMetrics.ttsChars, { tenant: h.tenantId, provider: 'tts-deepgram' }) - ttsBefore, Number(row.tts_chars));
    assert.equal(await counterValue(usageMetrics.llmTokens, { tenant: h.tenantId, provider: 'llm-openai', kind: 'completion' }) - tokensBefore, Number(row.llm_completion_tokens));
  });

  it('over maxConcurrentCalls: the next inbound call hears the polite line and hangs up, with a callback task and no session or provider connection', async () => {
    const noTransfer = demoConfig();
    delete (noTransfer as { transferNumber?: string }).transferNumber;
    await h.p.tenants.updateConfig(h.tenantId, { ...noTransfer, limits: { maxConcurrentCalls: 1 } });
    const first = await dial();
    await first.call.waitForMark('g0', 10_000);
    const before = h.providerSessions();
    const activeBefore = h.p.voice.active;
    const { res, params } = await h.postVoice({ from: '+14086130001' });
    assert.equal(res.status, 200);
    assert.match(res.body, /<Say>Thank you for calling [^<]*All of our lines are busy right now\. We have your number/);
    assert.match(res.body, /<Hangup\/>/);
    assert.doesNotMatch(res.body, /<Connect>|<Stream/, 'no media stream, so no voice session can start');
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(h.providerSessions(), before, 'no STT, TTS or LLM connection for the refused call');
    assert.equal(h.p.voice.active, activeBefore);
    assert.equal(h.p.voice.find(params.CallSid!), undefined);
    const stored = await h.p.tenants.withTenant(h.tenantId, async (trx) => ({
      task: await trx('callback_tasks as c').join('calls as k', 'k.id', 'c.call_id').where('k.call_sid', params.CallSid!).first('c.reason', 'c.phone'),
      call: await trx('calls').where({ call_sid: params.CallSid! }).first('outcome'),
      usage: await trx('call_usage').where({ call_sid: params.CallSid! }).first(),
    }));
    assert.deepEqual(stored.task, { reason: 'usage_limit:concurrent_calls', phone: '+14086130001' });
    assert.equal(stored.call.outcome, 'over_limit');
    assert.equal(stored.usage, undefined, 'a refused call meters nothing');

    // Twilio's retry of the same webhook replays the answer: no second task, no lease taken.
    const again = await h.postVoice({ params });
    assert.equal(again.res.body, res.body);
    const tasks = await h.p.tenants.withTenant(h.tenantId, (trx) => trx('callback_tasks as c').join('calls as k', 'k.id', 'c.call_id').where('k.call_sid', params.CallSid!).count<{ n: string }[]>('* as n'));
    assert.equal(Number(tasks[0]!.n), 1);

    // The first call ends: its lease is released at once, and the next caller reaches the agent.
    first.call.stop();
    await first.session.done;
    await eventually(async () => await h.p.usage.leases.active(h.tenantId) === 0, 'the lease to be released');
    const next = await dial('+14086130002');
    await next.call.waitForMark('g0', 10_000);
    next.call.stop();
    await next.session.done;
  });

  it('a caller who hangs up before the stream connects frees the slot with Twilio\'s final status, not after the lease TTL', async () => {
    await setLimits({ maxConcurrentCalls: 1 });
    const { res, params } = await h.postVoice({ from: '+14086130005' });
    assert.match(res.body, /<Stream/);
    assert.equal(await h.p.usage.leases.active(h.tenantId), 1, 'the admitted call holds the slot');
    const refused = await h.postVoice({ from: '+14086130006' });
    assert.doesNotMatch(refused.res.body, /<Stream/);
    const st = await h.postStatus({ callSid: params.CallSid!, status: 'completed', sequenceNumber: 1 });
    assert.equal(st.status, 204);
    assert.equal(await h.p.usage.leases.active(h.tenantId), 0);
    const next = await h.postVoice({ from: '+14086130007' });
    assert.match(next.res.body, /<Stream/);
    await h.postStatus({ callSid: next.params.CallSid!, status: 'completed', sequenceNumber: 1 });
  });

  it('with a transfer number, the over-limit caller is put through to the dealership instead', async () => {
    await setLimits({ maxConcurrentCalls: 1 });
    const first = await dial();
    const { res } = await h.postVoice({ from: '+14086130003' });
    assert.match(res.body, /All of our lines are busy right now/);
    assert.match(res.body, /<Dial[^>]*>\+14085550100<\/Dial>/);
    assert.doesNotMatch(res.body, /<Stream/);
    first.call.stop();
    await first.session.done;
  });

  it('over monthlyMinutes: refused with reason monthly_minutes; calls from before this month do not count', async () => {
    // 3 minutes metered this month, 100 in an earlier month, on a real (ended) call row.
    await h.p.tenants.withTenant(h.tenantId, async (trx) => {
      const [now, old] = await trx('calls').insert([
        { call_sid: `CA${'1'.repeat(32)}`, direction: 'inbound', status: 'completed', status_rank: 9 },
        { call_sid: `CA${'2'.repeat(32)}`, direction: 'inbound', status: 'completed', status_rank: 9, started_at: new Date('2020-01-15T12:00:00Z') },
      ]).returning('id');
      const base = { direction: 'inbound', stt_audio_ms: 0, llm_prompt_tokens: 0, llm_completion_tokens: 0, llm_requests: 0, tts_chars: 0, tool_calls: 0, stt_provider: 's', llm_provider: 'l', tts_provider: 't' };
      await trx('call_usage').insert([
        { ...base, call_id: now.id, call_sid: `CA${'1'.repeat(32)}`, started_at: new Date(), ended_at: new Date(), telephony_ms: 180_000 },
        { ...base, call_id: old.id, call_sid: `CA${'2'.repeat(32)}`, started_at: new Date('2020-01-15T12:00:00Z'), ended_at: new Date('2020-01-15T13:40:00Z'), telephony_ms: 6_000_000 },
      ]);
    });
    await setLimits({ monthlyMinutes: 4 });
    const ok = await dial();
    ok.call.stop();
    await ok.session.done;
    await eventually(async () => (await h.p.tenants.withTenant(h.tenantId, (trx) => trx('call_usage').where({ call_sid: ok.callSid }).first())) !== undefined, 'the usage row');
    await setLimits({ monthlyMinutes: 3 });
    const { res, params } = await h.postVoice({ from: '+14086130004' });
    assert.match(res.body, /All of our lines are busy right now/);
    assert.doesNotMatch(res.body, /<Stream/);
    const task = await h.p.tenants.withTenant(h.tenantId, (trx) => trx('callback_tasks as c').join('calls as k', 'k.id', 'c.call_id').where('k.call_sid', params.CallSid!).first('c.reason'));
    assert.equal(task.reason, 'usage_limit:monthly_minutes');
  });

  it('allowOutbound: waits while the tenant is at its cap, binds the slot to the CallSid, frees it on release', async () => {
    await setLimits({ maxConcurrentCalls: 1 });
    const first = await dial();
    const held = await h.p.usage.allowOutbound({ tenantId: h.tenantId, key: 'reminder-attempt-1' });
    assert.deepEqual(held, { allowed: false, code: 'USG_ERR_CONCURRENT_CALLS', retryAfterSec: 60 });
    first.call.stop();
    await first.session.done;
    await eventually(async () => await h.p.usage.leases.active(h.tenantId) === 0, 'the lease to be released');
    const permit = await h.p.usage.allowOutbound({ tenantId: h.tenantId, key: 'reminder-attempt-1' });
    assert.equal(permit.allowed, true);
    assert.equal(await h.p.usage.leases.active(h.tenantId), 1, 'the permit holds the slot');
    const blocked = await h.p.usage.allowOutbound({ tenantId: h.tenantId, key: 'reminder-attempt-2' });
    assert.equal(blocked.allowed, false);
    if (!permit.allowed) return;
    await permit.bind(`CA${'3'.repeat(32)}`);
    assert.equal(await h.p.usage.leases.active(h.tenantId), 1, 'bound, still one slot');
    await h.p.usage.leases.release({ tenantId: h.tenantId, id: `CA${'3'.repeat(32)}` });
    assert.equal(await h.p.usage.leases.active(h.tenantId), 0);
    const p2 = await h.p.usage.allowOutbound({ tenantId: h.tenantId, key: 'reminder-attempt-3' });
    assert.equal(p2.allowed, true);
    if (p2.allowed) await p2.release();
    assert.equal(await h.p.usage.leases.active(h.tenantId), 0);
  });
});
