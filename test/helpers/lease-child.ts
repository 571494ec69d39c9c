// A second (and third) process for the usage-limits test: opens its own state store (Redis or Postgres, from
// the environment), prints `ready`, waits for a line on stdin (the parent releases both at once), tries to take ATTEMPTS
// concurrent-call leases for one tenant with the given maximum, prints the granted lease ids as one JSON
// line and exits without releasing anything (as a crashed voice process would).
import { createKnex } from '../../core/db/knex.js';
import { silentLogger } from '../../core/observability/logger.js';
import { PostgresStateStore } from '../../core/state/postgres-store.js';
import { RedisStateStore } from '../../core/state/redis-store.js';
import type { StateStore } from '../../core/state/store.js';
import { LeaseStore } from '../../core/usage/leases.js';

const env = process.env;
const attempts = Number(env.ATTEMPTS ?? 10);
const max = Number(env.MAX ?? 3);
const tenantId = env.TENANT ?? 'tenant';
let store: StateStore;
let closeDb: () => Promise<void> = async () => {};
if (env.STATE_KIND === 'redis') {
  const rs = new RedisStateStore({ url: env.REDIS_URL!, prefix: env.PREFIX! });
  await rs.ready();
  store = rs;
} else {
  const db = createKnex({ databaseUrl: env.DATABASE_URL!, logger: silentLogger, poolMax: 10 });
  store = new PostgresStateStore(db, { databaseUrl: env.DATABASE_URL!, prefix: env.PREFIX! });
  closeDb = () => db.destroy();
}
const leases = new LeaseStore({ state: store });
process.stdout.write('ready\n');
await new Promise<void>((r) => process.stdin.once('data', () => r()));
const results = await Promise.all(Array.from({ length: attempts }, (_, i) => {
  const id = `p${process.pid}-${i}`;
  return leases.acquire({ tenantId, id, max, ttlMs: Number(env.TTL_MS ?? 90_000) }).then((r) => (r.granted ? id : null));
}));
process.stdout.write(JSON.stringify({ granted: results.filter((x) => x !== null) }) + '\n');
await store.close();
await closeDb();
