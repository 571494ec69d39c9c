import assert from 'node:assert/strict';
import request from 'supertest';
import type express from 'express';
import { createHttpApp } from '../../core/app.js';
import { signDevToken } from '../../core/admin-api/auth.js';
import { demoConfig } from '../../core/tenancy/seed.js';
import { startFakeTwilioRest, type FakeTwilioRest } from '../fakes/twilio-rest.js';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.js';

const A = '/admin/v1';
const SID = `AC${'0123456789abcdef'.repeat(2)}`;

describe('admin API onboarding against Twilio (integration, fake Twilio REST)', function () {
  this.timeout(60_000);
  let twilio: FakeTwilioRest;
  let tp: TestPlatform;
  let app: express.Express;
  let auth: { Authorization: string };

  before(async () => {
    twilio = await startFakeTwilioRest({ accountSid: SID, authToken: 'fake-auth-token-0123456789abcdef' });
    twilio.addNumber('+14085550199', { voiceUrl: 'https://old.example.com/voice' });
    tp = await startTestPlatform({ env: { TWILIO_ACCOUNT_SID: SID, TWILIO_AUTH_TOKEN: 'fake-auth-token-0123456789abcdef', TWILIO_API_BASE_URL: twilio.url } });
    app = createHttpApp(tp.p);
    auth = { Authorization: `Bearer ${signDevToken({ secret: tp.cfg.jwt.secret!, role: 'platform_admin' })}` };
  });
  after(async () => { await tp?.close(); await twilio?.close(); });

  it('onboards in two calls and points the owned number\'s webhooks at PUBLIC_BASE_URL', async () => {
    const c = await request(app).post(`${A}/tenants`).set(auth).send({ name: 'Sunnyvale Honda', slug: 'sunnyvale-honda', config: demoConfig() });
    assert.equal(c.status, 201, JSON.stringify(c.body));
    const n = await request(app).put(`${A}/tenants/${c.body.id}/numbers/+14085550199`).set(auth);
    assert.equal(n.status, 201, JSON.stringify(n.body));
    assert.deepEqual(n.body, { e164: '+14085550199', tenantId: c.body.id, webhooksConfigured: true, reason: null });
    const num = [...twilio.numbers.values()].find((x) => x.phoneNumber === '+14085550199')!;
    assert.equal(num.voiceUrl, 'https://servicelane.test/twilio/voice');
    assert.equal(num.statusCallback, 'https://servicelane.test/twilio/status');
    const d = await request(app).get(`${A}/tenants/${c.body.id}`).set(auth);
    assert.deepEqual(d.body.numbers, [{ e164: '+14085550199', webhooksConfigured: true }]);
  });

  it('still attaches a number the account does not own, and says why webhooks were not set', async () => {
    const c = await request(app).post(`${A}/tenants`).set(auth).send({ name: 'Elsewhere Ford', config: demoConfig() });
    const n = await request(app).put(`${A}/tenants/${c.body.id}/numbers/+14085550188`).set(auth);
    assert.equal(n.status, 201);
    assert.equal(n.body.webhooksConfigured, false);
    assert.equal(typeof n.body.reason, 'string');
    assert.equal((await tp.p.tenants.resolveNumber('+14085550188'))?.id, c.body.id);
  });
});
