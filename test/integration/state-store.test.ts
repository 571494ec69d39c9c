import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import type { Knex } from 'knex';
import { createKnex } from '../../core/db/knex.js';
import { migratePlatform } from '../../core/db/migrate.js';
import { silentLogger } from '../../core/observability/logger.js';
import { PostgresStateStore } from '../../core/state/postgres-store.js';
import { RedisStateStore } from '../../core/state/redis-store.js';
import type { StateStore } from '../../core/state/store.js';
import pg from 'pg';
import { ADMIN_URL, createTestDatabase, TEST_REDIS_URL, uniquePrefix, type TestDatabase } from '../helpers/db.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Adapter { name: string; open(): Promise<{ store: StateStore; close(): Promise<void> }> }

const adapters: Adapter[] = [
  {
    name: 'RedisStateStore',
    open: async () => {
      const store = new RedisStateStore({ url: TEST_REDIS_URL, prefix: `sl:${uniquePrefix()}` });
      await store.ready();
      return { store, close: () => store.close() };
    },
  },
  {
    name: 'PostgresStateStore',
    open: async () => {
      const tdb: TestDatabase = await createTestDatabase();
      const db: Knex = createKnex({ databaseUrl: tdb.url, logger: silentLogger, poolMax: 10 });
      await migratePlatform(db);
      const store = new PostgresStateStore(db, { databaseUrl: tdb.url, prefix: uniquePrefix() });
      return { store, close: async () => { await store.close(); await db.destroy(); await tdb.drop(); } };
    },
  },
];

/** One suite, run unchanged against both adapters: the interface promises the same semantics on each. */
for (const adapter of adapters) {
  describe(`StateStore contract: ${adapter.name} (integration)`, function () {
    this.timeout(30_000);
    let store: StateStore;
    let close: () => Promise<void>;
    before(async () => { ({ store, close } = await adapter.open()); });
    after(async () => { await close?.(); });

    it('creates a versioned document once and reads it back', async () => {
      assert.equal(await store.createDoc('doc:a', { turn: 0, items: [] }, 60), true);
      assert.equal(await store.createDoc('doc:a', { turn: 99 }, 60), false, 'a second create does not overwrite');
      assert.deepEqual(await store.getDoc('doc:a'), { doc: { turn: 0, items: [] }, version: 1 });
      assert.equal(await store.getDoc('doc:missing'), null);
    });

    it('lets exactly one of 50 concurrent updaters win each version', async () => {
      await store.createDoc('doc:race', { n: 0 }, 60);
      for (let version = 1; version <= 3; version++) {
        const results = await Promise.all(Array.from({ length: 50 }, (_, i) => store.casDoc('doc:race', version, { n: version, by: i }, 60)));
        const winners = results.filter((r) => r.ok);
        assert.equal(winners.length, 1, `version ${version}`);
        assert.equal(winners[0]!.version, version + 1);
        for (const r of results.filter((x) => !x.ok)) assert.deepEqual(r, { ok: false, reason: 'stale', version: version + 1 });
      }
      assert.equal((await store.getDoc('doc:race'))!.version, 4);
      assert.deepEqual(await store.casDoc('doc:nope', 1, {}, 60), { ok: false, reason: 'missing', version: 0 });
    });

    it('retries read-modify-write on conflicts so concurrent increments are never lost', async () => {
      await store.createDoc('doc:count', { n: 0 }, 60);
      await Promise.all(Array.from({ length: 10 }, () => store.updateDoc<{ n: number }>('doc:count', (d) => ({ n: d.n + 1 }), 60)));
      assert.deepEqual(await store.getDoc('doc:count'), { doc: { n: 10 }, version: 11 });
      assert.equal(await store.updateDoc('doc:none', (d) => d, 60), null);
    });

    it('expires documents and keys after their TTL, and extend() pushes it out', async () => {
      await store.createDoc('ttl:doc', { x: 1 }, 1);
      await store.set('ttl:kv', 'v', 1);
      await store.createDoc('ttl:kept', { x: 1 }, 1);
      assert.equal(await store.extend('ttl:kept', 30), true);
      await sleep(2100);
      assert.equal(await store.getDoc('ttl:doc'), null);
      assert.equal(await store.get('ttl:kv'), null);
      assert.deepEqual((await store.getDoc('ttl:kept'))?.doc, { x: 1 });
      assert.equal(await store.extend('ttl:doc', 30), false, 'an expired key cannot be revived');
      assert.equal(await store.createDoc('ttl:doc', { x: 2 }, 60), true, 'an expired doc can be created again at version 1');
      assert.equal((await store.getDoc('ttl:doc'))!.version, 1);
    });

    it('sets a key only if absent, and again once it expired', async () => {
      assert.equal(await store.setIfAbsent('once:k', 'first', 1), true);
      assert.equal(await store.setIfAbsent('once:k', 'second', 1), false);
      assert.equal(await store.get('once:k'), 'first');
      const racers = await Promise.all(Array.from({ length: 20 }, (_, i) => store.setIfAbsent('once:race', String(i), 60)));
      assert.equal(racers.filter(Boolean).length, 1);
      await sleep(2100);
      assert.equal(await store.setIfAbsent('once:k', 'third', 60), true);
      assert.equal(await store.get('once:k'), 'third');
    });

    it('hands a one-time value to exactly one of many takers', async () => {
      await store.set('token:x', 'call-123', 60);
      const got = await Promise.all(Array.from({ length: 20 }, () => store.take('token:x')));
      assert.deepEqual(got.filter((g) => g !== null), ['call-123']);
      assert.equal(await store.get('token:x'), null);
      assert.equal(await store.take('token:never'), null);
    });

    it('counts hits within a window and starts over after it', async () => {
      const counts = [];
      for (let i = 0; i < 3; i++) counts.push(await store.hit('rl:k', 1));
      assert.deepEqual(counts, [1, 2, 3]);
      const parallel = await Promise.all(Array.from({ length: 20 }, () => store.hit('rl:p', 60)));
      assert.deepEqual([...parallel].sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i + 1), 'no lost increments');
      await sleep(2100);
      assert.equal(await store.hit('rl:k', 1), 1);
    });

    it('reserves at most `limit` slots across 30 concurrent takers, frees them on release or expiry, and says when', async () => {
      const takers = await Promise.all(Array.from({ length: 30 }, (_, i) => store.acquireSlot({ key: 'slot:a', holder: `h${i}`, limit: 3, ttlMs: 60_000 })));
      const won = takers.map((r, i) => (r.ok ? `h${i}` : null)).filter((x): x is string => x !== null);
      assert.equal(won.length, 3, 'exactly three slots were handed out');
      const refused = takers.find((r) => !r.ok) as { ok: false; retryAfterMs: number };
      assert.ok(refused.retryAfterMs > 50_000 && refused.retryAfterMs <= 60_000, `retryAfterMs ${refused.retryAfterMs}`);
      // A holder asking again keeps its slot (a rerun job), it does not take a second one.
      assert.deepEqual(await store.acquireSlot({ key: 'slot:a', holder: won[0]!, limit: 3, ttlMs: 60_000 }), { ok: true });
      assert.equal((await store.acquireSlot({ key: 'slot:a', holder: 'late', limit: 3, ttlMs: 60_000 })).ok, false);
      await store.releaseSlot('slot:a', won[1]!);
      await store.releaseSlot('slot:a', won[1]!);
      assert.deepEqual(await store.acquireSlot({ key: 'slot:a', holder: 'late', limit: 3, ttlMs: 60_000 }), { ok: true });
      // Expiry frees a slot on its own (a crashed holder).
      assert.deepEqual(await store.acquireSlot({ key: 'slot:b', holder: 'x', limit: 1, ttlMs: 150 }), { ok: true });
      const busy = await store.acquireSlot({ key: 'slot:b', holder: 'y', limit: 1, ttlMs: 150 });
      assert.equal(busy.ok, false);
      assert.ok(!busy.ok && busy.retryAfterMs <= 150);
      await sleep(200);
      assert.deepEqual(await store.acquireSlot({ key: 'slot:b', holder: 'y', limit: 1, ttlMs: 150 }), { ok: true });
    });

    it('books evenly spaced turns for concurrent callers on the store clock, none shared, and a stale schedule restarts now', async () => {
      // 10 callers at once, 1 s apart: the k-th booked turn is k seconds out (give or take when each caller's
      // request reached the store, far below the spacing).
      const waits = (await Promise.all(Array.from({ length: 10 }, () => store.reserveTurn('turn:a', 1000)))).sort((a, b) => a - b);
      waits.forEach((w, k) => assert.ok(Math.abs(w - k * 1000) < 400, `turn ${k}: wait ${w} ms (all: ${waits.join(', ')})`));
      // Fractional intervals keep their fraction (3 turns a second, not 1000/333).
      const thirds = (await Promise.all(Array.from({ length: 4 }, () => store.reserveTurn('turn:b', 1000 / 3)))).sort((a, b) => a - b);
      assert.ok(Math.abs(thirds[3]! - thirds[0]! - 1000) < 150, `three intervals of 333.3 ms: ${thirds.join(', ')}`);
      // A schedule whose last turn is long past does not make anyone wait.
      assert.equal(await store.reserveTurn('turn:c', 50), 0);
      await sleep(200);
      assert.equal(await store.reserveTurn('turn:c', 50), 0);
    });

    it('deletes keys and documents', async () => {
      await store.set('del:k', 'v', 60);
      await store.createDoc('del:d', {}, 60);
      await store.delete('del:k');
      await store.delete('del:d');
      assert.equal(await store.get('del:k'), null);
      assert.equal(await store.getDoc('del:d'), null);
    });

    it('delivers published messages to subscribers until they unsubscribe', async () => {
      const got: string[] = [];
      const unsubscribe = await store.subscribe('chan-a', (m) => got.push(m));
      const other: string[] = [];
      await store.subscribe('chan-b', (m) => other.push(m));
      await store.publish('chan-a', 'hello');
      await store.publish('chan-a', 'n:+14085550123');
      for (let i = 0; i < 40 && got.length < 2; i++) await sleep(25);
      assert.deepEqual(got, ['hello', 'n:+14085550123']);
      assert.deepEqual(other, []);
      await unsubscribe();
      await store.publish('chan-a', 'after');
      await sleep(200);
      assert.deepEqual(got, ['hello', 'n:+14085550123']);
    });

    it('reconnects a killed subscriber connection, reports the gap through onResubscribed, and delivers again', async () => {
      const got: string[] = [];
      await store.subscribe('chan-gap', (m) => got.push(m));
      let gaps = 0;
      const off = store.onResubscribed(() => { gaps++; });
      // Kill the subscriber from the server side, as a broker restart or a network blip would.
      if (store.kind === 'redis') {
        const admin = new Redis(TEST_REDIS_URL);
        try {
          const line = (await admin.client('LIST') as string).split('\n').find((l) => l.includes(` name=${store.subscriberName} `));
          assert.ok(line, 'the subscriber connection carries its name');
          assert.equal(await admin.client('KILL', 'ID', /^id=(\d+)/.exec(line)![1]!), 1);
        } finally { admin.disconnect(); }
      } else {
        const c = new pg.Client({ connectionString: ADMIN_URL });
        await c.connect();
        try {
          const r = await c.query('select pg_terminate_backend(pid) as ok from pg_stat_activity where application_name = $1', [store.subscriberName]);
          assert.deepEqual(r.rows.map((x: { ok: boolean }) => x.ok), [true]);
        } finally { await c.end(); }
      }
      for (let i = 0; i < 200 && gaps === 0; i++) await sleep(25);
      assert.equal(gaps, 1, 'one reconnect reported');
      await store.publish('chan-gap', 'after-reconnect');
      for (let i = 0; i < 80 && got.length === 0; i++) await sleep(25);
      assert.deepEqual(got, ['after-reconnect']);
      off();
    });

    it('answers ping', async () => {
      assert.equal(await store.ping(), true);
    });

    if (adapter.name === 'RedisStateStore') {
      it('recovers from NOSCRIPT after SCRIPT FLUSH (a failover that lost the script cache)', async () => {
        await store.createDoc('lua:d', { v: 1 }, 60);
        assert.equal((await store.casDoc('lua:d', 1, { v: 2 }, 60)).ok, true, 'script loaded and cached');
        const admin = new Redis(TEST_REDIS_URL);
        try { assert.equal(await admin.script('FLUSH'), 'OK'); } finally { admin.disconnect(); }
        assert.deepEqual(await store.casDoc('lua:d', 2, { v: 3 }, 60), { ok: true, version: 3 });
        assert.equal(await store.createDoc('lua:e', {}, 60), true);
      });
    }
  });
}
