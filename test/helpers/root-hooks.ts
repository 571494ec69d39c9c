import pg from 'pg';
import { Redis } from 'ioredis';
import { ADMIN_URL, TEST_REDIS_URL } from './db.js';

/**
 * The suite needs the machine's Postgres and Redis (.ci/run starts them). Checking once up front turns
 * forty confusing connection errors into one message that says what to start.
 */
export const mochaHooks = {
  async beforeAll(this: Mocha.Context) {
    this.timeout(15_000);
    const c = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 3000 });
    try { await c.connect(); await c.query('select 1'); } catch (e) {
      throw new Error(`tests need Postgres at ${ADMIN_URL} (set TEST_PG_ADMIN_URL to override): ${(e as Error).message}`);
    } finally { await c.end().catch(() => {}); }
    const r = new Redis(TEST_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 3000 });
    try { await r.connect(); await r.ping(); } catch (e) {
      throw new Error(`tests need Redis at ${TEST_REDIS_URL} (set TEST_REDIS_URL to override): ${(e as Error).message}`);
    } finally { r.disconnect(); }
  },
};
