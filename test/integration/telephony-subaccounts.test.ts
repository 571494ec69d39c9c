// Issue 8 item 6 (subaccounts): a dealership on its own Twilio subaccount has its numbers' webhooks signed by
// that subaccount. Core picks the verifying key from the tenant it resolved (dialled number for /voice, the
// CallSid's route for /status) — the telephony slot's stored credential — and requires the signed AccountSid
// to be that account; the body's AccountSid never picks a key (tenancy-security §6.1 #5).
import assert from 'node:assert/strict';
import { demoConfig } from '../../core/tenancy/seed.js';
import { newSid, postWebhook, statusCallbackParams, voiceWebhookParams } from '../fakes/twilio-webhooks.js';
import {
  DEMO_NUMBER, PUBLIC_BASE_URL, TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, parseStreamTwiml, startCallHarness, type CallHarness,
} from '../helpers/call-harness.js';

interface Account { sid: string; token: string }
const SUB_A: Account = { sid: 'AC' + '0a'.repeat(16), token: 'subaccount-a-auth-token-0001' };
const SUB_B: Account = { sid: 'AC' + '0b'.repeat(16), token: 'subaccount-b-auth-token-0002' };
const PLATFORM: Account = { sid: TEST_ACCOUNT_SID, token: TEST_AUTH_TOKEN };
const NUMBER_A = '+14085550701';
const NUMBER_B = '+14085550702';
const CALLER = '+14086137788';

function code(body: string): string | undefined {
  try { return (JSON.parse(body) as { error?: { code?: string } }).error?.code; } catch { return undefined; }
}

describe('Twilio webhooks for dealerships on their own subaccounts', function () {
  this.timeout(60_000);
  let h: CallHarness;
  const tenantOf: Record<string, string> = {};

  before(async () => {
    h = await startCallHarness();
    for (const [name, number, acct] of [['Subaccount A Motors', NUMBER_A, SUB_A], ['Subaccount B Motors', NUMBER_B, SUB_B]] as const) {
      const cfg = demoConfig() as { plugins: Record<string, unknown> } & Record<string, unknown>;
      const t = await h.p.tenants.create({ name, config: { ...cfg, plugins: { ...cfg.plugins, telephony: { plugin: 'telephony-twilio', credentialsRef: 'twilio' } } } });
      await h.p.tenants.putCredential(t.id, 'twilio', { accountSid: acct.sid, authToken: acct.token });
      await h.p.tenants.attachNumber(t.id, number);
      tenantOf[number] = t.id;
    }
    tenantOf[DEMO_NUMBER] = h.tenantId;
  });
  after(async () => { await h?.close(); });

  /** A voice webhook to `to`, carrying `accountSid`, signed with `signer`'s token. */
  const voice = (o: { to: string; accountSid: string; signer: Account; callSid?: string }) => {
    const callSid = o.callSid ?? newSid('CA');
    return postWebhook({
      baseUrl: h.baseUrl, publicUrl: PUBLIC_BASE_URL, path: '/twilio/voice', authToken: o.signer.token,
      params: voiceWebhookParams({ accountSid: o.accountSid, callSid, from: CALLER, to: o.to }),
    }).then((res) => ({ res, callSid }));
  };
  const callRow = (to: string, callSid: string) => h.p.tenants.withTenant(tenantOf[to]!, (trx) => trx('calls').where({ call_sid: callSid }).first('id', 'status'));

  for (const [label, to, acct] of [['subaccount A', NUMBER_A, SUB_A], ['subaccount B', NUMBER_B, SUB_B], ['the platform account', DEMO_NUMBER, PLATFORM]] as const) {
    it(`answers a call to a number of ${label}, signed with its own token, with a stream and a call row in its tenant`, async () => {
      const { res, callSid } = await voice({ to, accountSid: acct.sid, signer: acct });
      assert.equal(res.status, 200, res.body);
      assert.ok(parseStreamTwiml(res.body), res.body);
      assert.ok(await callRow(to, callSid), 'the call row is in the dialled dealership');
    });
  }

  it('refuses with 403 a webhook for subaccount A\'s number signed with subaccount B\'s token (either AccountSid), and writes nothing', async () => {
    const callsBefore = await h.countCalls(tenantOf[NUMBER_A]);
    const routesBefore = await h.countRoutes();
    for (const accountSid of [SUB_B.sid, SUB_A.sid]) {
      const { res, callSid } = await voice({ to: NUMBER_A, accountSid, signer: SUB_B });
      assert.equal(res.status, 403, `AccountSid ${accountSid}`);
      assert.equal(code(res.body), 'TEL_ERR_SIGNATURE');
      assert.equal(await callRow(NUMBER_A, callSid), undefined);
    }
    assert.equal(await h.countCalls(tenantOf[NUMBER_A]), callsBefore);
    assert.equal(await h.countRoutes(), routesBefore);
    assert.deepEqual(h.providerSessions(), { llmRequests: 0, sttSessions: 0, ttsSessions: 0, ttsRest: 0 });
  });

  it('refuses the platform token for a subaccount\'s number, and a subaccount token for a platform number', async () => {
    assert.equal((await voice({ to: NUMBER_A, accountSid: PLATFORM.sid, signer: PLATFORM })).res.status, 403);
    assert.equal((await voice({ to: NUMBER_A, accountSid: SUB_A.sid, signer: PLATFORM })).res.status, 403);
    assert.equal((await voice({ to: DEMO_NUMBER, accountSid: SUB_A.sid, signer: SUB_A })).res.status, 403);
    assert.equal((await voice({ to: DEMO_NUMBER, accountSid: PLATFORM.sid, signer: SUB_A })).res.status, 403);
  });

  it('refuses a webhook correctly signed by subaccount A but naming another account in AccountSid', async () => {
    const { res } = await voice({ to: NUMBER_A, accountSid: SUB_B.sid, signer: SUB_A });
    assert.equal(res.status, 403);
    assert.equal(code(res.body), 'TEL_ERR_SIGNATURE');
  });

  it('verifies status callbacks of a subaccount call with that subaccount\'s token (found through the call route)', async () => {
    const { res, callSid } = await voice({ to: NUMBER_B, accountSid: SUB_B.sid, signer: SUB_B });
    assert.equal(res.status, 200);
    const status = (signer: Account, seq: number, callStatus: string) => postWebhook({
      baseUrl: h.baseUrl, publicUrl: PUBLIC_BASE_URL, path: '/twilio/status', authToken: signer.token,
      params: statusCallbackParams({ accountSid: signer.sid, callSid, callStatus, sequenceNumber: seq, from: CALLER, to: NUMBER_B, direction: 'inbound' }),
    });
    const forged = await status(SUB_A, 1, 'completed');
    assert.equal(forged.status, 403);
    assert.equal((await callRow(NUMBER_B, callSid))?.status, 'ringing', 'the forged completion changed nothing');
    const real = await status(SUB_B, 2, 'in-progress');
    assert.equal(real.status, 204);
    assert.equal((await callRow(NUMBER_B, callSid))?.status, 'in-progress');
  });
});
