/**
 * `npm run bench -- onboarding [--tenants 1000] [--runs 30] [--state redis|postgres] [--db machine|embedded]`
 *
 * On a fresh database (the machine's Postgres, or a fresh embedded cluster with --db embedded), with the
 * real HTTP app:
 *  1. onboarding one tenant over REST (POST /tenants + PUT number), p50/p99 over --runs (target p50 < 150 ms);
 *  2. migrating --tenants new tenant schemas with migrateAllTenants at concurrency 2, and again at 4
 *     (target < 30 s for 1,000), with a concurrency-1 sample as the baseline;
 *  3. re-running migrations when every tenant is current (target < 1 s).
 * Baselines in the same process: a `select 1` round trip and GET /healthz. Last stdout line: one JSON object.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { buildPlatform, createHttpApp, listen } from '../core/app.js';
import { signDevToken } from '../core/admin-api/auth.js';
import { loadConfig } from '../core/config.js';
import { startEmbeddedPostgres } from '../core/db/embedded.js';
import { migrateAllTenants } from '../core/db/migrate.js';
import { silentLogger } from '../core/observability/logger.js';
import { configHash } from '../core/tenancy/config.js';
import { newTenantId, schemaNameFor } from '../core/tenancy/schema-name.js';
import { demoConfig } from '../core/tenancy/seed.js';
import { createTestDatabase, TEST_REDIS_URL, uniquePrefix } from '../test/helpers/db.js';
import { requireServices } from './lib/needs.js';
import { flag, pct } from './lib/figures.js';

const TENANTS = Number(flag('tenants', '1000'));
const RUNS = Number(flag('runs', '30'));
const STATE = flag('state', 'redis');
const DB = flag('db', 'machine');
if (!Number.isInteger(TENANTS) || TENANTS < 10 || !Number.isInteger(RUNS) || RUNS < 5 || !['redis', 'postgres'].includes(STATE) || !['machine', 'embedded'].includes(DB)) {
  process.stderr.write('usage: npm run bench -- onboarding [--tenants N>=10] [--runs N>=5] [--state redis|postgres] [--db machine|embedded]\n');
  process.exit(64);
}
await requireServices({ bench: 'onboarding', postgres: DB === 'machine', redis: STATE === 'redis', hint: { postgres: 'or run with --db embedded', redis: 'or run with --state postgres' } });

const r1 = (x: number) => Math.round(x * 10) / 10;
const log = (s: string) => process.stdout.write(`${s}\n`);

async function time<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = performance.now();
  const v = await fn();
  return [performance.now() - t0, v];
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => { const srv = net.createServer().listen(0, '127.0.0.1', () => { const { port } = srv.address() as AddressInfo; srv.close(() => resolve(port)); }); });
}

/** A throwaway database: a fresh one on the machine's Postgres, or a fresh embedded cluster (what `npm start` uses). */
async function freshDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  if (DB === 'machine') return createTestDatabase('bench');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sl-bench-pg-'));
  fs.chmodSync(dir, 0o755); // as root the cluster runs as the OS user postgres
  const pg = await startEmbeddedPostgres({ dataDir: path.join(dir, 'pg'), port: await freePort(), log: () => {} });
  return { url: pg.url, drop: async () => { await pg.stop(); fs.rmSync(dir, { recursive: true, force: true }); } };
}

const tdb = await freshDatabase();
const secret = 'bench-secret-bench-secret-bench-secret-00';
const cfg = loadConfig({
  ROLE: 'all', PORT: '0', LOG_LEVEL: 'silent', DATABASE_URL: tdb.url, REDIS_URL: STATE === 'redis' ? TEST_REDIS_URL : undefined,
  ADMIN_JWT_SECRET: secret, CREDENTIALS_KEY: Buffer.alloc(32, 9).toString('base64'), PUBLIC_BASE_URL: 'https://bench.servicelane.test',
  ADMIN_RATE_LIMIT_PER_MIN: '100000',
});
const p = await buildPlatform(cfg, { logger: silentLogger, statePrefix: uniquePrefix() });
const server = await listen(p, createHttpApp(p));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const auth = { Authorization: `Bearer ${signDevToken({ secret, role: 'platform_admin', sub: 'bench' })}`, 'Content-Type': 'application/json' };

try {
  const pgVersion = String((await p.db.raw('show server_version')).rows[0].server_version);
  log(`onboarding bench: Postgres ${pgVersion} (${DB}), state ${STATE}, ${TENANTS} tenants per migration batch, ${RUNS} REST runs`);

  // ---- baselines ----
  const select1: number[] = [];
  const healthz: number[] = [];
  for (let i = 0; i < 300; i++) select1.push((await time(() => p.db.raw('select 1')))[0]);
  for (let i = 0; i < 300; i++) healthz.push((await time(async () => { const r = await fetch(`${base}/healthz`); await r.arrayBuffer(); }))[0]);
  log(`baseline: select 1 p50 ${r1(pct(select1, 0.5))} ms, GET /healthz p50 ${r1(pct(healthz, 0.5))} ms`);

  // ---- 1. onboarding over REST ----
  const config = JSON.stringify({ name: 'Bench Motors', config: demoConfig() });
  const onboard: number[] = [];
  const createMs: number[] = [];
  for (let i = -3; i < RUNS; i++) {
    const number = `+1650555${String(1000 + i + 3).padStart(4, '0')}`;
    const t0 = performance.now();
    const c = await fetch(`${base}/admin/v1/tenants`, { method: 'POST', headers: auth, body: config });
    const body = await c.json() as { id: string };
    if (c.status !== 201) throw new Error(`create failed: ${c.status} ${JSON.stringify(body)}`);
    const t1 = performance.now();
    const n = await fetch(`${base}/admin/v1/tenants/${body.id}/numbers/${encodeURIComponent(number)}`, { method: 'PUT', headers: auth });
    await n.arrayBuffer();
    if (n.status !== 201) throw new Error(`attach failed: ${n.status}`);
    if (i >= 0) { onboard.push(performance.now() - t0); createMs.push(t1 - t0); } // the first 3 warm caches and JIT
  }
  const onboardP50 = pct(onboard, 0.5);
  log(`onboard (create + attach number): p50 ${r1(onboardP50)} ms, p99 ${r1(pct(onboard, 0.99))} ms (create alone p50 ${r1(pct(createMs, 0.5))} ms)`);

  // ---- 2. migrating new tenant schemas ----
  const cfgJson = JSON.stringify(demoConfig());
  const hash = configHash(demoConfig());
  const addProvisioning = async (n: number) => {
    const rows = Array.from({ length: n }, () => newTenantId()).sort().map((id, i) => ({
      id, slug: `bench-${id}`, name: `Bench ${i}`, schema_name: schemaNameFor(id), status: 'provisioning', config: cfgJson, config_hash: hash,
    }));
    for (let i = 0; i < rows.length; i += 500) await p.db('platform.tenants').insert(rows.slice(i, i + 500));
  };
  const batch = async (n: number, concurrency: number) => {
    await addProvisioning(n);
    const [ms, r] = await time(() => migrateAllTenants(p.db, { concurrency }));
    if (r.failed.length || r.migrated !== n) throw new Error(`migration batch failed: ${JSON.stringify(r.failed.slice(0, 3))}`);
    return ms;
  };
  const sampleN = Math.max(10, Math.round(TENANTS / 10));
  const c1Ms = await batch(sampleN, 1);
  const c1Per = c1Ms / sampleN;
  log(`migrate ${sampleN} new tenants, concurrency 1: ${Math.round(c1Ms)} ms (${r1(c1Per)} ms per tenant)`);
  const c2Ms = await batch(TENANTS, 2);
  log(`migrate ${TENANTS} new tenants, concurrency 2: ${Math.round(c2Ms)} ms (${r1(c2Ms / TENANTS)} ms per tenant)`);
  const c4Ms = await batch(TENANTS, 4);
  log(`migrate ${TENANTS} new tenants, concurrency 4: ${Math.round(c4Ms)} ms (${r1(c4Ms / TENANTS)} ms per tenant)`);

  // ---- 3. re-run with everything current ----
  const reruns: number[] = [];
  let totalTenants = 0;
  for (let i = 0; i < 5; i++) {
    const [ms, r] = await time(() => migrateAllTenants(p.db, { concurrency: 2 }));
    if (r.migrated !== 0) throw new Error('rerun migrated something');
    totalTenants = r.total;
    reruns.push(ms);
  }
  const rerunP50 = pct(reruns, 0.5);
  log(`re-run with all ${totalTenants} tenants current: p50 ${r1(rerunP50)} ms`);

  const figures = {
    bench: 'onboarding', postgres: pgVersion, db: DB, state: STATE, loadAvg1m: Math.round(os.loadavg()[0]! * 100) / 100, cpus: os.cpus().length,
    onboard: { runs: RUNS, p50Ms: r1(onboardP50), p99Ms: r1(pct(onboard, 0.99)), createP50Ms: r1(pct(createMs, 0.5)), targetP50Ms: 150, pass: onboardP50 < 150 },
    migrate: {
      tenants: TENANTS,
      concurrency1: { tenants: sampleN, ms: Math.round(c1Ms), perTenantMs: r1(c1Per) },
      concurrency2: { ms: Math.round(c2Ms), perTenantMs: r1(c2Ms / TENANTS) },
      concurrency4: { ms: Math.round(c4Ms), perTenantMs: r1(c4Ms / TENANTS) },
      targetMs: Math.round(30_000 * TENANTS / 1000), pass: Math.min(c2Ms, c4Ms) < 30_000 * TENANTS / 1000,
    },
    rerunAllCurrent: { tenants: totalTenants, p50Ms: r1(rerunP50), targetMs: 1000, pass: rerunP50 < 1000 },
    baseline: { select1P50Ms: Math.round(pct(select1, 0.5) * 1000) / 1000, healthzP50Ms: r1(pct(healthz, 0.5)) },
    ratios: {
      onboardP50OverHealthzP50: r1(onboardP50 / pct(healthz, 0.5)),
      migrateSpeedupC2OverC1: Math.round((c1Per / (c2Ms / TENANTS)) * 100) / 100,
      migrateSpeedupC4OverC1: Math.round((c1Per / (c4Ms / TENANTS)) * 100) / 100,
      rerunOverSelect1: r1(rerunP50 / pct(select1, 0.5)),
    },
  };
  log(JSON.stringify(figures));
} finally {
  await p.close();
  await tdb.drop();
}
