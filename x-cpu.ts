import fs from 'node:fs';
import { createKnex } from './core/db/knex.js';
import { loadMigrations, migratePlatform, migrateTenant } from './core/db/migrate.js';
import { silentLogger } from './core/observability/logger.js';
import { newTenantId, schemaNameFor } from './core/tenancy/schema-name.js';
import { createTestDatabase } from './test/helpers/db.js';
const tdb = await createTestDatabase('cpu');
const db = createKnex({ databaseUrl: tdb.url, logger: silentLogger, poolMax: 1 });
await migratePlatform(db);
const migs = loadMigrations('tenant');
const pid = (await db.raw('select pg_backend_pid() as p')).rows[0].p;
const tick = 100; // USER_HZ
const cpu = () => { const f = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" "); return (Number(f[11]) + Number(f[12])) * 1000 / tick; };
const sys = () => { const f = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" "); return Number(f[12]) * 1000 / tick; };
const ids = Array.from({ length: 100 }, () => newTenantId());
await db('platform.tenants').insert(ids.map((id) => ({ id, slug: id, name: id, schema_name: schemaNameFor(id), status: 'provisioning', config: '{}', config_hash: 'x' })));
const s0 = sys(); const c0 = cpu(); const t0 = performance.now(); const nodeCpu0 = process.cpuUsage();
for (const id of ids) { const r = await migrateTenant(db, { id, schema: schemaNameFor(id), version: null }, migs); if (r.error) throw new Error(r.error); }
const wall = (performance.now() - t0) / ids.length; const pgc = (cpu() - c0) / ids.length; const nc = process.cpuUsage(nodeCpu0);
console.log(`wall ${wall.toFixed(1)} ms/tenant, postgres backend cpu ${pgc.toFixed(1)} ms/tenant, of which system ${((sys() - s0) / ids.length).toFixed(1)}, node cpu ${((nc.user + nc.system) / 1000 / ids.length).toFixed(1)} ms/tenant`);
await db.destroy(); await tdb.drop();
