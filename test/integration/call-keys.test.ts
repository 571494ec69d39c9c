// The call keys' Postgres fallback (core/telephony/call-keys.ts) across two processes sharing one Redis and one
// Postgres: a stream claim won on Redis reads Postgres only while an outage's keys may still be there, and a claim
// made on Postgres during one process's outage is still refused to the other process once Redis is back (empty).
import assert from 'node:assert/strict';
import type { Knex } from 'knex';
import { createKnex } from '../../core/db/knex.js';
import { migratePlatform } from '../../core/db/migrate.js';
import { silentLogger } from '../../core/observability/logger.js';
import { PostgresStateStore } from '../../core/state/postgres-store.js';
import { RedisStateStore } from '../../core/state/redis-store.js';
import type { StateStore } from '../../core/state/store.js';
import { CallKeys } from '../../core/telephony/call-keys.js';
import { createTestDatabase, uniquePrefix, type TestDatabase } from '../helpers/db.js';
import { startThrowawayRedis, type ThrowawayRedis } from '../helpers/throwaway-redis.js';

describe('call keys: the Postgres fallback is read only while it may hold keys (integration)', function () {
  this.timeout(60_000);
  let redis: ThrowawayRedis;
  let tdb: TestDatabase;
  let db: Knex;
  let pgStore: PostgresStateStore;
  const primaries: RedisStateStore[] = [];
  let fallbackReads = 0;

  /** One process's keys: its own Redis client, the shared Postgres store (reads counted). */
  async function processKeys(prefix: string): Promise<CallKeys> {
    const primary = new RedisStateStore({ url: redis.url, prefix, commandTimeoutMs: 300, reconnect: { minMs: 20, maxMs: 100 } });
    primaries.push(primary);
    await primary.ready();
    const fallback: StateStore = Object.create(pgStore) as StateStore;
    fallback.get = async (key: string) => { fallbackReads++; return pgStore.get(key); };
    return new CallKeys({ primary, fallback, logger: silentLogger });
  }

  before(async () => {
    redis = await startThrowawayRedis();
    tdb = await createTestDatabase();
    db = createKnex({ databaseUrl: tdb.url, logger: silentLogger, poolMax: 5 });
    await migratePlatform(db);
    pgStore = new PostgresStateStore(db, { databaseUrl: tdb.url, prefix: uniquePrefix() });
  });
  after(async () => {
    for (const p of primaries) await p.close();
    await pgStore?.close();
    await db?.destroy();
    await tdb?.drop();
    await redis?.close();
  });

  it('no outage: a won claim makes no Postgres read; after one, the other process is refused a claim made on Postgres', async () => {
    const prefix = `sl:${uniquePrefix()}`;
    const a = await processKeys(prefix);
    const b = await processKeys(prefix);
    assert.equal(await b.setIfAbsent('stream:CA1', 'MZ1', 3600), true);
    assert.equal(await b.setIfAbsent('stream:CA1', 'MZ2', 3600), false, 'a second stream for the same call');
    assert.equal(fallbackReads, 0, 'no outage happened: Postgres was never read');

    await redis.stop();
    assert.equal(await a.setIfAbsent('stream:CA2', 'MZ3', 3600), true, 'claimed on Postgres while Redis is down');
    await redis.start();
    // Process a notices Redis is back on its next key operation, and marks the outage for everyone.
    for (let i = 0; ; i++) {
      try { await a.get('anything'); if (await primaries[0]!.get('callkeys:fallback-until')) break; } catch { /* still reconnecting */ }
      if (i > 100) throw new Error('process a never marked the outage');
      await new Promise((r) => setTimeout(r, 50));
    }
    const readsBefore = fallbackReads;
    assert.equal(await b.setIfAbsent('stream:CA2', 'MZ4', 3600), false, 'Redis came back empty, but Postgres holds the outage claim');
    assert.ok(fallbackReads > readsBefore, 'the claim consulted Postgres while the outage keys may live');
    assert.equal(await b.setIfAbsent('stream:CA3', 'MZ5', 3600), true, 'an unrelated new call is still claimed');
  });
});
