import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import type express from 'express';
import { DateTime } from 'luxon';
import pino from 'pino';
import request from 'supertest';
import { buildPlatform, createHttpApp, listen, type Platform } from '../../core/app.js';
import { signDevToken } from '../../core/admin-api/auth.js';
import { devStartBanner } from '../../core/admin-api/dev-banner.js';
import { INSTANT_FORMAT_HELP } from '../../core/admin-api/validate.js';
import { loadConfig } from '../../core/config.js';
import { demoConfig } from '../../core/tenancy/seed.js';
import { createTestDatabase, TEST_REDIS_URL, uniquePrefix, type TestDatabase } from '../helpers/db.js';

const A = '/admin/v1';
const run = promisify(execFile);

/**
 * What a new user meets on first run, each through the real HTTP app on a real database: the start banner's
 * URLs and its `try:` line, tenant slugs in paths, appointment dates, and request ids on errors.
 */
describe('first run (integration: banner, slugs, dates, request ids)', function () {
  this.timeout(60_000);
  let db: TestDatabase;
  let p: Platform;
  let app: express.Express;
  let port: number;
  let banner: string;
  let demoId: string;
  /** Every JSON line the platform logged, as parsed objects (a real pino logger writing into this array). */
  const logLines: Record<string, unknown>[] = [];
  const token = (o: { role: 'platform_admin' | 'tenant_admin'; tenant?: string }) =>
    signDevToken({ secret: p.cfg.jwt.secret!, role: o.role, tenant: o.tenant, sub: `first-run-${o.role}` });
  const platformAuth = () => ({ Authorization: `Bearer ${token({ role: 'platform_admin' })}` });

  before(async () => {
    db = await createTestDatabase();
    const cfg = loadConfig({
      ROLE: 'all', PORT: '0', LOG_LEVEL: 'info', DATABASE_URL: db.url, REDIS_URL: TEST_REDIS_URL,
      ADMIN_JWT_SECRET: 'test-secret-test-secret-test-secret-0123',
      CREDENTIALS_KEY: Buffer.alloc(32, 7).toString('base64'),
      PUBLIC_BASE_URL: 'https://servicelane.test',
    });
    const logger = pino({ level: 'info', base: undefined }, { write: (s: string) => { logLines.push(JSON.parse(s) as Record<string, unknown>); } });
    p = await buildPlatform(cfg, { logger, statePrefix: uniquePrefix() });
    app = createHttpApp(p);
    const server = await listen(p, app);
    port = (server.address() as AddressInfo).port;
    banner = await devStartBanner(p, { port });
    demoId = (await p.db('platform.tenants').where({ slug: 'demo' }).first('id')).id;
  });
  after(async () => {
    await p?.close();
    await db?.drop();
  });

  describe('start banner', () => {
    it('every localhost URL it prints answers 2xx, including app: and admin API:', async () => {
      // The try: line needs its token; the next test runs it as printed.
      const urls = banner.split('\n').filter((l) => !/^\s*try:/.test(l)).flatMap((l) => [...l.matchAll(/http:\/\/localhost:\d+[^\s]*/g)].map((m) => m[0]));
      assert.ok(urls.length >= 6, banner);
      const appLine = /app:\s+(\S+)/.exec(banner)?.[1];
      assert.equal(appLine, `http://localhost:${port}/`);
      for (const u of urls) {
        const res = await request(app).get(new URL(u).pathname);
        assert.ok(res.status >= 200 && res.status < 300, `${u} answered ${res.status}`);
      }
      const landing = await request(app).get('/');
      assert.equal(landing.body.links.openapi, `${A}/openapi.json`);
      assert.equal(landing.body.links.twilioVoiceWebhook, 'https://servicelane.test/twilio/voice');
    });

    it('its try: line runs as printed in a shell with no TOKEN variable and lists the demo tenant', async () => {
      const cmd = /try:\s+(.*)$/m.exec(banner)?.[1];
      assert.ok(cmd, banner);
      assert.doesNotMatch(cmd, /\$\w/, 'no shell variable the reader never set');
      const { stdout } = await run('sh', ['-c', cmd], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
      const body = JSON.parse(stdout) as { items: { id: string; slug: string }[] };
      assert.ok(body.items.some((t) => t.slug === 'demo' && t.id === demoId), stdout);
    });
  });

  describe('tenant slugs in admin API paths', () => {
    let sunny: string;
    before(async () => {
      const c = await request(app).post(`${A}/tenants`).set(platformAuth()).send({ name: 'Sunnyvale Honda', slug: 'sunnyvale-honda', config: demoConfig() });
      assert.equal(c.status, 201, JSON.stringify(c.body));
      sunny = c.body.id;
    });

    it('a path takes the id or the slug and answers the same tenant', async () => {
      const byId = await request(app).get(`${A}/tenants/${demoId}`).set(platformAuth());
      const bySlug = await request(app).get(`${A}/tenants/demo`).set(platformAuth());
      assert.equal(byId.status, 200);
      assert.equal(bySlug.status, 200, JSON.stringify(bySlug.body));
      assert.equal(bySlug.body.id, demoId);
      assert.equal(bySlug.body.configHash, byId.body.configHash);
      const customers = await request(app).get(`${A}/tenants/demo/customers`).query({ phone: '+14086137788' }).set(platformAuth());
      assert.equal(customers.status, 200);
      assert.equal(customers.body.items[0]?.lastName, 'Khani');
    });

    it('a number attached by slug lands on that tenant, and the audit row names the id', async () => {
      const res = await request(app).put(`${A}/tenants/sunnyvale-honda/numbers/+14155550177`).set(platformAuth());
      assert.equal(res.status, 201, JSON.stringify(res.body));
      assert.equal(res.body.tenantId, sunny);
      assert.equal((await p.tenants.resolveNumber('+14155550177'))?.id, sunny);
      const audit = await p.db('platform.audit_log').where({ action: 'number.attach', target: '+14155550177' }).first();
      assert.equal(audit.tenant_id, sunny);
    });

    it('a tenant admin reaches its own tenant by slug but gets 403 + an audit row for another tenant\'s slug', async () => {
      const mine = { Authorization: `Bearer ${token({ role: 'tenant_admin', tenant: demoId })}` };
      assert.equal((await request(app).get(`${A}/tenants/demo/customers`).set(mine)).status, 200);
      const before = await p.db('platform.audit_log').where({ action: 'forbidden', tenant_id: sunny }).count('* as n');
      const res = await request(app).get(`${A}/tenants/sunnyvale-honda/customers`).set(mine);
      assert.equal(res.status, 403);
      assert.equal(res.body.error.code, 'ADM_ERR_FORBIDDEN');
      const after = await p.db('platform.audit_log').where({ action: 'forbidden', tenant_id: sunny }).count('* as n');
      assert.equal(Number(after[0]!.n), Number(before[0]!.n) + 1);
      const unknown = await request(app).get(`${A}/tenants/no-such-dealer`).set(mine);
      assert.equal(unknown.status, 403, 'an unknown slug looks like any other tenant: no probing which slugs exist');
    });

    it('an unknown slug is TEN_ERR_NOT_FOUND for a platform admin', async () => {
      const res = await request(app).get(`${A}/tenants/no-such-dealer`).set(platformAuth());
      assert.equal(res.status, 404);
      assert.equal(res.body.error.code, 'TEN_ERR_NOT_FOUND');
    });

    it('refuses a slug shaped like a tenant id (it would make paths ambiguous), creating nothing', async () => {
      const n0 = Number((await p.db('platform.tenants').count('* as n'))[0]!.n);
      const res = await request(app).post(`${A}/tenants`).set(platformAuth()).send({ name: 'Confusing', slug: sunny.replace(/.$/, '0'), config: demoConfig() });
      assert.equal(res.status, 400);
      assert.equal(res.body.error.code, 'ADM_ERR_VALIDATION');
      assert.equal(res.body.error.details.errors[0].path, '/slug');
      assert.equal(Number((await p.db('platform.tenants').count('* as n'))[0]!.n), n0);
    });
  });

  describe('appointment and call dates', () => {
    const zone = () => demoConfig().timezone as string;

    it('a bare date is a whole day in the dealership\'s time zone (from its first instant to the next day\'s)', async () => {
      const res = await request(app).get(`${A}/tenants/${demoId}/appointments`).query({ from: '2026-12-07', to: '2026-12-07' }).set(platformAuth());
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.from, DateTime.fromISO('2026-12-07', { zone: zone() }).toUTC().toISO());
      assert.equal(res.body.to, DateTime.fromISO('2026-12-08', { zone: zone() }).toUTC().toISO());
    });

    it('finds a seeded appointment by its local date, and a date-time with an offset means that instant', async () => {
      const all = await request(app).get(`${A}/tenants/${demoId}/appointments`).set(platformAuth());
      const first = all.body.items[0] as { id: string; startsAt: string };
      const day = DateTime.fromISO(first.startsAt).setZone(zone()).toISODate()!;
      const res = await request(app).get(`${A}/tenants/${demoId}/appointments`).query({ from: day, to: day }).set(platformAuth());
      assert.ok(res.body.items.some((a: { id: string }) => a.id === first.id), JSON.stringify(res.body));
      const withOffset = await request(app).get(`${A}/tenants/${demoId}/appointments`).query({ from: '2026-12-07T09:00:00-08:00', to: '2026-12-07T18:00:00Z' }).set(platformAuth());
      assert.equal(withOffset.status, 200);
      assert.equal(withOffset.body.from, '2026-12-07T17:00:00.000Z');
    });

    it('bad dates are ADM_ERR_VALIDATION naming each parameter and showing the accepted formats', async () => {
      const res = await request(app).get(`${A}/tenants/${demoId}/appointments`).query({ from: '2026-12-07T09:00:00', to: '2026-02-30' }).set(platformAuth());
      assert.equal(res.status, 400);
      assert.equal(res.body.error.code, 'ADM_ERR_VALIDATION');
      assert.deepEqual(res.body.error.details.errors, [{ path: '/from', message: INSTANT_FORMAT_HELP }, { path: '/to', message: INSTANT_FORMAT_HELP }]);
      const calls = await request(app).get(`${A}/tenants/${demoId}/calls`).query({ before: 'yesterday' }).set(platformAuth());
      assert.equal(calls.status, 400);
      assert.deepEqual(calls.body.error.details.errors.map((e: { path: string }) => e.path), ['/before']);
    });
  });

  describe('request ids', () => {
    it('keeps a sane inbound X-Request-Id, replaces one that could forge log structure, and generates one otherwise', async () => {
      assert.equal((await request(app).get('/healthz').set('X-Request-Id', 'lb-7f3a.42')).headers['x-request-id'], 'lb-7f3a.42');
      const forged = (await request(app).get('/healthz').set('X-Request-Id', 'x" level=fatal')).headers['x-request-id'];
      assert.match(String(forged), /^[0-9a-f-]{36}$/);
      assert.match(String((await request(app).get('/healthz')).headers['x-request-id']), /^[0-9a-f-]{36}$/);
    });

    it('an internal error (a tenant table gone) answers ADM_ERR_INTERNAL with the request id the error log line carries', async () => {
      const c = await request(app).post(`${A}/tenants`).set(platformAuth()).send({ name: 'Broken Motors', config: demoConfig() });
      assert.equal(c.status, 201);
      await p.db.raw(`drop table ${c.body.schema}.customers cascade`);
      for (const inbound of ['support-case-981', undefined]) {
        const req = request(app).get(`${A}/tenants/${c.body.id}/customers`).set(platformAuth());
        if (inbound) req.set('X-Request-Id', inbound);
        const res = await req;
        assert.equal(res.status, 500);
        assert.equal(res.body.error.code, 'ADM_ERR_INTERNAL');
        const rid = res.body.error.requestId as string;
        assert.equal(rid, res.headers['x-request-id']);
        if (inbound) assert.equal(rid, inbound);
        const line = logLines.find((l) => l.requestId === rid);
        assert.ok(line, `a log line carries ${rid}`);
        assert.equal(line.level, 50);
        assert.equal(line.msg, 'unhandled route error');
        assert.match(String(line.err), /customers/);
      }
    });

    it('coded errors on admin and webhook routes carry the request id in the body too', async () => {
      const nf = await request(app).get(`${A}/no-such-route`).set(platformAuth());
      assert.equal(nf.body.error.code, 'ADM_ERR_NOT_FOUND');
      assert.match(String(nf.body.error.requestId), /^[0-9a-f-]{36}$/);
      assert.equal(nf.body.error.requestId, nf.headers['x-request-id']);
      const wh = await request(app).post('/twilio/voice').type('form').send({ CallSid: 'CA00000000000000000000000000000000' });
      assert.equal(wh.status, 403);
      assert.equal(wh.body.error.code, 'TEL_ERR_SIGNATURE');
      assert.match(String(wh.body.error.requestId), /^[0-9a-f-]{36}$/);
      assert.equal(wh.body.error.requestId, wh.headers['x-request-id']);
    });
  });
});
