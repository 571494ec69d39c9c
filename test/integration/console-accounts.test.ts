import assert from 'node:assert/strict';
import request from 'supertest';
import type express from 'express';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { createHttpApp, listen } from '../../core/app.js';
import { signDevToken } from '../../core/admin-api/auth.js';
import { MAX_FAILED_LOGINS } from '../../core/accounts/accounts.js';
import { authorize } from '../../core/accounts/policy.js';
import { demoConfig } from '../../core/tenancy/seed.js';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.js';
import { createConsoleUser, TEST_PASSWORD } from '../helpers/console-users.js';

const A = '/admin/v1';
const C = '/console/api';

/** Signs in and returns the cookie header value and the CSRF token. */
async function signIn(app: express.Express, email: string, password = TEST_PASSWORD): Promise<{ cookie: string; csrf: string }> {
  const res = await request(app).post(`${C}/session`).send({ email, password });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  const set = res.headers['set-cookie'] as unknown as string[];
  return { cookie: set[0]!.split(';')[0]!, csrf: res.body.csrf };
}

describe('console accounts and the shared policy (integration)', function () {
  this.timeout(60_000);
  let tp: TestPlatform;
  let app: express.Express;
  let tenantA: string;
  let tenantB: string;
  const rows = async (table: string) => Number(((await tp.p.db(table).count('* as n')) as { n: string }[])[0]!.n);

  before(async () => {
    tp = await startTestPlatform();
    app = createHttpApp(tp.p);
    tenantA = (await tp.p.tenants.create({ name: 'A Motors', slug: 'a-motors', config: demoConfig() })).id;
    tenantB = (await tp.p.tenants.create({ name: 'B Motors', slug: 'b-motors', config: demoConfig() })).id;
    await createConsoleUser(tp.p, { email: 'ops@platform.test', role: 'platform_admin' });
    await createConsoleUser(tp.p, { email: 'admin@a.test', role: 'tenant_admin', tenantId: tenantA });
    await createConsoleUser(tp.p, { email: 'viewer@a.test', role: 'tenant_viewer', tenantId: tenantA });
    await createConsoleUser(tp.p, { email: 'lock@a.test', role: 'tenant_admin', tenantId: tenantA });
  });
  after(async () => { await tp?.close(); });

  it('sets an HttpOnly, SameSite=Strict, Secure session cookie (PUBLIC_BASE_URL is https) and stores only its hash', async () => {
    const res = await request(app).post(`${C}/session`).send({ email: 'admin@a.test', password: TEST_PASSWORD });
    assert.equal(res.status, 200);
    const cookie = (res.headers['set-cookie'] as unknown as string[])[0]!;
    assert.match(cookie, /^sl_session=[A-Za-z0-9_-]{43};/);
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Strict/);
    assert.match(cookie, /Secure/);
    const raw = cookie.split(';')[0]!.split('=')[1]!;
    assert.equal(await tp.p.db('platform.sessions').where({ id_hash: raw }).first(), undefined, 'the raw session id is not a stored key');
    const user = await tp.p.db('platform.users').where({ email: 'admin@a.test' }).first('password_hash');
    assert.match(user.password_hash, /^\$argon2id\$/);
  });

  it('refuses a wrong password and an unknown email with the same code, and opens no session', async () => {
    const before = await rows('platform.sessions');
    const wrong = await request(app).post(`${C}/session`).send({ email: 'admin@a.test', password: 'not the password!!' });
    const unknown = await request(app).post(`${C}/session`).send({ email: 'nobody@a.test', password: 'whatever-whatever' });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.error.code, 'ACC_ERR_BAD_CREDENTIALS');
    assert.equal(unknown.body.error.code, 'ACC_ERR_BAD_CREDENTIALS');
    assert.equal(await rows('platform.sessions'), before);
  });

  it(`locks the account after ${MAX_FAILED_LOGINS} wrong passwords: even the right one is refused while locked`, async () => {
    const codes: string[] = [];
    for (let i = 0; i < MAX_FAILED_LOGINS; i++) codes.push((await request(app).post(`${C}/session`).send({ email: 'lock@a.test', password: `wrong-password-${i}` })).body.error.code);
    assert.deepEqual(codes, [...Array(MAX_FAILED_LOGINS - 1).fill('ACC_ERR_BAD_CREDENTIALS'), 'ACC_ERR_LOCKED']);
    const right = await request(app).post(`${C}/session`).send({ email: 'lock@a.test', password: TEST_PASSWORD });
    assert.equal(right.status, 423);
    assert.equal(right.body.error.code, 'ACC_ERR_LOCKED');
  });

  it('refuses a state-changing request without the CSRF token (ACC_ERR_CSRF) and changes nothing', async () => {
    const s = await signIn(app, 'admin@a.test');
    const cfg = { ...demoConfig(), name: 'Renamed by CSRF' };
    const res = await request(app).put(`${A}/tenants/${tenantA}/config`).set('Cookie', s.cookie).send(cfg);
    assert.equal(res.status, 403);
    assert.equal(res.body.error.code, 'ACC_ERR_CSRF');
    const wrongToken = await request(app).put(`${A}/tenants/${tenantA}/config`).set('Cookie', s.cookie).set('X-CSRF-Token', 'x'.repeat(43)).send(cfg);
    assert.equal(wrongToken.body.error.code, 'ACC_ERR_CSRF');
    assert.notEqual((await tp.p.tenants.get(tenantA)).config?.name, 'Renamed by CSRF');
    const ok = await request(app).put(`${A}/tenants/${tenantA}/config`).set('Cookie', s.cookie).set('X-CSRF-Token', s.csrf).send({ ...cfg, name: 'A Motors Service' });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal((await tp.p.tenants.get(tenantA)).config?.name, 'A Motors Service');
  });

  it('a tenant admin session gets 403 on another tenant (the same rule as a tenant_admin JWT), and the refusal is audited', async () => {
    const s = await signIn(app, 'admin@a.test');
    const viaSession = await request(app).get(`${A}/tenants/${tenantB}/calls`).set('Cookie', s.cookie);
    const token = signDevToken({ secret: tp.cfg.jwt.secret!, role: 'tenant_admin', tenant: tenantA });
    const viaJwt = await request(app).get(`${A}/tenants/${tenantB}/calls`).set('Authorization', `Bearer ${token}`);
    assert.equal(viaSession.status, 403);
    assert.equal(viaSession.body.error.code, 'ADM_ERR_FORBIDDEN');
    assert.equal(viaJwt.status, 403);
    const audit = await tp.p.db('platform.audit_log').where({ action: 'forbidden', actor: 'admin@a.test' }).first('tenant_id', 'details');
    assert.equal(audit.tenant_id, tenantB);
    assert.equal((await request(app).get(`${A}/tenants/${tenantA}/calls`).set('Cookie', s.cookie)).status, 200);
  });

  it('a tenant_viewer reads but may not change configuration, and sees caller numbers hidden', async () => {
    const s = await signIn(app, 'viewer@a.test');
    await tp.p.tenants.withTenant(tenantA, (trx) => trx('calls').insert({ call_sid: `CA${'1'.repeat(32)}`, direction: 'inbound', from_number: '+14085550199', to_number: '+14085550100' }));
    const calls = await request(app).get(`${A}/tenants/${tenantA}/calls`).set('Cookie', s.cookie);
    assert.equal(calls.status, 200);
    assert.equal(calls.body.items[0].from, 'hidden');
    const put = await request(app).put(`${A}/tenants/${tenantA}/config`).set('Cookie', s.cookie).set('X-CSRF-Token', s.csrf).send(demoConfig());
    assert.equal(put.status, 403);
    assert.equal(authorize({ sub: 'v', role: 'tenant_viewer', tenant: tenantA }, 'tenant.config', tenantA).ok, false);
  });

  it('an invitation works once: the second accept is ACC_ERR_INVITE_INVALID and creates no user', async () => {
    const ops = await signIn(app, 'ops@platform.test');
    const inv = await request(app).post(`${C}/invitations`).set('Cookie', ops.cookie).set('X-CSRF-Token', ops.csrf).send({ email: 'New@B.test', role: 'tenant_admin', tenantId: tenantB });
    assert.equal(inv.status, 201, JSON.stringify(inv.body));
    assert.equal(inv.body.delivered, 'printed');
    const token = /#\/accept\/(.+)$/.exec(inv.body.link)![1]!;
    const weak = await request(app).post(`${C}/invitations/accept`).send({ token, password: 'short' });
    assert.equal(weak.body.error.code, 'ACC_ERR_PASSWORD_WEAK');
    assert.equal((await request(app).post(`${C}/invitations/accept`).send({ token, password: TEST_PASSWORD })).status, 201);
    const users = await rows('platform.users');
    const again = await request(app).post(`${C}/invitations/accept`).send({ token, password: TEST_PASSWORD });
    assert.equal(again.status, 410);
    assert.equal(again.body.error.code, 'ACC_ERR_INVITE_INVALID');
    assert.equal(await rows('platform.users'), users);
    await signIn(app, 'new@b.test');
  });

  it('a tenant admin may not invite a platform admin or into another tenant', async () => {
    const s = await signIn(app, 'admin@a.test');
    const up = await request(app).post(`${C}/invitations`).set('Cookie', s.cookie).set('X-CSRF-Token', s.csrf).send({ email: 'x@a.test', role: 'platform_admin' });
    const other = await request(app).post(`${C}/invitations`).set('Cookie', s.cookie).set('X-CSRF-Token', s.csrf).send({ email: 'x@a.test', role: 'tenant_admin', tenantId: tenantB });
    assert.equal(up.status, 403);
    assert.equal(other.status, 403);
    assert.equal(await tp.p.db('platform.invitations').where({ email: 'x@a.test' }).first(), undefined);
  });

  it('removing a user ends their session at once; offboarding a tenant ends its users\' sessions', async () => {
    await createConsoleUser(tp.p, { email: 'temp@a.test', role: 'tenant_viewer', tenantId: tenantA });
    const temp = await signIn(app, 'temp@a.test');
    const admin = await signIn(app, 'admin@a.test');
    const id = (await tp.p.db('platform.users').where({ email: 'temp@a.test' }).first('id')).id;
    assert.equal((await request(app).delete(`${C}/users/${id}`).set('Cookie', admin.cookie).set('X-CSRF-Token', admin.csrf)).status, 204);
    const after = await request(app).get(`${C}/session`).set('Cookie', temp.cookie);
    assert.equal(after.status, 401);
    assert.equal(after.body.error.code, 'ACC_ERR_UNAUTHENTICATED');

    const b = await signIn(app, 'new@b.test');
    const ops = await signIn(app, 'ops@platform.test');
    assert.equal((await request(app).delete(`${A}/tenants/${tenantB}`).set('Cookie', ops.cookie).set('X-CSRF-Token', ops.csrf)).status, 200);
    assert.equal((await request(app).get(`${C}/session`).set('Cookie', b.cookie)).status, 401);
    assert.equal(await tp.p.db('platform.sessions as s').join('platform.users as u', 'u.id', 's.user_id').where('u.tenant_id', tenantB).first(), undefined);
  });

  it('the browser test-call socket needs the session and its own one-time ticket: no socket, no session, no call otherwise', async () => {
    const server = await listen(tp.p, app);
    const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/console/talk`;
    const status = (u: string, cookie?: string) => new Promise<number>((resolve) => {
      const ws = new WebSocket(u, cookie ? { headers: { Cookie: cookie } } : {});
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => { ws.close(); resolve(101); });
      ws.on('error', () => resolve(-1));
    });
    const admin = await signIn(app, 'admin@a.test');
    const viewer = await signIn(app, 'viewer@a.test');
    // A viewer may not open test calls (call.talk is a tenant_admin action).
    assert.equal((await request(app).post(`${C}/tenants/${tenantA}/talk`).set('Cookie', viewer.cookie).set('X-CSRF-Token', viewer.csrf)).status, 403);
    const minted = await request(app).post(`${C}/tenants/${tenantA}/talk`).set('Cookie', admin.cookie).set('X-CSRF-Token', admin.csrf);
    assert.equal(minted.status, 201, JSON.stringify(minted.body));
    const callsBefore = await tp.p.tenants.withTenant(tenantA, (trx) => trx('calls').count('* as n')) as { n: string }[];
    assert.equal(await status(`${url}?ticket=${minted.body.ticket}`), 401, 'no session cookie');
    assert.equal(await status(`${url}?ticket=${minted.body.ticket}`, viewer.cookie), 403, 'another user\'s ticket');
    assert.equal(await status(`${url}?ticket=forged`, admin.cookie), 403, 'a forged ticket');
    assert.equal(tp.p.voice.active, 0, 'no call session started');
    const callsAfter = await tp.p.tenants.withTenant(tenantA, (trx) => trx('calls').count('* as n')) as { n: string }[];
    assert.equal(callsAfter[0]!.n, callsBefore[0]!.n);
  });

  it('serves the console: index no-cache, hashed assets immutable', async () => {
    const index = await request(app).get('/console/');
    assert.equal(index.status, 200);
    assert.equal(index.headers['cache-control'], 'no-cache');
    const asset = /src="\/console\/assets\/(app-[0-9a-f]{12}\.js)"/.exec(index.text)![1]!;
    const js = await request(app).get(`/console/assets/${asset}`);
    assert.equal(js.status, 200);
    assert.match(String(js.headers['cache-control']), /immutable/);
    assert.equal((await request(app).get('/console/assets/app-000000000000.js')).status, 404);
  });
});
