import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type express from 'express';
import { Redis } from 'ioredis';
import pg from 'pg';
import request from 'supertest';
import { signDevToken } from '../../core/admin-api/auth.js';
import { buildPlatform, createHttpApp, type BuildOptions, type Platform } from '../../core/app.js';
import { loadConfig } from '../../core/config.js';
import { isServiceLaneError } from '../../core/errors.js';
import { silentLogger } from '../../core/observability/logger.js';
import { metrics } from '../../core/observability/metrics.js';
import { demoConfig } from '../../core/tenancy/seed.js';
import { DEFAULT_CACHE_REVALIDATE_MS, MAX_CACHE_REVALIDATE_MS } from '../../core/tenancy/tenants.js';
import { createTestDatabase, TEST_REDIS_URL, uniquePrefix, type TestDatabase } from '../helpers/db.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const A_PATH = '/admin/v1';
const SECRET = 'cache-test-secret-cache-test-secret-0123';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until `check` is true; returns the ms it took, or fails at the deadline with what it last saw. */
async function until(what: string, check: () => Promise<boolean>, deadlineMs: number): Promise<number> {
  const t0 = performance.now();
  let last: unknown;
  for (;;) {
    try { if (await check()) return Math.round(performance.now() - t0); last = 'false'; } catch (e) { last = (e as Error).message; }
    if (performance.now() - t0 > deadlineMs) assert.fail(`${what}: not true within ${deadlineMs} ms (last: ${String(last)})`);
    await sleep(20);
  }
}

async function counter(c: { get(): Promise<{ values: { value: number; labels: Record<string, unknown> }[] }> }, labels: Record<string, string> = {}): Promise<number> {
  const { values } = await c.get();
  return values.filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x)).reduce((n, v) => n + v.value, 0);
}

type Backend = 'redis' | 'postgres';

/**
 * Two processes' worth of platform (A and B) on one database, as two `buildPlatform` graphs in this process:
 * each has its own caches, state-store connections and subscriber, exactly as two pods would.
 */
function envFor(backend: Backend, url: string): Record<string, string | undefined> {
  return {
    ROLE: 'all', PORT: '0', LOG_LEVEL: 'silent', DATABASE_URL: url,
    REDIS_URL: backend === 'redis' ? TEST_REDIS_URL : undefined,
    ADMIN_JWT_SECRET: SECRET, CREDENTIALS_KEY: Buffer.alloc(32, 7).toString('base64'), PUBLIC_BASE_URL: 'https://servicelane.test',
  };
}

/** Drops B's subscriber connection from the server side, as a broker restart or a network blip would. */
async function killSubscriber(backend: Backend, p: Platform): Promise<void> {
  const name = p.state.subscriberName;
  if (backend === 'redis') {
    const admin = new Redis(TEST_REDIS_URL);
    try {
      const line = (await admin.client('LIST') as string).split('\n').find((l) => l.includes(` name=${name} `));
      assert.ok(line, `subscriber ${name} is connected`);
      const id = /^id=(\d+)/.exec(line)![1]!;
      assert.equal(await admin.client('KILL', 'ID', id), 1);
    } finally { admin.disconnect(); }
  } else {
    const c = new pg.Client({ connectionString: p.databaseUrl });
    await c.connect();
    try {
      const r = await c.query('select pg_terminate_backend(pid) as ok from pg_stat_activity where application_name = $1', [name]);
      assert.deepEqual(r.rows.map((x: { ok: boolean }) => x.ok), [true], `exactly B's LISTEN backend (${name}) was terminated`);
    } finally { await c.end(); }
  }
}

const measured: Record<string, Record<string, number>> = {};

for (const backend of ['redis', 'postgres'] as const) {
  describe(`Cache staleness across processes: ${backend} state (integration)`, function () {
    this.timeout(120_000);
    let tdb: TestDatabase;
    const open: Platform[] = [];
    const figures: Record<string, number> = {};
    measured[backend] = figures;

    async function platform(o: BuildOptions & { statePrefix: string }): Promise<{ p: Platform; app: express.Express }> {
      const p = await buildPlatform(loadConfig(envFor(backend, tdb.url)), { logger: silentLogger, ...o });
      open.push(p);
      return { p, app: createHttpApp(p) };
    }
    const admin = (app: express.Express, method: 'get' | 'put' | 'delete', url: string, token = signDevToken({ secret: SECRET, role: 'platform_admin' })) =>
      request(app)[method](`${A_PATH}${url}`).set('Authorization', `Bearer ${token}`);

    /** Tenants T and U on A, two numbers on T, and B primed: it routes T's numbers, serves T's config, accepts T's token. */
    async function scenario(a: Platform, b: { p: Platform; app: express.Express }) {
      const n = () => `+1408555${String(1000 + Math.floor(Math.random() * 8999))}`;
      const t = await a.tenants.create({ name: 'Stale Motors', slug: `stale-${uniquePrefix().slice(1, 9)}`, config: demoConfig() });
      const u = await a.tenants.create({ name: 'Other Motors', slug: `other-${uniquePrefix().slice(1, 9)}`, config: demoConfig() });
      const n1 = n();
      let n2 = n();
      while (n2 === n1) n2 = n();
      await a.tenants.attachNumber(t.id, n1);
      await a.tenants.attachNumber(t.id, n2);
      const token = signDevToken({ secret: SECRET, role: 'tenant_admin', tenant: t.id });
      assert.equal((await b.p.tenants.resolveNumber(n1))?.id, t.id);
      assert.equal((await b.p.tenants.resolveNumber(n2))?.id, t.id);
      assert.equal((await b.p.tenants.get(t.id)).config?.name, (demoConfig() as { name: string }).name);
      assert.equal((await admin(b.app, 'get', `/tenants/${t.id}`, token)).status, 200);
      return { t, u, n1, n2, token };
    }

    /** B's view of an offboarded T: its number routes nowhere, its token is refused, its plugins are closed to callers. */
    async function offboardedOnB(b: { p: Platform; app: express.Express }, s: { t: { id: string }; n2: string; token: string }): Promise<boolean> {
      if ((await b.p.tenants.resolveNumber(s.n2)) !== null) return false;
      const r = await admin(b.app, 'get', `/tenants/${s.t.id}`, s.token);
      if (r.status !== 401 || r.body.error?.code !== 'ADM_ERR_UNAUTHENTICATED') return false;
      try { await b.p.registry.get(s.t.id, 'llm'); return false; } catch (e) { return isServiceLaneError(e) && e.code === 'TEN_ERR_OFFBOARDED'; }
    }

    before(async () => { tdb = await createTestDatabase(); });
    afterEach(async () => { for (const p of open.splice(0)) await p.close(); });
    after(async () => {
      await tdb?.drop();
      if (backend === 'postgres') process.stdout.write(`      measured staleness (ms): ${JSON.stringify(measured)}\n`);
    });

    it('with every invalidation message lost, B serves the new config, the moved number and the offboarding within the revalidation bound', async () => {
      const revalidateMs = 300;
      // Different state prefixes put A and B on different channels: nothing A publishes ever reaches B.
      const a = await platform({ statePrefix: uniquePrefix() });
      const b = await platform({ statePrefix: uniquePrefix(), cacheRevalidateMs: revalidateMs });
      const s = await scenario(a.p, b);

      const put = await admin(a.app, 'put', `/tenants/${s.t.id}/config`).send({ ...demoConfig(), name: 'Renamed Motors' });
      assert.equal(put.status, 200, JSON.stringify(put.body));
      figures.configMs = await until('B serves the new config', async () => (await b.p.tenants.get(s.t.id)).config?.name === 'Renamed Motors'
        && (await admin(b.app, 'get', `/tenants/${s.t.id}`, s.token)).body.config?.name === 'Renamed Motors', MAX_CACHE_REVALIDATE_MS);

      assert.equal((await admin(a.app, 'delete', `/tenants/${s.t.id}/numbers/${encodeURIComponent(s.n1)}`)).status, 200);
      assert.equal((await admin(a.app, 'put', `/tenants/${s.u.id}/numbers/${encodeURIComponent(s.n1)}`)).status, 201);
      figures.numberMoveMs = await until('B routes the moved number to its new tenant', async () => (await b.p.tenants.resolveNumber(s.n1))?.id === s.u.id, MAX_CACHE_REVALIDATE_MS);

      assert.equal((await admin(a.app, 'delete', `/tenants/${s.t.id}`)).status, 200);
      figures.offboardMs = await until('B refuses the offboarded tenant', () => offboardedOnB(b, s), MAX_CACHE_REVALIDATE_MS);
      assert.ok(await counter(metrics.cacheFlushes, { reason: 'epoch' }) > 0, 'B noticed through the cache epoch');
    });

    it('when B\'s subscriber connection is killed, it reconnects, flushes its caches, and hears later messages again', async () => {
      const prefix = uniquePrefix();
      const a = await platform({ statePrefix: prefix });
      // Revalidation far away and a slow first reconnect: what A publishes meanwhile is lost, and only the
      // flush on reconnect (then pub/sub again) can make B converge within the bound.
      const b = await platform({ statePrefix: prefix, cacheRevalidateMs: 10 * 60_000, subscriberReconnect: { minMs: 1500, maxMs: 3000 } });
      const s = await scenario(a.p, b);
      const reconnects = await counter(metrics.subscriberReconnects, { backend });
      const flushes = await counter(metrics.cacheFlushes, { reason: 'resubscribed' });

      await killSubscriber(backend, b.p);
      assert.equal((await admin(a.app, 'delete', `/tenants/${s.t.id}`)).status, 200);
      figures.offboardAfterKillMs = await until('B refuses the offboarded tenant after its subscriber came back', () => offboardedOnB(b, s), MAX_CACHE_REVALIDATE_MS);
      assert.equal(await counter(metrics.subscriberReconnects, { backend }), reconnects + 1, 'B reconnected once');
      assert.equal(await counter(metrics.cacheFlushes, { reason: 'resubscribed' }), flushes + 1, 'and flushed on reconnect');

      // Listening again: a change now reaches B by message (revalidation is 10 minutes away).
      assert.equal((await b.p.tenants.resolveNumber(s.n1)), null);
      await a.p.tenants.attachNumber(s.u.id, s.n1);
      figures.messageAfterReconnectMs = await until('B hears the next invalidation', async () => (await b.p.tenants.resolveNumber(s.n1))?.id === s.u.id, MAX_CACHE_REVALIDATE_MS);
    });

    it('a publish that keeps failing is retried, counted and logged; the write stands and B converges by revalidation', async () => {
      const prefix = uniquePrefix();
      const a = await platform({ statePrefix: prefix });
      const b = await platform({ statePrefix: prefix, cacheRevalidateMs: 300 });
      const s = await scenario(a.p, b);
      let attempts = 0;
      // The broker refuses A's publishes (the dependency fails; the code under test is A's TenantService).
      a.p.state.publish = async () => { attempts++; throw new Error('broker unavailable'); };
      const failures = await counter(metrics.publishFailures);
      const r = await admin(a.app, 'delete', `/tenants/${s.t.id}`);
      assert.equal(r.status, 200);
      assert.equal(attempts, 3, 'first try plus two retries');
      assert.equal(await counter(metrics.publishFailures), failures + 1);
      assert.equal((await a.p.db('platform.tenants').where({ id: s.t.id }).first('status')).status, 'offboarded');
      figures.offboardPublishFailedMs = await until('B refuses the offboarded tenant', () => offboardedOnB(b, s), MAX_CACHE_REVALIDATE_MS);
    });

    it('defaults to the documented bound: 2 s, and refuses a CACHE_REVALIDATE_MS above 5 s', async () => {
      const cfg = loadConfig(envFor(backend, tdb.url));
      assert.equal(cfg.cacheRevalidateMs, 2000);
      assert.equal(DEFAULT_CACHE_REVALIDATE_MS, 2000);
      assert.equal(MAX_CACHE_REVALIDATE_MS, 5000);
      const { p } = await platform({ statePrefix: uniquePrefix() });
      assert.equal(p.tenants.revalidateMs, 2000, 'a platform built without overrides uses the default');
      assert.throws(() => loadConfig({ ...envFor(backend, tdb.url), CACHE_REVALIDATE_MS: '5001' }), (e: unknown) => isServiceLaneError(e) && e.code === 'CFG_ERR_ENV_INVALID' && /CACHE_REVALIDATE_MS/.test(e.message));
      assert.equal(loadConfig({ ...envFor(backend, tdb.url), CACHE_REVALIDATE_MS: '5000' }).cacheRevalidateMs, 5000);
      const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
      assert.match(readme, /\| `CACHE_REVALIDATE_MS` \|[^\n]*5 s[^\n]*\| `2000` \|/);
    });
  });
}
