// The admin API's plugin endpoints as a tenant admin meets them: the egress policy behind the plugin test
// endpoint (SSRF), provider slots without keys, and credentials checked against the plugin's schema on save.
import assert from 'node:assert/strict';
import request from 'supertest';
import type express from 'express';
import { createHttpApp } from '../../core/app.js';
import { signDevToken } from '../../core/admin-api/auth.js';
import { demoConfig } from '../../core/tenancy/seed.js';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.js';
import { startFakeTwenty, type FakeTwenty } from '../fakes/twenty.js';

const A = '/admin/v1';

/** The demo dealership with crm-twenty in the CRM slot (no vehicle slot: crm-twenty stores no vehicles by default). */
function twentyConfig(credentialsRef: string): Record<string, unknown> {
  const c = demoConfig();
  const { vehicle: _vehicle, ...plugins } = c.plugins as Record<string, unknown>;
  return { ...c, plugins: { ...plugins, crm: { plugin: 'crm-twenty', credentialsRef } } };
}

describe('admin plugin endpoints', function () {
  this.timeout(60_000);
  let fake: FakeTwenty;

  before(async () => { fake = await startFakeTwenty({ rateLimit: false }); });
  after(async () => { await fake?.close(); });

  describe('on a platform that allow-lists nothing and sets no provider keys', () => {
    let tp: TestPlatform;
    let app: express.Express;
    let tenantId: string;
    let auth: { Authorization: string };

    before(async () => {
      // PLUGIN_EGRESS_ALLOW empty: the production default. The fake Twenty listens on 127.0.0.1 all the same.
      tp = await startTestPlatform({ env: { PLUGIN_EGRESS_ALLOW: '' } });
      app = createHttpApp(tp.p);
      tenantId = (await tp.p.tenants.create({ name: 'Probe Motors', config: twentyConfig('twenty') })).id;
      auth = { Authorization: `Bearer ${signDevToken({ secret: tp.cfg.jwt.secret!, role: 'tenant_admin', tenant: tenantId, sub: 'dealer-admin' })}` };
    });
    after(async () => { await tp?.close(); });

    const putTwenty = (baseUrl: string) => request(app).put(`${A}/tenants/${tenantId}/credentials/twenty`).set(auth)
      .send({ value: { apiKey: 'twenty-test-key', baseUrl } });
    const testCrm = () => request(app).post(`${A}/tenants/${tenantId}/plugins/crm/test`).set(auth);

    it('refuses crm-twenty pointed at a listening loopback server: the test endpoint and calls fail with PLG_ERR_EGRESS_REFUSED, and the server receives nothing', async () => {
      fake.requests.length = 0;
      assert.equal((await putTwenty(fake.url)).status, 204);
      const res = await testCrm();
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.result.ok, false);
      assert.equal(res.body.result.error.code, 'PLG_ERR_EGRESS_REFUSED', JSON.stringify(res.body.result));
      assert.match(res.body.result.error.message, /127\.0\.0\.1/);
      const crm = await tp.p.registry.get(tenantId, 'crm');
      await assert.rejects(crm.findCustomers({ phone: '+14085550111' }), (e: { code?: string }) => e.code === 'PLG_ERR_EGRESS_REFUSED');
      assert.equal(fake.requests.length, 0, 'the loopback server received no request');
    });

    it('refuses the cloud metadata address, a name resolving to loopback and IPv4-mapped IPv6 the same way', async () => {
      fake.requests.length = 0;
      const port = new URL(fake.url).port;
      for (const baseUrl of ['http://169.254.169.254', `http://localhost:${port}`, `http://[::ffff:127.0.0.1]:${port}`]) {
        assert.equal((await putTwenty(baseUrl)).status, 204);
        const res = await testCrm();
        assert.equal(res.body.result.ok, false, baseUrl);
        assert.equal(res.body.result.error.code, 'PLG_ERR_EGRESS_REFUSED', `${baseUrl}: ${JSON.stringify(res.body.result)}`);
      }
      assert.equal(fake.requests.length, 0);
    });

    it('reports llm, stt and tts as not ok when no API key is configured, naming the missing credential', async () => {
      for (const slot of ['llm', 'stt', 'tts']) {
        const res = await request(app).post(`${A}/tenants/${tenantId}/plugins/${slot}/test`).set(auth);
        assert.equal(res.status, 200);
        assert.equal(res.body.result.ok, false, `${slot}: ${JSON.stringify(res.body.result)}`);
        assert.equal(res.body.result.error.code, 'PLG_ERR_CREDENTIALS_MISSING');
        assert.match(res.body.result.error.message, /unconfigured: missing credential apiKey/);
      }
      const status = await request(app).get(`${A}/tenants/${tenantId}/plugins`).set(auth);
      const llm = (status.body.slots as { slot: string; state: string; error?: { code: string } }[]).find((s) => s.slot === 'llm');
      assert.equal(llm?.state, 'disabled');
      assert.equal(llm?.error?.code, 'PLG_ERR_CREDENTIALS_MISSING');
    });

    it('refuses a credential that does not match the referencing plugin\'s schema (the old README example: a bare string) with 422 naming the fields, storing nothing', async () => {
      const cfg = await request(app).put(`${A}/tenants/${tenantId}/config`).set(auth).send(twentyConfig('twenty-key'));
      assert.equal(cfg.status, 200, JSON.stringify(cfg.body));
      const res = await request(app).put(`${A}/tenants/${tenantId}/credentials/twenty-key`).set(auth).send({ value: 'the-dealership-crm-key' });
      assert.equal(res.status, 422, JSON.stringify(res.body));
      assert.equal(res.body.error.code, 'PLG_ERR_CREDENTIALS_INVALID');
      assert.match(res.body.error.message, /apiKey/);
      assert.match(res.body.error.message, /baseUrl/);
      assert.deepEqual(res.body.error.details.errors[0].details.fields.map((f: { field: string }) => f.field), ['apiKey', 'baseUrl']);
      assert.equal(await tp.p.tenants.getCredential(tenantId, 'twenty-key'), undefined, 'nothing stored');
      assert.ok(!(await tp.p.tenants.listCredentialNames(tenantId)).includes('twenty-key'));
      const half = await request(app).put(`${A}/tenants/${tenantId}/credentials/twenty-key`).set(auth).send({ value: { apiKey: 'k' } });
      assert.equal(half.status, 422);
      assert.match(half.body.error.message, /baseUrl is required/);
      assert.equal(await tp.p.tenants.getCredential(tenantId, 'twenty-key'), undefined);
    });

    it('refuses a config whose referenced stored credential does not match the plugin (422), leaving the config unchanged', async () => {
      // Stored while nothing referenced it: nothing to check it against then.
      assert.equal((await request(app).put(`${A}/tenants/${tenantId}/credentials/loose`).set(auth).send({ value: { apiKey: 'k' } })).status, 204);
      const before = await tp.p.tenants.get(tenantId);
      const res = await request(app).put(`${A}/tenants/${tenantId}/config`).set(auth).send(twentyConfig('loose'));
      assert.equal(res.status, 422, JSON.stringify(res.body));
      assert.equal(res.body.error.code, 'PLG_ERR_CREDENTIALS_INVALID');
      assert.equal(res.body.error.details.errors[0].details.path, '/plugins/crm/credentialsRef');
      assert.match(res.body.error.message, /baseUrl/);
      const afterSave = await tp.p.db('platform.tenants').where({ id: tenantId }).first('config_hash');
      assert.equal(afterSave.config_hash, before.configHash, 'the config was not replaced');
    });
  });

  describe('on a platform that allow-lists loopback', () => {
    let tp: TestPlatform;
    let app: express.Express;

    before(async () => {
      tp = await startTestPlatform({ env: { PLUGIN_EGRESS_ALLOW: '127.0.0.1/32' } });
      app = createHttpApp(tp.p);
    });
    after(async () => { await tp?.close(); });

    it('reaches the allow-listed loopback Twenty and reports the test ok', async () => {
      fake.requests.length = 0;
      const t = await tp.p.tenants.create({ name: 'Allowed Motors', config: twentyConfig('twenty') });
      const auth = { Authorization: `Bearer ${signDevToken({ secret: tp.cfg.jwt.secret!, role: 'tenant_admin', tenant: t.id, sub: 'dealer-admin' })}` };
      assert.equal((await request(app).put(`${A}/tenants/${t.id}/credentials/twenty`).set(auth).send({ value: { apiKey: 'twenty-test-key', baseUrl: fake.url } })).status, 204);
      const res = await request(app).post(`${A}/tenants/${t.id}/plugins/crm/test`).set(auth);
      assert.deepEqual({ ok: res.body.result.ok, error: res.body.result.error }, { ok: true, error: undefined });
      assert.ok(fake.requests.some((r) => r.path.startsWith('/rest/people')), 'the request reached Twenty');
    });
  });
});
