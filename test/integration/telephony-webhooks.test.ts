// Twilio voice and status webhooks against the real platform: signatures checked against PUBLIC_BASE_URL,
// the tenant from `To`, replays deduplicated, and status callbacks as a monotonic state machine
// (tenancy-security.md §6.1 #1–#5, #27).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  DEMO_NUMBER, PUBLIC_BASE_URL, TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, parseStreamTwiml, startCallHarness, type CallHarness,
} from '../helpers/call-harness.js';
import { demoConfig } from '../../core/tenancy/seed.js';
import { newSid, postWebhook, signTwilioWebhook, voiceWebhookParams } from '../fakes/twilio-webhooks.js';

const ALI = '+14086137788';

function errorCode(body: string): string | undefined {
  try { return (JSON.parse(body) as { error?: { code?: string } }).error?.code; } catch { return undefined; }
}

async function callStatus(h: CallHarness, callSid: string): Promise<{ status: string; status_rank: number; ended_at: Date | null } | undefined> {
  return h.p.tenants.withTenant(h.tenantId, (trx) => trx('calls').where({ call_sid: callSid }).first('status', 'status_rank', 'ended_at'));
}

function assertNoProviderSession(h: CallHarness): void {
  assert.deepEqual(h.providerSessions(), { llmRequests: 0, sttSessions: 0, ttsSessions: 0, ttsRest: 0 }, 'no STT/LLM/TTS session was opened');
}

for (const state of ['redis', 'postgres'] as const) describe(`Twilio voice webhook (POST /twilio/voice), ${state} state`, function () {
  this.timeout(60_000);
  let h: CallHarness;
  before(async () => { h = await startCallHarness({ state }); });
  after(async () => { await h?.close(); });

  it('answers a signed call to a dealership number with <Connect><Stream> and a one-time callToken, a call row and a route', async () => {
    const callSid = newSid('CA');
    const { res } = await h.postVoice({ from: ALI, callSid });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /xml/);
    const stream = parseStreamTwiml(res.body);
    assert.ok(stream, `TwiML has a stream: ${res.body}`);
    assert.equal(stream.url, 'wss://servicelane.test/twilio/media', 'stream URL derives from PUBLIC_BASE_URL and carries no query');
    assert.ok(stream.callToken.length >= 32, 'the token is long enough to be unguessable');
    assert.match(res.body, /<\/Connect><Hangup\/><\/Response>$/, 'the call hangs up when the stream ends');
    const row = await h.p.tenants.withTenant(h.tenantId, (trx) => trx('calls').where({ call_sid: callSid }).first());
    assert.ok(row);
    assert.equal(row.direction, 'inbound');
    assert.equal(row.from_number, ALI);
    assert.equal(row.to_number, DEMO_NUMBER);
    const route = await h.p.db('platform.call_routes').where({ call_sid: callSid }).first();
    assert.equal(route?.tenant_id, h.tenantId);
    const ticket = JSON.parse((await h.p.state.get(`streamtok:${stream.callToken}`)) ?? 'null') as { callSid: string; tenantId: string; callId: string } | null;
    assert.deepEqual(ticket && { callSid: ticket.callSid, tenantId: ticket.tenantId, callId: ticket.callId }, { callSid, tenantId: h.tenantId, callId: row.id });
    assertNoProviderSession(h);
  });

  it('processes a webhook replayed 1,000 times once: every answer 200 with identical TwiML, one call row, one route', async () => {
    const callSid = newSid('CA');
    const params = voiceWebhookParams({ accountSid: TEST_ACCOUNT_SID, callSid, from: ALI, to: DEMO_NUMBER });
    const idempotencyToken = randomBytes(16).toString('hex');
    const callsBefore = await h.countCalls();
    const routesBefore = await h.countRoutes();
    const bodies = new Set<string>();
    const statuses = new Set<number>();
    for (let batch = 0; batch < 20; batch++) {
      const answers = await Promise.all(Array.from({ length: 50 }, () => h.postVoice({ params, idempotencyToken })));
      for (const { res } of answers) { statuses.add(res.status); bodies.add(res.body); }
    }
    assert.deepEqual([...statuses], [200]);
    assert.equal(bodies.size, 1, 'every replay got the first answer');
    assert.ok(parseStreamTwiml([...bodies][0]!), 'and that answer is the stream TwiML');
    assert.equal(await h.countCalls(), callsBefore + 1);
    assert.equal(await h.countRoutes(), routesBefore + 1);
    assertNoProviderSession(h);
  });

  it('mints no second stream token when a captured webhook is replayed with another or no idempotency header', async () => {
    const callSid = newSid('CA');
    const params = voiceWebhookParams({ accountSid: TEST_ACCOUNT_SID, callSid, from: ALI, to: DEMO_NUMBER });
    const first = await h.postVoice({ params, idempotencyToken: 'idem-original' });
    const other = await h.postVoice({ params, idempotencyToken: 'idem-forged' });
    const none = await h.postVoice({ params });
    assert.equal(other.res.status, 200);
    assert.equal(none.res.status, 200);
    const tokens = [first, other, none].map((r) => parseStreamTwiml(r.res.body)?.callToken);
    assert.ok(tokens[0]);
    assert.deepEqual(tokens, [tokens[0], tokens[0], tokens[0]], 'the header an attacker controls does not open a new dedupe key');
  });

  it('answers a replay that outlived its dedupe key with a bare hang-up once the call is over: no stream, no token', async () => {
    const callSid = newSid('CA');
    const params = voiceWebhookParams({ accountSid: TEST_ACCOUNT_SID, callSid, from: ALI, to: DEMO_NUMBER });
    assert.ok(parseStreamTwiml((await h.postVoice({ params })).res.body));
    await h.postStatus({ callSid, status: 'completed', sequenceNumber: 3 });
    await h.p.state.delete(`twv:${callSid}`); // what the 24 h TTL does
    const callsBefore = await h.countCalls();
    const { res } = await h.postVoice({ params });
    assert.equal(res.status, 200);
    assert.equal(parseStreamTwiml(res.body), null);
    assert.match(res.body, /^<\?xml[^>]*\?><Response><Hangup\/><\/Response>$/);
    assert.equal(await h.countCalls(), callsBefore);
  });

  it('accepts a signature over the public https URL although the request arrives on plain http at a loopback address', async () => {
    const { res } = await h.postVoice({ from: ALI });
    assert.equal(res.status, 200);
    assert.ok(parseStreamTwiml(res.body));
  });

  it('refuses a signature computed for http:// when PUBLIC_BASE_URL is https, with 403 TEL_ERR_SIGNATURE and no row', async () => {
    const callsBefore = await h.countCalls();
    const { res } = await h.postVoice({ from: ALI, signedBaseUrl: PUBLIC_BASE_URL.replace('https:', 'http:') });
    assert.equal(res.status, 403);
    assert.equal(errorCode(res.body), 'TEL_ERR_SIGNATURE');
    assert.equal(await h.countCalls(), callsBefore);
  });

  it('ignores X-Forwarded-Host/Proto: a signature for the spoofed host is refused and one for the public host still passes', async () => {
    const callsBefore = await h.countCalls();
    const spoofHeaders = { 'x-forwarded-host': 'attacker.example', 'x-forwarded-proto': 'https', host: 'attacker.example' };
    const spoofed = await h.postVoice({ from: ALI, signedBaseUrl: 'https://attacker.example', headers: spoofHeaders });
    assert.equal(spoofed.res.status, 403);
    assert.equal(errorCode(spoofed.res.body), 'TEL_ERR_SIGNATURE');
    assert.equal(await h.countCalls(), callsBefore);
    const genuine = await h.postVoice({ from: ALI, headers: spoofHeaders });
    assert.equal(genuine.res.status, 200, 'the headers neither help nor break a genuine request');
  });

  it("refuses a query string on the webhook URL (our URLs have none), even one correctly signed with ' and +", async () => {
    const callsBefore = await h.countCalls();
    const routesBefore = await h.countRoutes();
    for (const path of ["/twilio/voice?note=it's+a+test", '/twilio/voice?x=a+b', '/twilio/voice?x=1']) {
      const { res } = await h.postVoice({ from: ALI, path });
      assert.equal(res.status, 403, path);
      assert.equal(errorCode(res.body), 'TEL_ERR_SIGNATURE', path);
    }
    assert.equal(await h.countCalls(), callsBefore);
    assert.equal(await h.countRoutes(), routesBefore);
    assertNoProviderSession(h);
  });

  it('refuses a missing or invalid signature with 403 TEL_ERR_SIGNATURE: no call row, no route, no provider session', async () => {
    const callsBefore = await h.countCalls();
    const routesBefore = await h.countRoutes();
    const params = voiceWebhookParams({ accountSid: TEST_ACCOUNT_SID, from: ALI, to: DEMO_NUMBER });
    const wrongKey = signTwilioWebhook({ authToken: 'not-the-auth-token-0000000000000', url: `${PUBLIC_BASE_URL}/twilio/voice`, params });
    const tampered = { ...params, From: '+14085550142' };
    const cases = [
      await h.postVoice({ params, signature: null }),
      await h.postVoice({ params, signature: '' }),
      await h.postVoice({ params, signature: 'AAAAAAAAAAAAAAAAAAAAAAAAAAA=' }),
      await h.postVoice({ params, signature: wrongKey }),
      // signed over the original params, sent with a changed body
      await h.postVoice({ params: tampered, signature: signTwilioWebhook({ authToken: TEST_AUTH_TOKEN, url: `${PUBLIC_BASE_URL}/twilio/voice`, params }) }),
    ];
    for (const { res } of cases) {
      assert.equal(res.status, 403);
      assert.equal(errorCode(res.body), 'TEL_ERR_SIGNATURE');
    }
    assert.equal(await h.countCalls(), callsBefore);
    assert.equal(await h.countRoutes(), routesBefore);
    assertNoProviderSession(h);
  });

  it('refuses a webhook correctly signed with our token but for another AccountSid', async () => {
    const callsBefore = await h.countCalls();
    const { res } = await h.postVoice({ from: ALI, accountSid: 'AC' + 'f'.repeat(32) });
    assert.equal(res.status, 403);
    assert.equal(errorCode(res.body), 'TEL_ERR_SIGNATURE');
    assert.equal(await h.countCalls(), callsBefore);
  });

  it('answers a call to an unmapped number with a spoken apology and <Hangup/>, and creates no row, route, token or session', async () => {
    const callsBefore = await h.countCalls();
    const routesBefore = await h.countRoutes();
    const { res } = await h.postVoice({ from: ALI, to: '+14085550999' });
    assert.equal(res.status, 200);
    assert.match(res.body, /<Say>[^<]+<\/Say><Hangup\/><\/Response>$/);
    assert.equal(parseStreamTwiml(res.body), null);
    assert.doesNotMatch(res.body, /callToken|<Stream/);
    assert.equal(await h.countCalls(), callsBefore);
    assert.equal(await h.countRoutes(), routesBefore);
    assertNoProviderSession(h);
  });

  it("answers a call to an offboarded tenant's former number with the apology and writes nothing in its schema", async () => {
    const t = await h.p.tenants.create({ name: 'Gone Motors', config: { ...demoConfig(), name: 'Gone Motors' } });
    const number = '+14085550188';
    await h.p.tenants.attachNumber(t.id, number);
    const live = await h.postVoice({ from: ALI, to: number });
    assert.ok(parseStreamTwiml(live.res.body), 'the tenant answers while active');
    assert.equal(await h.countCalls(t.id), 1);
    await h.p.tenants.offboard(t.id);
    const routesBefore = await h.countRoutes();
    const { res } = await h.postVoice({ from: ALI, to: number });
    assert.equal(res.status, 200);
    assert.match(res.body, /<Hangup\/><\/Response>$/);
    assert.equal(parseStreamTwiml(res.body), null);
    assert.equal(await h.countCalls(t.id), 1);
    assert.equal(await h.countRoutes(), routesBefore);
    assertNoProviderSession(h);
  });

  it('answers malformed call parameters (bad CallSid or To) with the apology and writes nothing', async () => {
    const callsBefore = await h.countCalls();
    for (const extra of [{ CallSid: 'CA-not-a-sid' }, { To: 'anonymous' }] as Record<string, string>[]) {
      const { res } = await h.postVoice({ from: ALI, extra });
      assert.equal(res.status, 200);
      assert.equal(parseStreamTwiml(res.body), null);
      assert.match(res.body, /<Hangup\/>/);
    }
    assert.equal(await h.countCalls(), callsBefore);
  });
});

describe('Twilio status callback (POST /twilio/status)', function () {
  this.timeout(30_000);
  let h: CallHarness;
  before(async () => { h = await startCallHarness(); });
  after(async () => { await h?.close(); });

  it('moves the call state forward only: completed before in-progress, duplicates and late ringing leave it completed', async () => {
    const callSid = newSid('CA');
    await h.postVoice({ from: ALI, callSid });
    assert.equal((await callStatus(h, callSid))?.status, 'ringing');
    const seq = [
      ['completed', 3], ['in-progress', 1], ['completed', 3], ['ringing', 0], ['in-progress', 1], ['busy', 4],
    ] as const;
    for (const [status, n] of seq) {
      const res = await h.postStatus({ callSid, status, sequenceNumber: n });
      assert.ok(res.status >= 200 && res.status < 300, `${status}: ${res.status}`);
      const row = await callStatus(h, callSid);
      assert.equal(row?.status, 'completed', `after ${status}`);
      assert.equal(row?.status_rank, 4);
      assert.ok(row?.ended_at, 'ended_at set by the terminal status');
    }
  });

  it('applies in-order callbacks and ignores duplicates', async () => {
    const callSid = newSid('CA');
    await h.postVoice({ from: ALI, callSid });
    await h.postStatus({ callSid, status: 'in-progress', sequenceNumber: 1 });
    await h.postStatus({ callSid, status: 'in-progress', sequenceNumber: 1 });
    let row = await callStatus(h, callSid);
    assert.deepEqual({ status: row?.status, ended: row?.ended_at ?? null }, { status: 'in-progress', ended: null });
    await Promise.all(Array.from({ length: 10 }, () => h.postStatus({ callSid, status: 'completed', sequenceNumber: 3 })));
    row = await callStatus(h, callSid);
    assert.equal(row?.status, 'completed');
  });

  it('ignores callbacks for unknown calls and unknown statuses without writing', async () => {
    const callsBefore = await h.countCalls();
    const unknown = await h.postStatus({ callSid: newSid('CA'), status: 'completed', sequenceNumber: 3 });
    assert.ok(unknown.status >= 200 && unknown.status < 300);
    const callSid = newSid('CA');
    await h.postVoice({ from: ALI, callSid });
    const weird = await h.postStatus({ callSid, status: 'exploded', sequenceNumber: 2 });
    assert.ok(weird.status >= 200 && weird.status < 300);
    assert.equal((await callStatus(h, callSid))?.status, 'ringing');
    assert.equal(await h.countCalls(), callsBefore + 1);
  });

  it('refuses an unsigned or foreign-account status callback with 403 and leaves the state alone', async () => {
    const callSid = newSid('CA');
    await h.postVoice({ from: ALI, callSid });
    const unsigned = await h.postStatus({ callSid, status: 'completed', sequenceNumber: 3, signature: null });
    assert.equal(unsigned.status, 403);
    assert.equal(errorCode(unsigned.body), 'TEL_ERR_SIGNATURE');
    const foreign = await h.postStatus({ callSid, status: 'completed', sequenceNumber: 3, accountSid: 'AC' + '0'.repeat(32) });
    assert.equal(foreign.status, 403);
    const forgedUrl = await postWebhook({
      baseUrl: h.baseUrl, publicUrl: 'https://attacker.example', path: '/twilio/status', authToken: TEST_AUTH_TOKEN,
      params: { AccountSid: TEST_ACCOUNT_SID, CallSid: callSid, CallStatus: 'completed' },
    });
    assert.equal(forgedUrl.status, 403);
    assert.equal((await callStatus(h, callSid))?.status, 'ringing');
  });
});
