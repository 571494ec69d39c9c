import assert from 'node:assert/strict';
import request from 'supertest';
import type express from 'express';
import { createHttpApp } from '../../core/app.js';
import { signDevToken, type AdminRole } from '../../core/admin-api/auth.js';
import { createAdminRouter } from '../../core/admin-api/router.js';
import { openApiDocument } from '../../core/admin-api/openapi.js';
import { demoConfig } from '../../core/tenancy/seed.js';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.js';

const A = '/admin/v1';

describe('admin API (integration)', function () {
  this.timeout(60_000);
  let tp: TestPlatform;
  let app: express.Express;
  let platformToken: string;
  const token = (role: AdminRole, tenant?: string) => signDevToken({ secret: tp.cfg.jwt.secret!, role, tenant, sub: `test-${role}` });
  const count = async (table: string, where: Record<string, unknown> = {}) => Number(((await tp.p.db(table).where(where).count('* as n')) as { n: number }[])[0]!.n);
  const tenantSchemas = async () => Number((await tp.p.db.raw(`select count(*)::int as n from pg_namespace where nspname like 't\\_%'`)).rows[0].n);
  const create = (body: unknown, tok = platformToken) => request(app).post(`${A}/tenants`).set('Authorization', `Bearer ${tok}`).send(body as object);

  before(async () => {
    tp = await startTestPlatform();
    app = createHttpApp(tp.p);
    platformToken = token('platform_admin');
  });
  after(async () => { await tp?.close(); });

  describe('onboarding', () => {
    it('creates a tenant with a generated t_<ulid> schema, its tables and an audit row (201)', async () => {
      const res = await create({ name: 'Sunnyvale Honda', slug: 'sunnyvale-honda', config: demoConfig() });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      assert.match(res.body.schema, /^t_[0-9a-z]{26}$/);
      assert.equal(res.body.schema, `t_${res.body.id}`);
      assert.equal(res.body.status, 'active');
      const tables = await tp.p.db.raw(`select count(*)::int as n from pg_tables where schemaname = ? and tablename in ('customers','vehicles','service_history','appointments','calls','call_events','plugin_kv')`, [res.body.schema]);
      assert.equal(tables.rows[0].n, 7);
      const audit = await tp.p.db('platform.audit_log').where({ action: 'tenant.create', tenant_id: res.body.id }).first();
      assert.equal(audit.actor, 'test-platform_admin');
      assert.equal(audit.role, 'platform_admin');
      assert.ok(audit.ip, 'audit row records the client IP');
    });

    it('onboards a dealership with two calls: create, then attach a number (webhooks need the telephony plugin)', async () => {
      const c = await create({ name: 'Two Call Motors', config: demoConfig() });
      assert.equal(c.status, 201);
      const n = await request(app).put(`${A}/tenants/${c.body.id}/numbers/%2B14155550111`).set('Authorization', `Bearer ${platformToken}`);
      assert.equal(n.status, 201, JSON.stringify(n.body));
      assert.equal(n.body.e164, '+14155550111');
      assert.equal(typeof n.body.webhooksConfigured, 'boolean');
      assert.ok(n.body.webhooksConfigured || typeof n.body.reason === 'string', 'an unconfigured number says why');
      assert.equal((await tp.p.tenants.resolveNumber('+14155550111'))?.id, c.body.id);
      const again = await request(app).put(`${A}/tenants/${c.body.id}/numbers/+14155550111`).set('Authorization', `Bearer ${platformToken}`);
      assert.equal(again.status, 200, 'attaching the same number twice is idempotent');
      assert.equal(await count('platform.audit_log', { action: 'number.attach', tenant_id: c.body.id }), 2);
    });

    it('seeds demo data on request and serves it through the tenant data routes', async () => {
      const c = await create({ name: 'Seeded', config: demoConfig(), seed: 'demo' });
      assert.equal(c.status, 201);
      const auth = { Authorization: `Bearer ${platformToken}` };
      const byPhone = await request(app).get(`${A}/tenants/${c.body.id}/customers`).query({ phone: '+14086137788' }).set(auth);
      assert.equal(byPhone.status, 200);
      assert.equal(byPhone.body.items.length, 1);
      assert.equal(byPhone.body.items[0].lastName, 'Khani');
      assert.deepEqual(byPhone.body.items[0].vehicles.map((v: { make: string; model: string; year: number }) => `${v.year} ${v.make} ${v.model}`), ['2019 Honda CR-V']);
      const byName = await request(app).get(`${A}/tenants/${c.body.id}/customers?name=rob`).set(auth);
      assert.equal(byName.body.items.length, 1);
      assert.equal(byName.body.items[0].vehicles.length, 2);
      const literal = await request(app).get(`${A}/tenants/${c.body.id}/customers?name=%25`).set(auth);
      assert.equal(literal.body.items.length, 0, 'LIKE metacharacters match literally');
      const appts = await request(app).get(`${A}/tenants/${c.body.id}/appointments`).set(auth);
      assert.equal(appts.status, 200);
      assert.equal(appts.body.items.length, 2);
      const page = await request(app).get(`${A}/tenants/${c.body.id}/customers?limit=2&offset=2`).set(auth);
      assert.deepEqual(page.body.items.map((x: { lastName: string }) => x.lastName), ['Johnson', 'Khani']);
    });

    it('returns a call with its events as the transcript, by uuid or CallSid', async () => {
      const c = await create({ name: 'Calls', config: demoConfig() });
      const sid = `CA${'ab'.repeat(16)}`;
      const callId = await tp.p.tenants.withTenant(c.body.id, async (trx) => {
        const [row] = await trx('calls').insert({ call_sid: sid, direction: 'inbound', from_number: '+14086137788', to_number: '+14085550123' }).returning('id');
        await trx('call_events').insert([
          { call_id: row.id, kind: 'caller', payload: JSON.stringify({ text: 'I need an oil change' }) },
          { call_id: row.id, kind: 'agent', payload: JSON.stringify({ text: 'Sure, which day works?' }) },
        ]);
        return row.id as string;
      });
      const auth = { Authorization: `Bearer ${platformToken}` };
      const list = await request(app).get(`${A}/tenants/${c.body.id}/calls`).set(auth);
      assert.equal(list.body.items.length, 1);
      for (const id of [callId, sid]) {
        const one = await request(app).get(`${A}/tenants/${c.body.id}/calls/${id}`).set(auth);
        assert.equal(one.status, 200);
        assert.deepEqual(one.body.transcript.map((e: { payload: { text: string } }) => e.payload.text), ['I need an oil change', 'Sure, which day works?']);
      }
      const missing = await request(app).get(`${A}/tenants/${c.body.id}/calls/${'0'.repeat(8)}-0000-0000-0000-${'0'.repeat(12)}`).set(auth);
      assert.equal(missing.status, 404);
      assert.equal(missing.body.error.code, 'ADM_ERR_NOT_FOUND');
    });

    it('shows numbers, credential names, migration state and plugin status on GET /tenants/:id', async () => {
      const c = await create({ name: 'Detail', config: demoConfig() });
      await request(app).put(`${A}/tenants/${c.body.id}/numbers/+14155550122`).set('Authorization', `Bearer ${platformToken}`).expect(201);
      const d = await request(app).get(`${A}/tenants/${c.body.id}`).set('Authorization', `Bearer ${platformToken}`);
      assert.equal(d.status, 200);
      assert.deepEqual(d.body.numbers.map((n: { e164: string }) => n.e164), ['+14155550122']);
      assert.equal(d.body.migration.state, 'current');
      assert.ok(d.body.migration.version);
      assert.deepEqual(d.body.credentials, []);
      assert.equal(d.body.config.timezone, 'America/Los_Angeles');
      assert.ok('plugins' in d.body);
    });

    it('lists every tenant for a platform admin and only its own for a tenant admin', async () => {
      const all = await request(app).get(`${A}/tenants?limit=100`).set('Authorization', `Bearer ${platformToken}`);
      assert.equal(all.status, 200);
      assert.ok(all.body.items.length >= 2);
      const mine = all.body.items[0].id as string;
      const ta = await request(app).get(`${A}/tenants`).set('Authorization', `Bearer ${token('tenant_admin', mine)}`);
      assert.deepEqual(ta.body.items.map((t: { id: string }) => t.id), [mine]);
    });
  });

  describe('configuration and credentials', () => {
    let id: string;
    before(async () => { id = (await create({ name: 'Config', config: demoConfig() })).body.id; });

    it('replaces a valid config and audits it', async () => {
      const cfg = { ...demoConfig(), slotGranularityMin: 30 };
      const res = await request(app).put(`${A}/tenants/${id}/config`).set('Authorization', `Bearer ${platformToken}`).send(cfg);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.config.slotGranularityMin, 30);
      assert.equal(await count('platform.audit_log', { action: 'tenant.config', tenant_id: id }), 1);
    });

    it('rejects an invalid config with every error and its JSON path, and changes nothing', async () => {
      const before = await tp.p.db('platform.tenants').where({ id }).first('config_hash');
      const audits = await count('platform.audit_log');
      const bad = { ...demoConfig(), timezone: 'Mars/Olympus', slotGranularityMin: -5, serviceTypes: [{ id: 'x', name: 'X' }], bogus: 1 };
      const res = await request(app).put(`${A}/tenants/${id}/config`).set('Authorization', `Bearer ${platformToken}`).send(bad);
      assert.equal(res.status, 422);
      assert.equal(res.body.error.code, 'TEN_ERR_CONFIG_INVALID');
      const paths = (res.body.error.details.errors as { path: string }[]).map((e) => e.path);
      for (const p of ['/timezone', '/slotGranularityMin', '/serviceTypes/0', '/']) assert.ok(paths.includes(p), `missing ${p} in ${paths.join(', ')}`);
      assert.ok(paths.length >= 4, 'every error is reported, not just the first');
      assert.equal((await tp.p.db('platform.tenants').where({ id }).first('config_hash')).config_hash, before.config_hash);
      assert.equal(await count('platform.audit_log'), audits);
    });

    it('rejects creating a tenant with an invalid config: no row, no schema, no audit', async () => {
      const [tenants, schemas, audits] = [await count('platform.tenants'), await tenantSchemas(), await count('platform.audit_log')];
      const res = await create({ name: 'Broken', config: { name: 'x' } });
      assert.equal(res.status, 422);
      assert.equal(res.body.error.code, 'TEN_ERR_CONFIG_INVALID');
      assert.ok(res.body.error.details.errors.length > 1);
      assert.deepEqual([await count('platform.tenants'), await tenantSchemas(), await count('platform.audit_log')], [tenants, schemas, audits]);
    });

    it('stores credentials encrypted and never returns their values', async () => {
      const secret = 'sk-very-secret-value-123';
      const put = await request(app).put(`${A}/tenants/${id}/credentials/openai`).set('Authorization', `Bearer ${platformToken}`).send({ value: secret });
      assert.equal(put.status, 204);
      const row = await tp.p.db('platform.credentials').where({ tenant_id: id, name: 'openai' }).first();
      assert.ok(!Buffer.from(row.ciphertext).toString('utf8').includes(secret), 'ciphertext does not contain the plaintext');
      assert.equal(await tp.p.tenants.getCredential(id, 'openai'), secret);
      const list = await request(app).get(`${A}/tenants/${id}/credentials`).set('Authorization', `Bearer ${platformToken}`);
      assert.deepEqual(list.body, { names: ['openai'] });
      const detail = await request(app).get(`${A}/tenants/${id}`).set('Authorization', `Bearer ${platformToken}`);
      assert.ok(!JSON.stringify(detail.body).includes(secret));
      assert.equal(await count('platform.audit_log', { action: 'credential.put', tenant_id: id }), 1);
    });

    it('rejects a bad credential name or a missing value and stores nothing', async () => {
      const before = await count('platform.credentials');
      const r1 = await request(app).put(`${A}/tenants/${id}/credentials/Bad%20Name`).set('Authorization', `Bearer ${platformToken}`).send({ value: 'x' });
      assert.equal(r1.status, 400);
      assert.equal(r1.body.error.code, 'ADM_ERR_VALIDATION');
      const r2 = await request(app).put(`${A}/tenants/${id}/credentials/ok`).set('Authorization', `Bearer ${platformToken}`).send({ value: null });
      assert.equal(r2.status, 400);
      assert.equal(await count('platform.credentials'), before);
    });

    it('rejects a config naming unknown plugins with every plugin issue, and changes nothing', async () => {
      const before = await tp.p.db('platform.tenants').where({ id }).first('config_hash');
      const audits = await count('platform.audit_log');
      const cfg = demoConfig() as { plugins: Record<string, { plugin: string }> };
      cfg.plugins.crm = { plugin: 'crm-nosuch' };
      cfg.plugins.stt = { plugin: 'stt-nosuch' };
      const res = await request(app).put(`${A}/tenants/${id}/config`).set('Authorization', `Bearer ${platformToken}`).send(cfg);
      assert.equal(res.status, 422);
      assert.equal(res.body.error.code, 'PLG_ERR_NOT_FOUND');
      assert.deepEqual(res.body.error.details.errors.map((e: { slot: string }) => e.slot).sort(), ['crm', 'stt']);
      assert.equal((await tp.p.db('platform.tenants').where({ id }).first('config_hash')).config_hash, before.config_hash);
      assert.equal(await count('platform.audit_log'), audits);
    });

    it('shows plugin slot status and runs a connection test', async () => {
      const st = await request(app).get(`${A}/tenants/${id}/plugins`).set('Authorization', `Bearer ${platformToken}`);
      assert.equal(st.status, 200, JSON.stringify(st.body));
      const crm = (st.body.slots as { slot: string; pluginId: string; state: string }[]).find((x) => x.slot === 'crm');
      assert.deepEqual([crm?.pluginId, crm?.state], ['crm-builtin', 'ok']);
      const t = await request(app).post(`${A}/tenants/${id}/plugins/crm/test`).set('Authorization', `Bearer ${platformToken}`);
      assert.equal(t.status, 200, JSON.stringify(t.body));
      assert.equal(t.body.slot, 'crm');
      assert.equal(t.body.result.ok, true, JSON.stringify(t.body.result));
      assert.equal(await count('platform.audit_log', { action: 'plugin.test', tenant_id: id }), 1);
    });

    it('rejects an unknown plugin slot for a connection test', async () => {
      const res = await request(app).post(`${A}/tenants/${id}/plugins/fax/test`).set('Authorization', `Bearer ${platformToken}`);
      assert.equal(res.status, 400);
      assert.equal(res.body.error.code, 'ADM_ERR_VALIDATION');
    });
  });

  describe('bad input', () => {
    it('stores hostile tenant names as data; the schema stays t_<ulid> and no other schema is touched', async () => {
      const hostile = ['x"; DROP SCHEMA t_a CASCADE; --', 'Ω≈ç√∫˜µ≤≥÷'.repeat(20), "Robert'); DROP TABLE platform.tenants;--"];
      assert.equal([...hostile[1]!].length, 200);
      await tp.p.db.raw('create schema if not exists t_a');
      const schemasBefore = await tenantSchemas();
      for (const name of hostile) {
        const res = await create({ name, config: demoConfig() });
        assert.equal(res.status, 201, JSON.stringify(res.body));
        assert.match(res.body.schema, /^t_[0-9a-z]{26}$/);
        const row = await tp.p.db('platform.tenants').where({ id: res.body.id }).first('name', 'schema_name');
        assert.equal(row.name, name);
      }
      assert.equal(await tenantSchemas(), schemasBefore + hostile.length, 't_a survives and each tenant got exactly one schema');
      await tp.p.db.raw('drop schema t_a');
    });

    it('refuses a name over 200 characters and a client-chosen schema: nothing created', async () => {
      const [tenants, schemas] = [await count('platform.tenants'), await tenantSchemas()];
      for (const body of [
        { name: 'x'.repeat(201), config: demoConfig() },
        { name: 'Forced', config: demoConfig(), schema: 'public' },
        { name: 'Forced', config: demoConfig(), schema_name: 'pg_catalog' },
        { name: '', config: demoConfig() },
        { name: 'Bad slug', slug: 'Not A Slug', config: demoConfig() },
      ]) {
        const res = await create(body);
        assert.equal(res.status, 400, JSON.stringify(body).slice(0, 80));
        assert.equal(res.body.error.code, 'ADM_ERR_VALIDATION');
      }
      assert.deepEqual([await count('platform.tenants'), await tenantSchemas()], [tenants, schemas]);
    });

    it('refuses a number attached to another tenant with 409 and keeps the first mapping', async () => {
      const a = (await create({ name: 'Dup A', config: demoConfig() })).body.id as string;
      const b = (await create({ name: 'Dup B', config: demoConfig() })).body.id as string;
      await request(app).put(`${A}/tenants/${a}/numbers/+14155550133`).set('Authorization', `Bearer ${platformToken}`).expect(201);
      const audits = await count('platform.audit_log');
      const res = await request(app).put(`${A}/tenants/${b}/numbers/+14155550133`).set('Authorization', `Bearer ${platformToken}`);
      assert.equal(res.status, 409);
      assert.equal(res.body.error.code, 'TEN_ERR_NUMBER_TAKEN');
      assert.deepEqual(await tp.p.db('platform.phone_numbers').where({ e164: '+14155550133' }).select('tenant_id'), [{ tenant_id: a }]);
      assert.equal(await count('platform.audit_log'), audits);
      const detach = await request(app).delete(`${A}/tenants/${b}/numbers/+14155550133`).set('Authorization', `Bearer ${platformToken}`);
      assert.equal(detach.status, 404, 'B cannot detach A\'s number');
      assert.equal(await count('platform.phone_numbers', { e164: '+14155550133' }), 1);
    });

    it('rejects malformed E.164 numbers with 400 and stores nothing', async () => {
      const id = (await create({ name: 'E164', config: demoConfig() })).body.id as string;
      const before = await count('platform.phone_numbers');
      for (const bad of ['4085550123', '+1408555', '+1abc5550123', '%2B1%20408%20555%200123', '+99912345678', '+140855501234567']) {
        const res = await request(app).put(`${A}/tenants/${id}/numbers/${bad}`).set('Authorization', `Bearer ${platformToken}`);
        assert.equal(res.status, 400, bad);
        assert.equal(res.body.error.code, 'TEN_ERR_NUMBER_INVALID', bad);
      }
      assert.equal(await count('platform.phone_numbers'), before);
    });

    it('answers an oversized body with 413 and creates nothing', async () => {
      const [tenants, schemas, audits] = [await count('platform.tenants'), await tenantSchemas(), await count('platform.audit_log')];
      const res = await create({ name: 'Big', config: { ...demoConfig(), pad: 'x'.repeat(150_000) } });
      assert.equal(res.status, 413);
      assert.equal(res.body.error.code, 'ADM_ERR_PAYLOAD_TOO_LARGE');
      assert.deepEqual([await count('platform.tenants'), await tenantSchemas(), await count('platform.audit_log')], [tenants, schemas, audits]);
    });

    it('answers a body that is not JSON with 400', async () => {
      const res = await request(app).post(`${A}/tenants`).set('Authorization', `Bearer ${platformToken}`).set('Content-Type', 'application/json').send('{"name":');
      assert.equal(res.status, 400);
      assert.equal(res.body.error.code, 'ADM_ERR_VALIDATION');
    });

    it('answers unknown routes with a 404 JSON error', async () => {
      for (const path of [`${A}/nope`, `${A}/tenants/${'0'.repeat(26)}/nope`, '/nope']) {
        const res = await request(app).get(path).set('Authorization', `Bearer ${platformToken}`);
        assert.equal(res.status, 404, path);
        assert.match(res.headers['content-type'] ?? '', /application\/json/);
        assert.equal(res.body.error.code, 'ADM_ERR_NOT_FOUND');
      }
      const unknownTenant = await request(app).get(`${A}/tenants/${'0'.repeat(26)}`).set('Authorization', `Bearer ${platformToken}`);
      assert.equal(unknownTenant.status, 404);
      assert.equal(unknownTenant.body.error.code, 'TEN_ERR_NOT_FOUND');
    });

    it('validates query strings and bounds page sizes', async () => {
      const id = (await tp.p.tenants.list())[0]!.id;
      for (const qs of ['limit=1000', 'limit=0', 'offset=-1', 'phone=4085550123', 'from=yesterday', 'sort=name', 'phone=%2B14086137788&phone=%2B14085550142']) {
        const path = qs.startsWith('from') ? 'appointments' : 'customers';
        const res = await request(app).get(`${A}/tenants/${id}/${path}?${qs}`).set('Authorization', `Bearer ${platformToken}`);
        assert.equal(res.status, 400, qs);
        assert.equal(res.body.error.code, 'ADM_ERR_VALIDATION', qs);
      }
      const range = await request(app).get(`${A}/tenants/${id}/appointments?from=2027-01-01T00:00:00Z&to=2026-01-01T00:00:00Z`).set('Authorization', `Bearer ${platformToken}`);
      assert.equal(range.status, 400);
    });
  });

  describe('authorization', () => {
    let mine: string;
    let other: string;
    before(async () => {
      mine = (await create({ name: 'Mine', config: demoConfig() })).body.id;
      other = (await create({ name: 'Other', config: demoConfig() })).body.id;
    });

    it('lets a tenant admin read and configure its own tenant', async () => {
      const t = token('tenant_admin', mine);
      assert.equal((await request(app).get(`${A}/tenants/${mine}`).set('Authorization', `Bearer ${t}`)).status, 200);
      assert.equal((await request(app).get(`${A}/tenants/${mine}/customers`).set('Authorization', `Bearer ${t}`)).status, 200);
      assert.equal((await request(app).put(`${A}/tenants/${mine}/config`).set('Authorization', `Bearer ${t}`).send(demoConfig())).status, 200);
    });

    it('refuses a tenant admin reaching another tenant with 403, writes an audit row and changes nothing', async () => {
      const t = token('tenant_admin', mine);
      const hashBefore = (await tp.p.db('platform.tenants').where({ id: other }).first('config_hash')).config_hash;
      const attempts: [string, string, unknown?][] = [
        ['get', `${A}/tenants/${other}`],
        ['get', `${A}/tenants/${other}/customers`],
        ['put', `${A}/tenants/${other}/config`, { ...demoConfig(), slotGranularityMin: 5 }],
        ['put', `${A}/tenants/${other}/credentials/stolen`, { value: 'x' }],
        ['get', `${A}/tenants/${other}/calls`],
      ];
      for (const [method, path, body] of attempts) {
        const before = await count('platform.audit_log', { action: 'forbidden', tenant_id: other });
        const req = method === 'get' ? request(app).get(path) : request(app).put(path).send(body as object);
        const res = await req.set('Authorization', `Bearer ${t}`);
        assert.equal(res.status, 403, path);
        assert.equal(res.body.error.code, 'ADM_ERR_FORBIDDEN');
        const rows = await tp.p.db('platform.audit_log').where({ action: 'forbidden', tenant_id: other }).orderBy('id');
        assert.equal(rows.length, before + 1, `an audit row for ${method} ${path}`);
        assert.equal(rows.at(-1).actor, 'test-tenant_admin');
        assert.equal(rows.at(-1).role, 'tenant_admin');
      }
      assert.equal((await tp.p.db('platform.tenants').where({ id: other }).first('config_hash')).config_hash, hashBefore);
      assert.equal(await count('platform.credentials', { tenant_id: other }), 0);
    });

    it('keeps onboarding, offboarding and numbers for platform admins', async () => {
      const t = token('tenant_admin', mine);
      const tenants = await count('platform.tenants');
      const c = await create({ name: 'Sneaky', config: demoConfig() }, t);
      assert.equal(c.status, 403);
      assert.equal(await count('platform.tenants'), tenants);
      const n = await request(app).put(`${A}/tenants/${mine}/numbers/+14155550144`).set('Authorization', `Bearer ${t}`);
      assert.equal(n.status, 403);
      assert.equal(await count('platform.phone_numbers', { e164: '+14155550144' }), 0);
      const d = await request(app).delete(`${A}/tenants/${mine}`).set('Authorization', `Bearer ${t}`);
      assert.equal(d.status, 403);
      assert.equal((await tp.p.tenants.get(mine)).status, 'active');
      assert.ok(await count('platform.audit_log', { action: 'forbidden', tenant_id: mine }) >= 2);
    });
  });

  describe('offboarding', () => {
    it('disables the tenant at once, releases its numbers, keeps its data and revokes its tokens', async () => {
      const c = await create({ name: 'Leaving', config: demoConfig(), seed: 'demo' });
      const id = c.body.id as string;
      await request(app).put(`${A}/tenants/${id}/numbers/+14155550155`).set('Authorization', `Bearer ${platformToken}`).expect(201);
      const ta = token('tenant_admin', id);
      assert.equal((await request(app).get(`${A}/tenants/${id}`).set('Authorization', `Bearer ${ta}`)).status, 200);

      const res = await request(app).delete(`${A}/tenants/${id}`).set('Authorization', `Bearer ${platformToken}`);
      assert.equal(res.status, 200);
      assert.deepEqual(res.body.releasedNumbers, ['+14155550155']);
      assert.equal(await tp.p.tenants.resolveNumber('+14155550155'), null);
      assert.equal(await count('platform.phone_numbers', { tenant_id: id }), 0);
      assert.equal(await tp.p.tenants.withTenant(id, async (trx) => Number((await trx('customers').count('* as n'))[0]!.n)), 4, 'data is kept');

      const denied = await request(app).get(`${A}/tenants/${id}`).set('Authorization', `Bearer ${ta}`);
      assert.equal(denied.status, 401);
      assert.equal(denied.body.error.code, 'ADM_ERR_UNAUTHENTICATED');
      const audits = await count('platform.audit_log');
      const attach = await request(app).put(`${A}/tenants/${id}/numbers/+14155550155`).set('Authorization', `Bearer ${platformToken}`);
      assert.equal(attach.status, 409);
      assert.equal(attach.body.error.code, 'TEN_ERR_OFFBOARDED');
      const cfg = await request(app).put(`${A}/tenants/${id}/config`).set('Authorization', `Bearer ${platformToken}`).send(demoConfig());
      assert.equal(cfg.body.error.code, 'TEN_ERR_OFFBOARDED');
      assert.equal(await count('platform.phone_numbers', { tenant_id: id }), 0);
      assert.equal(await count('platform.audit_log'), audits);
    });
  });

  describe('surface', () => {
    it('serves an OpenAPI 3.1 document that covers every mounted route', async () => {
      const res = await request(app).get(`${A}/openapi.json`);
      assert.equal(res.status, 200);
      assert.equal(res.body.openapi, '3.1.0');
      const doc = openApiDocument() as { paths: Record<string, Record<string, unknown>> };
      const documented = new Set(Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`)));
      const router = createAdminRouter(tp.p) as unknown as { stack: { route?: { path: string; methods: Record<string, boolean> } }[] };
      const mounted = router.stack.filter((l) => l.route).flatMap((l) => Object.keys(l.route!.methods).map((m) => `${m.toUpperCase()} ${l.route!.path.replace(/:(\w+)/g, '{$1}')}`));
      assert.ok(mounted.length >= 17);
      assert.deepEqual([...new Set(mounted)].sort(), [...documented].sort());
    });

    it('authorises every mounted route by the action and roles its OpenAPI operation names', async () => {
      type Op = { 'x-action'?: string; 'x-roles'?: string[]; security?: unknown[] };
      const doc = openApiDocument() as { paths: Record<string, Record<string, Op>> };
      const other = (await create({ name: 'Action Target', config: demoConfig() })).body.id as string;
      const mine = (await create({ name: 'Action Prober', config: demoConfig() })).body.id as string;
      const viewer = token('tenant_viewer', mine);
      const sample = (tenant: string): Record<string, string> => ({
        id: tenant, e164: '%2B14155550199', name: 'probe', slot: 'stt', appointmentId: '00000000-0000-4000-8000-000000000000', callId: '00000000-0000-4000-8000-000000000000',
      });
      const call = (method: string, url: string) => (request(app) as unknown as Record<string, (u: string) => request.Test>)[method]!(url).set('Authorization', `Bearer ${viewer}`);
      const lastRefusal = async () => (await tp.p.db('platform.audit_log').where({ action: 'forbidden', actor: 'test-tenant_viewer' }).orderBy('id', 'desc').first()) as { target: string; details: { attempted: string } } | undefined;
      let checked = 0;
      for (const [path, ops] of Object.entries(doc.paths)) {
        for (const [method, op] of Object.entries(ops)) {
          const name = `${method.toUpperCase()} ${path}`;
          if (op.security?.length === 0) { assert.equal(op['x-action'], undefined, name); continue; }
          assert.ok(op['x-action'] && op['x-roles']?.length, `${name} names its action and roles`);
          const url = (tenant: string) => `${A}${path.replace(/\{(\w+)\}/g, (_m, p: string) => sample(tenant)[p]!)}`;
          // Another tenant's data: refused for every route that acts on a tenant, and the audit row names the
          // action the router checked, which must be the documented one.
          const foreign = await call(method, url(other));
          if (path.includes('{id}') || !op['x-roles']!.includes('tenant_viewer')) {
            assert.equal(foreign.status, 403, name);
            assert.equal(foreign.body.error.code, 'ADM_ERR_FORBIDDEN', name);
            const row = await lastRefusal();
            assert.equal(row?.target, `${method.toUpperCase()} ${url(other)}`, name);
            assert.equal(row?.details.attempted, op['x-action'], `${name} is authorised by ${op['x-action']}`);
          }
          // Its own tenant: a viewer is let through exactly when the document lists its role (reads only, so
          // nothing changes; a refusal still names the documented action).
          if (path.includes('{id}') && method === 'get') {
            const own = await call(method, url(mine));
            assert.equal(own.status === 403, !op['x-roles']!.includes('tenant_viewer'), `${name} for its own viewer: ${own.status}`);
          } else if (path.includes('{id}') && !op['x-roles']!.includes('tenant_viewer')) {
            const own = await call(method, url(mine));
            assert.equal(own.status, 403, name);
            assert.equal((await lastRefusal())?.details.attempted, op['x-action'], name);
          }
          checked++;
        }
      }
      assert.ok(checked >= 27, `checked ${checked} operations`);
      // The one route every role may call: the documented action only widens what it lists.
      const list = await call('get', `${A}/tenants`);
      assert.equal(list.status, 200);
      assert.deepEqual(list.body.items.map((t: { id: string }) => t.id), [mine]);
    });

    it('sends security headers and no X-Powered-By', async () => {
      const res = await request(app).get(`${A}/tenants`).set('Authorization', `Bearer ${platformToken}`);
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
      assert.ok(res.headers['strict-transport-security']);
      assert.equal(res.headers['x-powered-by'], undefined);
    });

    it('reports ready once migrations are done', async () => {
      const res = await request(app).get('/readyz');
      assert.equal(res.status, 200);
      assert.equal(res.body.migrations.done, true);
      assert.equal(res.body.migrations.tenantsFailed, 0);
    });
  });
});
