import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Knex } from 'knex';
import { createKnex } from '../../core/db/knex.js';
import { loadMigrations, migratePlatform } from '../../core/db/migrate.js';
import { silentLogger } from '../../core/observability/logger.js';
import { configHash } from '../../core/tenancy/config.js';
import { newTenantId, schemaNameFor } from '../../core/tenancy/schema-name.js';
import { demoConfig } from '../../core/tenancy/seed.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function runScript(script: string, o: { env: Record<string, string>; args?: string[] }): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(path.join(ROOT, 'node_modules/.bin/tsx'), [script, ...(o.args ?? [])], {
      cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...o.env }, timeout: 60_000,
    }, (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

describe('npm run migrate (scripts/migrate.ts)', function () {
  this.timeout(120_000);
  let tdb: TestDatabase;
  let db: Knex;
  let ids: string[];
  const env = () => ({
    DATABASE_URL: tdb.url, ROLE: 'api', LOG_LEVEL: 'silent',
    ADMIN_JWT_SECRET: 'migrate-test-secret-migrate-test-secret', CREDENTIALS_KEY: Buffer.alloc(32, 3).toString('base64'),
  });

  before(async () => {
    tdb = await createTestDatabase();
    db = createKnex({ databaseUrl: tdb.url, logger: silentLogger });
    await migratePlatform(db);
    ids = Array.from({ length: 6 }, () => newTenantId()).sort();
    const config = demoConfig();
    await db('platform.tenants').insert(ids.map((id, i) => ({
      id, slug: `m-${i}`, name: `M ${i}`, schema_name: schemaNameFor(id), status: i === 5 ? 'offboarded' : 'provisioning',
      config: JSON.stringify(config), config_hash: configHash(config),
    })));
    // Tenant 3 has drifted: a table the first migration creates is already there.
    await db.raw(`create schema ${schemaNameFor(ids[2]!)}`);
    await db.raw(`create table ${schemaNameFor(ids[2]!)}.customers (x int)`);
  });
  after(async () => { await db?.destroy(); await tdb?.drop(); });

  it('migrates every active tenant, reports the failed one with progress, and exits 1', async () => {
    const r = await runScript('scripts/migrate.ts', { env: env() });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /platform schema .*: up to date/);
    assert.match(r.stdout, new RegExp(`\\[\\d/5\\] tenant ${ids[2]} \\(${schemaNameFor(ids[2]!)}\\) FAILED: .*customers`));
    assert.match(r.stdout, /\[5\/5\]/);
    assert.match(r.stdout, /5 total, 0 already current, 4 migrated, 1 failed/);
    assert.match(r.stdout, new RegExp(`failed tenants[^\\n]*\\n  ${ids[2]}`));
    const rows: { tenant_id: string; state: string; version: string | null }[] = await db('platform.tenant_migrations').select();
    const latest = loadMigrations('tenant').at(-1)!.name;
    assert.deepEqual(rows.filter((x) => x.state === 'current').map((x) => x.tenant_id).sort(), [ids[0], ids[1], ids[3], ids[4]]);
    assert.deepEqual(rows.filter((x) => x.state === 'failed').map((x) => [x.tenant_id, x.version]), [[ids[2], null]]);
    assert.ok(rows.every((x) => x.state !== 'current' || x.version === latest));
    assert.ok(!rows.some((x) => x.tenant_id === ids[5]), 'offboarded tenants are skipped');
  });

  it('resumes on rerun once the cause is fixed, touching only the tenant that was behind', async () => {
    await db.raw(`drop table ${schemaNameFor(ids[2]!)}.customers`);
    const r = await runScript('scripts/migrate.ts', { env: env() });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /5 total, 4 already current, 1 migrated, 0 failed/);
    const again = await runScript('scripts/migrate.ts', { env: env(), args: ['--concurrency', '4'] });
    assert.equal(again.code, 0);
    assert.match(again.stdout, /5 total, 5 already current, 0 migrated, 0 failed/);
  });

  it('refuses a bad --concurrency', async () => {
    const r = await runScript('scripts/migrate.ts', { env: env(), args: ['--concurrency', 'lots'] });
    assert.equal(r.code, 64);
    assert.match(r.stderr, /usage/);
  });
});

describe('npm run token (scripts/token.ts)', function () {
  this.timeout(60_000);
  const env = { ADMIN_JWT_SECRET: 'token-test-secret-token-test-secret-00', ROLE: 'api', CREDENTIALS_KEY: Buffer.alloc(32, 3).toString('base64') };

  it('prints a platform_admin token the API verifier accepts', async () => {
    const { createTokenVerifier } = await import('../../core/admin-api/auth.js');
    const r = await runScript('scripts/token.ts', { env, args: ['--role', 'platform_admin', '--ttl', '120'] });
    assert.equal(r.code, 0, r.stderr);
    const p = createTokenVerifier({ secret: env.ADMIN_JWT_SECRET, generatedDevSecret: false })(r.stdout.trim());
    assert.deepEqual(p, { sub: 'dev-platform_admin', role: 'platform_admin', tenant: null });
  });

  it('prints a tenant_admin token bound to its tenant', async () => {
    const { createTokenVerifier } = await import('../../core/admin-api/auth.js');
    const tenant = newTenantId();
    const r = await runScript('scripts/token.ts', { env, args: ['--role', 'tenant_admin', '--tenant', tenant] });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(createTokenVerifier({ secret: env.ADMIN_JWT_SECRET, generatedDevSecret: false })(r.stdout.trim()).tenant, tenant);
  });

  it('refuses bad arguments with usage and prints no token', async () => {
    for (const args of [['--role', 'root'], ['--role', 'tenant_admin'], ['--role', 'tenant_admin', '--tenant', 'x"; drop'], ['--role', 'platform_admin', '--ttl', '-5'], ['--bogus', '1']]) {
      const r = await runScript('scripts/token.ts', { env, args });
      assert.equal(r.code, 64, args.join(' '));
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /usage/);
    }
  });
});
