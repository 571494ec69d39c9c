// Number onboarding and call control through the tenant's telephony plugin (telephony-twilio), with the real
// twilio SDK routed to the fake Twilio REST by TWILIO_API_BASE_URL: the admin API's PUT number points the
// Twilio number's webhooks at PUBLIC_BASE_URL, and hang-up/transfer send the documented form bodies.
import assert from 'node:assert/strict';
import { signDevToken } from '../../core/admin-api/auth.js';
import { ADMIN_BASE_PATH } from '../../core/admin-api/router.js';
import { demoConfig } from '../../core/tenancy/seed.js';
import { newSid } from '../fakes/twilio-webhooks.js';
import type { RecordedTwilioRequest } from '../fakes/twilio-rest.js';
import { PUBLIC_BASE_URL, TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, startCallHarness, type CallHarness } from '../helpers/call-harness.js';

const ACCOUNT_PATH = `/2010-04-01/Accounts/${TEST_ACCOUNT_SID}`;

interface AttachAnswer { status: number; body: { e164?: string; tenantId?: string; webhooksConfigured?: boolean; reason?: string | null; error?: { code: string } } }

describe('Telephony number onboarding (PUT /admin/v1/tenants/:id/numbers/:e164)', function () {
  this.timeout(30_000);
  let h: CallHarness;
  let token: string;
  before(async () => {
    h = await startCallHarness();
    token = signDevToken({ secret: h.tp.cfg.jwt.secret!, role: 'platform_admin' });
  });
  after(async () => { await h?.close(); });

  const attach = async (tenantId: string, e164: string): Promise<AttachAnswer> => {
    const res = await fetch(`${h.baseUrl}${ADMIN_BASE_PATH}/tenants/${tenantId}/numbers/${encodeURIComponent(e164)}`, {
      method: 'PUT', headers: { authorization: `Bearer ${token}` },
    });
    return { status: res.status, body: (await res.json()) as AttachAnswer['body'] };
  };
  const numberRow = (e164: string): Promise<{ tenant_id: string; webhooks_configured: boolean; provider_sid: string | null } | undefined> =>
    h.p.db('platform.phone_numbers').where({ e164 }).first('tenant_id', 'webhooks_configured', 'provider_sid');
  const requestsSince = (n: number): RecordedTwilioRequest[] => h.twilio.requests.slice(n);
  const newTenant = async (name: string): Promise<string> => (await h.p.tenants.create({ name, config: { ...demoConfig(), name } })).id;

  it("points an owned number's voice and status webhooks at PUBLIC_BASE_URL and says so", async () => {
    const e164 = '+14085550166';
    const owned = h.twilio.addNumber(e164, { voiceUrl: 'https://old.example/voice' });
    const n = h.twilio.requests.length;
    const r = await attach(h.tenantId, e164);
    assert.equal(r.status, 201);
    assert.deepEqual({ e164: r.body.e164, tenantId: r.body.tenantId, webhooksConfigured: r.body.webhooksConfigured, reason: r.body.reason },
      { e164, tenantId: h.tenantId, webhooksConfigured: true, reason: null });
    const reqs = requestsSince(n);
    const lookup = reqs.find((q) => q.method === 'GET' && q.path === `${ACCOUNT_PATH}/IncomingPhoneNumbers.json`);
    assert.ok(lookup, 'looked the number up in the account');
    assert.equal(lookup.query.PhoneNumber, e164);
    const updates = reqs.filter((q) => q.method === 'POST');
    assert.equal(updates.length, 1);
    assert.equal(updates[0]!.path, `${ACCOUNT_PATH}/IncomingPhoneNumbers/${owned.sid}.json`);
    assert.deepEqual(updates[0]!.form, {
      VoiceUrl: `${PUBLIC_BASE_URL}/twilio/voice`, VoiceMethod: 'POST',
      StatusCallback: `${PUBLIC_BASE_URL}/twilio/status`, StatusCallbackMethod: 'POST',
    });
    assert.equal(updates[0]!.headers.authorization, 'Basic ' + Buffer.from(`${TEST_ACCOUNT_SID}:${TEST_AUTH_TOKEN}`).toString('base64'));
    assert.equal(owned.voiceUrl, `${PUBLIC_BASE_URL}/twilio/voice`);
    assert.deepEqual(await numberRow(e164), { tenant_id: h.tenantId, webhooks_configured: true, provider_sid: owned.sid });
  });

  it('attaches a number the account does not own but answers configured:false with a reason, and updates nothing', async () => {
    const e164 = '+14085550167';
    const n = h.twilio.requests.length;
    const r = await attach(h.tenantId, e164);
    assert.equal(r.status, 201);
    assert.equal(r.body.webhooksConfigured, false);
    assert.match(r.body.reason ?? '', /not owned/);
    assert.equal(requestsSince(n).filter((q) => q.method === 'POST').length, 0);
    assert.deepEqual(await numberRow(e164), { tenant_id: h.tenantId, webhooks_configured: false, provider_sid: null });
  });

  it('never configures another number whose digits merely contain the requested one', async () => {
    // Twilio's PhoneNumber filter is a pattern match: the lookup can return a longer number.
    const longer = h.twilio.addNumber('+4420794600001');
    const r = await h.p.telephony.configureNumber({ tenantId: h.tenantId, e164: '+442079460000' });
    assert.equal(r.configured, false);
    assert.equal(longer.voiceUrl, '', 'the other number was left alone');
  });

  it('still attaches the number when Twilio answers 401, with configured:false and the reason', async () => {
    const tenantId = await newTenant('Auth Fail Motors');
    const e164 = '+14085550168';
    h.twilio.addNumber(e164);
    h.twilio.failNext(401, { code: 20003, message: 'Authenticate' });
    const r = await attach(tenantId, e164);
    assert.equal(r.status, 201);
    assert.equal(r.body.webhooksConfigured, false);
    assert.ok(r.body.reason);
    assert.deepEqual(await numberRow(e164), { tenant_id: tenantId, webhooks_configured: false, provider_sid: null });
  });

  it('still attaches the number when Twilio keeps answering 500, with configured:false', async () => {
    const tenantId = await newTenant('Upstream Fail Motors');
    const e164 = '+14085550169';
    const owned = h.twilio.addNumber(e164);
    for (let i = 0; i < 5; i++) h.twilio.failNext(500);
    const r = await attach(tenantId, e164);
    assert.equal(r.status, 201);
    assert.equal(r.body.webhooksConfigured, false);
    assert.ok(r.body.reason);
    assert.equal(owned.voiceUrl, '');
    assert.equal((await numberRow(e164))?.webhooks_configured, false);
  });

  it('re-attaching an attached number is idempotent (200) and configures it once Twilio recovers', async () => {
    const tenantId = await newTenant('Recovering Motors');
    const e164 = '+14085550170';
    h.twilio.addNumber(e164);
    h.twilio.failNext(401);
    assert.equal((await attach(tenantId, e164)).body.webhooksConfigured, false);
    const again = await attach(tenantId, e164);
    assert.equal(again.status, 200);
    assert.equal(again.body.webhooksConfigured, true);
    assert.equal((await numberRow(e164))?.webhooks_configured, true);
  });

  it('refuses a number held by another tenant with 409 TEN_ERR_NUMBER_TAKEN and does not touch Twilio', async () => {
    const tenantId = await newTenant('Poacher Motors');
    const n = h.twilio.requests.length;
    const r = await attach(tenantId, '+14085550166');
    assert.equal(r.status, 409);
    assert.equal(r.body.error?.code, 'TEN_ERR_NUMBER_TAKEN');
    assert.equal(requestsSince(n).length, 0);
  });
});

describe('Telephony call control (hang-up, transfer)', function () {
  this.timeout(30_000);
  let h: CallHarness;
  before(async () => { h = await startCallHarness(); });
  after(async () => { await h?.close(); });

  /** A live call at the fake Twilio (the PSTN side of the test). */
  async function liveCall(): Promise<string> {
    const res = await fetch(`${h.twilio.url}${ACCOUNT_PATH}/Calls.json`, {
      method: 'POST',
      headers: { authorization: 'Basic ' + Buffer.from(`${TEST_ACCOUNT_SID}:${TEST_AUTH_TOKEN}`).toString('base64'), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ To: '+14086137788', From: '+14085550123', Twiml: '<Response><Pause length="60"/></Response>' }),
    });
    const sid = ((await res.json()) as { sid: string }).sid;
    h.twilio.setCallStatus(sid, 'in-progress');
    return sid;
  }

  it('hangs up through the REST API with Status=completed', async () => {
    const sid = await liveCall();
    await h.p.telephony.hangUp({ tenantId: h.tenantId, callSid: sid });
    const call = h.twilio.calls.get(sid)!;
    assert.deepEqual(call.updates, [{ Status: 'completed' }]);
    assert.equal(call.status, 'completed');
    const req = h.twilio.requests.at(-1)!;
    assert.equal(req.method, 'POST');
    assert.equal(req.path, `${ACCOUNT_PATH}/Calls/${sid}.json`);
  });

  it('treats hanging up a call Twilio no longer knows as done', async () => {
    await h.p.telephony.hangUp({ tenantId: h.tenantId, callSid: newSid('CA') });
    assert.equal(h.twilio.requests.at(-1)!.status, 404);
  });

  it("transfers by <Dial> to the tenant's transfer number, never another", async () => {
    const sid = await liveCall();
    await h.p.telephony.transfer({ tenantId: h.tenantId, callSid: sid });
    const call = h.twilio.calls.get(sid)!;
    assert.equal(call.updates.length, 1);
    const twiml = call.updates[0]!.Twiml;
    assert.equal(typeof twiml, 'string');
    assert.match(twiml as string, /^<\?xml[^>]*\?><Response><Dial[^>]*>\+14085550100<\/Dial><\/Response>$/);
    assert.equal(call.updates[0]!.Status, undefined, 'the call stays up while it is bridged');
  });

  it('reports a transfer Twilio refuses instead of pretending it happened', async () => {
    const sid = await liveCall();
    h.twilio.failNext(400, { code: 21220, message: 'Call is not in-progress. Cannot redirect.' });
    await assert.rejects(h.p.telephony.transfer({ tenantId: h.tenantId, callSid: sid }));
    assert.deepEqual(h.twilio.calls.get(sid)!.updates, []);
  });

  it('refuses to transfer for a tenant without a transfer number and sends nothing to Twilio', async () => {
    const cfg = demoConfig();
    delete cfg.transferNumber;
    const t = await h.p.tenants.create({ name: 'No Transfer Motors', config: cfg });
    const sid = await liveCall();
    const n = h.twilio.requests.length;
    await assert.rejects(h.p.telephony.transfer({ tenantId: t.id, callSid: sid }), (e: unknown) => (e as { code?: string }).code === 'TEL_ERR_PROVIDER');
    assert.equal(h.twilio.requests.length, n);
  });
});
