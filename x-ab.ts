import { createKnex } from './core/db/knex.js';
import { loadMigrations, migratePlatform, migrateTenant } from './core/db/migrate.js';
import { silentLogger } from './core/observability/logger.js';
import { newTenantId, schemaNameFor } from './core/tenancy/schema-name.js';
import { createTestDatabase } from './test/helpers/db.js';
import type { Knex } from 'knex';
const tdb = await createTestDatabase('ab');
const db = createKnex({ databaseUrl: tdb.url, logger: silentLogger });
await migratePlatform(db);
const migs = loadMigrations('tenant');
const sqlAll = migs.map((m) => m.sql).join('\n;\n');
async function variantB(db: Knex, id: string, schema: string) {
  await db.transaction(async (trx) => {
    await trx.raw('select pg_advisory_xact_lock(hashtextextended(?, 0))', [`migrate:${schema}`]);
    await trx('platform.tenant_migrations').where({ tenant_id: id }).first('version');
    await trx.raw(`set local synchronous_commit = off; set local lock_timeout = '5s'; create schema if not exists "${schema}"; select set_config('search_path', '${schema}', true);\n${sqlAll}`);
    await trx('platform.tenant_migrations').insert({ tenant_id: id, schema_name: schema, version: migs.at(-1)!.name, state: 'current', error: null, updated_at: trx.fn.now() }).onConflict('tenant_id').merge();
  });
}
const res: Record<string, number[]> = { A: [], B: [] };
for (let round = 0; round < 6; round++) {
  for (const v of ['A', 'B'] as const) {
    const ids = Array.from({ length: 15 }, () => newTenantId());
    await db('platform.tenants').insert(ids.map((id) => ({ id, slug: id, name: id, schema_name: schemaNameFor(id), status: 'provisioning', config: '{}', config_hash: 'x' })));
    const t0 = performance.now();
    for (const id of ids) {
      if (v === 'A') { const r = await migrateTenant(db, { id, schema: schemaNameFor(id), version: null }, migs); if (r.error) throw new Error(r.error); }
      else await variantB(db, id, schemaNameFor(id));
    }
    res[v]!.push((performance.now() - t0) / ids.length);
  }
}
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log('A per tenant', res.A!.map((x) => x.toFixed(1)).join(' '), 'median', med(res.A!).toFixed(1));
console.log('B per tenant', res.B!.map((x) => x.toFixed(1)).join(' '), 'median', med(res.B!).toFixed(1));
await db.destroy(); await tdb.drop();
