/**
 * `npm run bench -- staleness [--runs 8] [--revalidate-ms 2000]`
 *
 * How long another process keeps routing an offboarded dealership's number, per state backend (Redis and
 * Postgres), on the machine's Postgres and Redis. Two platforms A and B share one database, as two pods would:
 *  - lost: A and B use different state prefixes, so no invalidation message ever reaches B; B converges only
 *    through the cache epoch (README "Caches across processes"): expect ≤ --revalidate-ms plus one query;
 *  - message: same prefix, pub/sub intact; the fast path.
 * Each run offboards a fresh tenant through A and polls B's number lookup every 5 ms until it returns null.
 * Last stdout line: one JSON object (ms).
 */
import { buildPlatform, type Platform } from '../core/app.js';
import { loadConfig } from '../core/config.js';
import { silentLogger } from '../core/observability/logger.js';
import { demoConfig } from '../core/tenancy/seed.js';
import { createTestDatabase, TEST_REDIS_URL, uniquePrefix } from '../test/helpers/db.js';
import { flag } from './lib/figures.js';

const RUNS = Number(flag('runs', '8'));
const REVALIDATE = flag('revalidate-ms', '2000');
if (!Number.isInteger(RUNS) || RUNS < 1) {
  process.stderr.write('usage: npm run bench -- staleness [--runs N>=1] [--revalidate-ms 0..5000]\n');
  process.exit(64);
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const r0 = (x: number) => Math.round(x);
const log = (s: string) => process.stdout.write(`${s}\n`);

async function measure(backend: 'redis' | 'postgres', mode: 'lost' | 'message', dbUrl: string): Promise<number[]> {
  const env = {
    ROLE: 'all', PORT: '0', LOG_LEVEL: 'silent', DATABASE_URL: dbUrl, REDIS_URL: backend === 'redis' ? TEST_REDIS_URL : undefined,
    ADMIN_JWT_SECRET: 'bench-secret-bench-secret-bench-secret-0', CREDENTIALS_KEY: Buffer.alloc(32, 9).toString('base64'),
    CACHE_REVALIDATE_MS: REVALIDATE,
  };
  const prefix = uniquePrefix();
  const a: Platform = await buildPlatform(loadConfig(env), { logger: silentLogger, statePrefix: prefix });
  const b: Platform = await buildPlatform(loadConfig(env), { logger: silentLogger, statePrefix: mode === 'lost' ? uniquePrefix() : prefix });
  const out: number[] = [];
  try {
    for (let i = 0; i < RUNS; i++) {
      const t = await a.tenants.create({ name: 'Bench Motors', slug: `bench-${uniquePrefix().slice(1, 9)}`, config: demoConfig() });
      const e164 = `+1408556${String(1000 + i).padStart(4, '0')}`;
      await a.tenants.attachNumber(t.id, e164);
      while ((await b.tenants.resolveNumber(e164))?.id !== t.id) await sleep(5);
      // A random phase, so the runs sample the whole revalidation window rather than one point of it.
      await sleep(Math.random() * Number(REVALIDATE));
      await a.tenants.offboard(t.id);
      const t0 = performance.now();
      while ((await b.tenants.resolveNumber(e164)) !== null) await sleep(5);
      out.push(performance.now() - t0);
    }
  } finally { await b.close(); await a.close(); }
  return out;
}

const figures: Record<string, unknown> = { revalidateMs: Number(REVALIDATE), runs: RUNS };
for (const backend of ['redis', 'postgres'] as const) {
  const db = await createTestDatabase('bench');
  try {
    for (const mode of ['lost', 'message'] as const) {
      const xs = (await measure(backend, mode, db.url)).sort((x, y) => x - y);
      const f = { p50: r0(xs[Math.floor(xs.length / 2)]!), max: r0(xs.at(-1)!) };
      figures[`${backend}_${mode}`] = f;
      log(`${backend} ${mode.padEnd(7)} offboard → B stops routing: p50 ${f.p50} ms, max ${f.max} ms over ${RUNS} runs`);
    }
  } finally { await db.drop(); }
}
log(JSON.stringify(figures));
process.exit(0);
