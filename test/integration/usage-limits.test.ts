// Concurrent-call leases across processes, on both state-store backends: two child processes race for the
// same tenant's slots through their own connections, and exactly `max` leases are granted between them.
// A process that dies holding leases frees them when they expire; a live call renews its own.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Knex } from 'knex';
import { createKnex } from '../../core/db/knex.js';
import { migratePlatform } from '../../core/db/migrate.js';
import { silentLogger } from '../../core/observability/logger.js';
import { PostgresStateStore } from '../../core/state/postgres-store.js';
import { RedisStateStore } from '../../core/state/redis-store.js';
import type { StateStore } from '../../core/state/store.js';
import { LeaseStore } from '../../core/usage/leases.js';
import { CallLimits } from '../../core/usage/limits.js';
import { usageMetrics } from '../../core/usage/metrics.js';
import { createTestDatabase, TEST_REDIS_URL, uniquePrefix, type TestDatabase } from '../helpers/db.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const CHILD = path.resolve(here, '../helpers/lease-child.ts');
const TSX = path.resolve(here, '../../node_modules/.bin/tsx');

interface Child { ready: Promise<void>; go(): void; result: Promise<{ granted: string[] }> }

/** Starts a lease child; it connects, says `ready`, and races only after `go()`. */
function startChild(env: Record<string, string>): Child {
  const c = spawn(TSX, [CHILD], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let onReady: () => void = () => {};
  const ready = new Promise<void>((r) => { onReady = r; });
  c.stdout.on('data', (b: Buffer) => { out += b.toString(); if (out.includes('ready\n')) onReady(); });
  c.stderr.on('data', (b: Buffer) => { err += b.toString(); });
  const result = new Promise<{ granted: string[] }>((resolve, reject) => {
    c.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`lease child exited ${code}: ${err}`));
      try { resolve(JSON.parse(out.trim().split('\n').pop()!) as { granted: string[] }); } catch (e) { reject(e as Error); }
    });
  });
  return { ready, result, go: () => { c.stdin.end('go\n'); } };
}

async function runChildren(envs: Record<string, string>[]): Promise<{ granted: string[] }[]> {
  const children = envs.map(startChild);
  await Promise.race([Promise.all(children.map((c) => c.ready)), Promise.all(children.map((c) => c.result))]);
  for (const c of children) c.go();
  return Promise.all(children.map((c) => c.result));
}

interface Backend { kind: 'redis' | 'postgres'; open(): Promise<{ store: StateStore; childEnv: Record<string, string>; close(): Promise<void> }> }

const backends: Backend[] = [
  {
    kind: 'redis',
    open: async () => {
      const prefix = `sl:${uniquePrefix()}`;
      const store = new RedisStateStore({ url: TEST_REDIS_URL, prefix });
      await store.ready();
      return { store, childEnv: { STATE_KIND: 'redis', REDIS_URL: TEST_REDIS_URL, PREFIX: prefix }, close: () => store.close() };
    },
  },
  {
    kind: 'postgres',
    open: async () => {
      const tdb: TestDatabase = await createTestDatabase();
      const db: Knex = createKnex({ databaseUrl: tdb.url, logger: silentLogger, poolMax: 5 });
      await migratePlatform(db);
      const prefix = uniquePrefix();
      const store = new PostgresStateStore(db, { databaseUrl: tdb.url, prefix });
      return { store, childEnv: { STATE_KIND: 'postgres', DATABASE_URL: tdb.url, PREFIX: prefix }, close: async () => { await store.close(); await db.destroy(); await tdb.drop(); } };
    },
  },
];

for (const backend of backends) {
  describe(`usage limits: concurrent-call leases on ${backend.kind} (integration)`, function () {
    this.timeout(60_000);
    let b: Awaited<ReturnType<Backend['open']>>;
    before(async () => { b = await backend.open(); });
    after(async () => { await b?.close(); });

    it('two processes racing for 20 slots of a tenant capped at 3: exactly 3 granted between them', async () => {
      const tenant = `t-race-${Date.now()}`;
      const [x, y] = await runChildren([
        { ...b.childEnv, TENANT: tenant, MAX: '3', ATTEMPTS: '10' },
        { ...b.childEnv, TENANT: tenant, MAX: '3', ATTEMPTS: '10' },
      ]) as [{ granted: string[] }, { granted: string[] }];
      assert.equal(x.granted.length + y.granted.length, 3, `granted ${JSON.stringify([x.granted, y.granted])}`);
      const leases = new LeaseStore({ state: b.store });
      assert.equal(await leases.active(tenant), 3, 'the store holds the 3 granted leases');
      assert.equal((await leases.acquire({ tenantId: tenant, id: 'here', max: 3, ttlMs: 90_000 })).granted, false, 'this process is refused too');
    });

    it('leases of a process that died expire: the slots free once their TTL passed, with no release', async () => {
      const tenant = `t-crash-${Date.now()}`;
      const [dead] = await runChildren([{ ...b.childEnv, TENANT: tenant, MAX: '2', ATTEMPTS: '2', TTL_MS: '90000' }]) as [{ granted: string[] }];
      assert.equal(dead.granted.length, 2);
      const now = new LeaseStore({ state: b.store });
      assert.equal((await now.acquire({ tenantId: tenant, id: 'x', max: 2, ttlMs: 90_000 })).granted, false, 'full while the leases live');
      const later = new LeaseStore({ state: b.store, clock: () => Date.now() + 91_000 });
      assert.equal(await later.active(tenant), 0);
      assert.deepEqual(await later.acquire({ tenantId: tenant, id: 'y', max: 2, ttlMs: 90_000 }), { granted: true, active: 1 });
    });

    it('renewal keeps a live call\'s lease past its first expiry; release frees it; a replayed acquire counts once', async () => {
      const tenant = `t-renew-${Date.now()}`;
      let t = Date.now();
      const leases = new LeaseStore({ state: b.store, clock: () => t });
      assert.equal((await leases.acquire({ tenantId: tenant, id: 'CA1', max: 1, ttlMs: 1000 })).granted, true);
      assert.deepEqual(await leases.acquire({ tenantId: tenant, id: 'CA1', max: 1, ttlMs: 1000 }), { granted: true, active: 1 }, 'same id again is a renewal');
      t += 800;
      assert.equal(await leases.renew({ tenantId: tenant, id: 'CA1', ttlMs: 1000 }), true);
      t += 800;
      assert.equal((await leases.acquire({ tenantId: tenant, id: 'CA2', max: 1, ttlMs: 1000 })).granted, false, 'renewed lease still holds the slot');
      await leases.release({ tenantId: tenant, id: 'CA1' });
      assert.equal((await leases.acquire({ tenantId: tenant, id: 'CA2', max: 1, ttlMs: 1000 })).granted, true);
      assert.equal(await leases.renew({ tenantId: tenant, id: 'CA1', ttlMs: 1000 }), false, 'a released lease is not brought back by a late renewal');
    });

    it('a limit check that cannot reach the store admits the call (and says so) instead of refusing callers', async () => {
      const broken: StateStore = Object.create(b.store) as StateStore;
      broken.getDoc = () => Promise.reject(new Error('connection refused'));
      const limits = new CallLimits({ leases: new LeaseStore({ state: broken }), withTenant: () => Promise.reject(new Error('unused')), logger: silentLogger });
      const failuresBefore = (await usageMetrics.checkFailures.get()).values[0]?.value ?? 0;
      const r = await limits.admit({ tenantId: 'tx', config: { timezone: 'UTC', limits: { maxConcurrentCalls: 1 } }, leaseId: 'CA9', direction: 'inbound' });
      assert.deepEqual(r, { ok: true, leased: false });
      assert.equal((await usageMetrics.checkFailures.get()).values[0]?.value, failuresBefore + 1, 'the failure is counted');
    });
  });
}
