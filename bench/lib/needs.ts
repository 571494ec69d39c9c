/**
 * Benchmarks measure the machine's own Postgres and Redis (the ones `npm test` uses), not the embedded cluster
 * `npm start` runs: fresh databases are created and dropped per run, and figures are comparable with CI.
 * So each bench says up front what it needs, and when a service is not answering it stops with one line that
 * names the service, the address and the way out, instead of a stack trace minutes into a run.
 */
import pg from 'pg';
import { Redis } from 'ioredis';
import { ADMIN_URL, TEST_REDIS_URL } from '../../test/helpers/db.js';

/** Exit code when a needed service is absent (sysexits EX_UNAVAILABLE). */
export const EXIT_SERVICE_UNAVAILABLE = 69;
const PROBE_TIMEOUT_MS = 3000;

const where = (url: string, dfltPort: string) => { const u = new URL(url); return `${u.hostname}:${u.port || dfltPort}`; };

async function postgresAnswers(): Promise<string | null> {
  const c = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: PROBE_TIMEOUT_MS });
  try {
    await c.connect();
    await c.query('select 1');
    return null;
  } catch (e) {
    return (e as Error).message || String(e);
  } finally {
    await c.end().catch(() => { /* never connected: nothing to close */ });
  }
}

async function redisAnswers(): Promise<string | null> {
  const r = new Redis(TEST_REDIS_URL, { lazyConnect: true, connectTimeout: PROBE_TIMEOUT_MS, maxRetriesPerRequest: 0, retryStrategy: () => null });
  r.on('error', () => { /* the connect() rejection below carries the same error */ });
  try {
    await r.connect();
    await r.ping();
    return null;
  } catch (e) {
    return (e as Error).message || String(e);
  } finally {
    r.disconnect();
  }
}

/**
 * Prints what `bench` needs, probes it, and exits with one clear line when something is absent. `hint` says
 * how to run without the missing part (a flag), when the bench has one.
 */
export async function requireServices(o: { bench: string; postgres: boolean; redis: boolean; hint?: { postgres?: string; redis?: string } }): Promise<void> {
  const needs = [
    o.postgres ? `Postgres at ${where(ADMIN_URL, '5432')} (TEST_PG_ADMIN_URL)` : null,
    o.redis ? `Redis at ${where(TEST_REDIS_URL, '6379')} (TEST_REDIS_URL)` : null,
  ].filter(Boolean);
  process.stdout.write(`${o.bench} bench: needs ${needs.length ? needs.join(' and ') : 'no external service'}\n`);
  const failures: string[] = [];
  if (o.postgres) {
    const err = await postgresAnswers();
    if (err) failures.push(`Postgres is not answering at ${where(ADMIN_URL, '5432')} (${err})${o.hint?.postgres ? `; ${o.hint.postgres}` : ''}`);
  }
  if (o.redis) {
    const err = await redisAnswers();
    if (err) failures.push(`Redis is not answering at ${where(TEST_REDIS_URL, '6379')} (${err})${o.hint?.redis ? `; ${o.hint.redis}` : ''}`);
  }
  if (failures.length) {
    process.stderr.write(`${o.bench} bench cannot run: ${failures.join('; ')}. Start them (.ci/run does) or point the variables above at running ones.\n`);
    process.exit(EXIT_SERVICE_UNAVAILABLE);
  }
}
