import assert from 'node:assert/strict';
import type { Knex } from 'knex';
import { createKnex } from '../../core/db/knex.js';
import { loadMigrations, migrateAllTenants, type Migration } from '../../core/db/migrate.js';
import { isServiceLaneError } from '../../core/errors.js';
import { silentLogger } from '../../core/observability/logger.js';
import { configHash, parseDealershipConfig } from '../../core/tenancy/config.js';
import { assertSchemaName } from '../../core/db/schema-name.js';
import { newTenantId, schemaNameFor } from '../../core/tenancy/schema-name.js';
import { demoConfig } from '../../core/tenancy/seed.js';
import { TenantService } from '../../core/tenancy/tenants.js';
import { withTenant } from '../../core/tenancy/with-tenant.js';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.js';

const codeOf = (e: unknown) => (e as { code?: string }).code;

describe('tenancy (integration)', function () {
  this.timeout(120_000);
  let tp: TestPlatform;
  before(async () => { tp = await startTestPlatform(); });
  after(async () => { await tp?.close(); });

  describe('schema names', () => {
    const forced = ['public', 'pg_catalog', 't_A', `t_${'A'.repeat(26)}`, `t_${'a'.repeat(68)}`, 't_short', 'information_schema', 't_abc"; drop schema public; --', `t_${'a'.repeat(26)} `];

    it('rejects forced schema names with TEN_ERR_SCHEMA_NAME', () => {
      assert.equal(forced[4]!.length, 70);
      for (const s of forced) assert.throws(() => assertSchemaName(s), (e) => isServiceLaneError(e) && e.code === 'TEN_ERR_SCHEMA_NAME', s);
      assert.doesNotThrow(() => assertSchemaName(schemaNameFor(newTenantId())));
    });

    it('refuses to open a tenant transaction for a forced name, before any query runs', async () => {
      for (const s of forced) {
        let ran = false;
        await assert.rejects(withTenant(tp.p.db, s, async () => { ran = true; }), (e) => isServiceLaneError(e) && e.code === 'TEN_ERR_SCHEMA_NAME');
        assert.equal(ran, false, s);
      }
      const made = await tp.p.db.raw(`select count(*)::int as n from pg_namespace where nspname = any(?)`, [forced]);
      assert.equal(made.rows[0].n, 3, 'only the built-in public, pg_catalog and information_schema exist');
    });
  });

  describe('configuration', () => {
    it('reports every error of an invalid config with its JSON path', () => {
      const bad = { ...demoConfig(), timezone: 'Not/AZone', businessHours: { mon: [{ open: '18:00', close: '07:00' }] }, resources: [], languages: 'en', extra: true };
      try {
        parseDealershipConfig(bad);
        assert.fail('should throw');
      } catch (e) {
        assert.ok(isServiceLaneError(e));
        assert.equal(e.code, 'TEN_ERR_CONFIG_INVALID');
        const paths = (e.details as { errors: { path: string }[] }).errors.map((x) => x.path);
        for (const p of ['/timezone', '/languages', '/']) assert.ok(paths.includes(p), `${p} in ${paths.join(', ')}`);
      }
    });
  });

  describe('a migration failing on tenant 37 of 100', () => {
    let ids: string[];
    let base: Migration[];
    let next: Migration[];

    before(async () => {
      ids = Array.from({ length: 100 }, () => newTenantId()).sort();
      const config = demoConfig();
      await tp.p.db('platform.tenants').insert(ids.map((id, i) => ({
        id, slug: `bulk-${i + 1}`, name: `Bulk ${i + 1}`, schema_name: schemaNameFor(id), status: 'active', config: JSON.stringify(config), config_hash: configHash(config),
      })));
      base = loadMigrations('tenant');
      const r = await migrateAllTenants(tp.p.db, { concurrency: 4 });
      assert.equal(r.failed.length, 0);
      next = [...base, { name: '999_test_loyalty', sql: 'create table loyalty (customer_id uuid primary key, points int not null default 0)' }];
      // Drift in tenant 37 only: the new migration's table already exists there, so only that tenant fails.
      await tp.p.db.raw(`create table ${schemaNameFor(ids[36]!)}.loyalty (x int)`);
    });

    it('marks 37 failed at version N and brings 1–36 and 38–100 to N+1', async () => {
      const progress: string[] = [];
      const r = await migrateAllTenants(tp.p.db, { concurrency: 4, migrations: next, onProgress: (_d, _t, res) => { if (res.error) progress.push(res.tenantId); } });
      assert.equal(r.migrated, 99);
      assert.deepEqual(r.failed.map((f) => f.tenantId), [ids[36]]);
      assert.deepEqual(progress, [ids[36]]);
      const rows: { tenant_id: string; version: string; state: string; error: string | null }[] = await tp.p.db('platform.tenant_migrations').whereIn('tenant_id', ids).select();
      const byId = new Map(rows.map((x) => [x.tenant_id, x]));
      ids.forEach((id, i) => {
        const row = byId.get(id)!;
        if (i === 36) {
          assert.equal(row.state, 'failed');
          assert.equal(row.version, base.at(-1)!.name);
          assert.match(row.error ?? '', /loyalty/);
        } else {
          assert.equal(row.state, 'current', `tenant ${i + 1}`);
          assert.equal(row.version, '999_test_loyalty', `tenant ${i + 1}`);
        }
      });
    });

    it('keeps serving the failed tenant on its old schema', async () => {
      const svc = tp.p.tenants;
      const n = await svc.withTenant(ids[36]!, async (trx) => Number((await trx('customers').count('* as n'))[0]!.n));
      assert.equal(n, 0);
      const cols = await tp.p.db.raw(`select column_name from information_schema.columns where table_schema = ? and table_name = 'loyalty'`, [schemaNameFor(ids[36]!)]);
      assert.deepEqual(cols.rows.map((c: { column_name: string }) => c.column_name), ['x'], 'the failed migration left nothing behind');
    });

    it('resumes on rerun: only the failed tenant is migrated', async () => {
      await tp.p.db.raw(`drop table ${schemaNameFor(ids[36]!)}.loyalty`);
      const r = await migrateAllTenants(tp.p.db, { concurrency: 4, migrations: next });
      assert.equal(r.migrated, 1);
      assert.equal(r.failed.length, 0);
      assert.equal(r.current, 99);
      const again = await migrateAllTenants(tp.p.db, { concurrency: 4, migrations: next });
      assert.deepEqual([again.migrated, again.current, again.failed.length], [0, 100, 0]);
    });
  });

  describe('a pool of size 1 alternating tenants', () => {
    let db1: Knex;
    let svc: TenantService;
    let a: string;
    let b: string;

    before(async () => {
      a = (await tp.p.tenants.create({ name: 'Tenant A', config: demoConfig() })).id;
      b = (await tp.p.tenants.create({ name: 'Tenant B', config: demoConfig() })).id;
      await tp.p.tenants.withTenant(a, (trx) => trx('customers').insert({ first_name: 'Alice', last_name: 'OfA', phone: '+14085550001' }));
      await tp.p.tenants.withTenant(b, (trx) => trx('customers').insert({ first_name: 'Bob', last_name: 'OfB', phone: '+14085550002' }));
      db1 = createKnex({ databaseUrl: tp.db.url, poolMax: 1, logger: silentLogger });
      svc = new TenantService({ db: db1, state: tp.p.state, credentialsKey: tp.cfg.credentialsKey, logger: silentLogger });
    });
    after(async () => { await db1?.destroy(); });

    it('reads the right schema on every one of 10,000 alternating transactions, on one backend', async () => {
      const pids = new Set<number>();
      const schemaA = (await tp.p.tenants.get(a)).schema;
      const schemaB = (await tp.p.tenants.get(b)).schema;
      for (let i = 0; i < 10_000; i++) {
        const [id, schema, name] = i % 2 ? [b, schemaB, 'Bob'] : [a, schemaA, 'Alice'];
        const rows: { s: string; first_name: string; pid: number }[] = await svc.withTenant(id, async (trx) =>
          (await trx.raw('select current_schema() as s, first_name, pg_backend_pid() as pid from customers')).rows);
        assert.equal(rows.length, 1);
        assert.equal(rows[0]!.s, schema);
        assert.equal(rows[0]!.first_name, name);
        pids.add(rows[0]!.pid);
        if (i % 1000 === 999) {
          const sp = (await db1.raw(`select current_setting('search_path') as sp`)).rows[0].sp as string;
          assert.ok(!sp.includes('t_'), `search_path after commit is back to the login default, got ${sp}`);
        }
      }
      assert.equal(pids.size, 1, 'all 10,000 ran on the same pooled backend');
    });

    it('reverts the search_path after a rolled-back tenant transaction', async () => {
      await assert.rejects(svc.withTenant(a, async (trx) => { await trx('customers').select(); throw new Error('boom'); }), /boom/);
      await assert.rejects(db1('customers').select(), (e) => codeOf(e) === '42P01');
    });

    it('fails loudly (42P01) when a query escapes scoping through the global knex, never returning rows', async () => {
      await assert.rejects(db1('customers').select('first_name'), (e) => codeOf(e) === '42P01');
      await assert.rejects(tp.p.db.raw('select first_name from customers'), (e) => codeOf(e) === '42P01');
      // The classic bug: inside tenant A's transaction, a helper uses the global knex instead of trx.
      const leaked = await svc.withTenant(a, async (trx) => {
        const own = await trx('customers').select('first_name');
        const escaped = await tp.p.db('customers').select('first_name').then((r) => r, (e: unknown) => e);
        return { own, escaped };
      }).catch((e: unknown) => ({ own: null, escaped: e }));
      assert.deepEqual(leaked.own, [{ first_name: 'Alice' }]);
      assert.equal(codeOf(leaked.escaped), '42P01');
    });
  });

  describe('offboarding', () => {
    it('stops routing the number at once, in this process and in another one', async () => {
      const other = new TenantService({ db: tp.p.db, state: tp.p.state, credentialsKey: tp.cfg.credentialsKey, logger: silentLogger });
      await other.start();
      try {
        const t = await tp.p.tenants.create({ name: 'Goodbye Motors', config: demoConfig() });
        await tp.p.tenants.attachNumber(t.id, '+14155550166');
        assert.equal((await other.resolveNumber('+14155550166'))?.id, t.id, 'the other process has it cached');
        await tp.p.tenants.offboard(t.id);
        assert.equal(await tp.p.tenants.resolveNumber('+14155550166'), null);
        let seen: unknown = 'stale';
        for (let i = 0; i < 40 && seen !== null; i++) { seen = await other.resolveNumber('+14155550166'); if (seen !== null) await new Promise((r) => setTimeout(r, 50)); }
        assert.equal(seen, null, 'the invalidation reached the other process');
        await assert.rejects(tp.p.tenants.getActive(t.id), (e) => isServiceLaneError(e) && e.code === 'TEN_ERR_OFFBOARDED');
        const schema = await tp.p.db.raw('select count(*)::int as n from pg_namespace where nspname = ?', [t.schema]);
        assert.equal(schema.rows[0].n, 1, 'data is kept until an explicit purge');
      } finally { await other.stop(); }
    });
  });
});
