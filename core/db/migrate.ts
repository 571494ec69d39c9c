import fs from 'node:fs';
import path from 'node:path';
import type { Knex } from 'knex';
import { assertSchemaName } from './schema-name.js';
import { packagePath } from '../paths.js';

const ROOT = packagePath('migrations');

export interface Migration { name: string; sql: string }

/** Migrations are plain SQL files, applied in name order; the same list serves every tenant. */
export function loadMigrations(kind: 'platform' | 'tenant'): Migration[] {
  const dir = path.join(ROOT, kind);
  return fs.readdirSync(dir).filter((f) => f.endsWith('.sql')).sort()
    .map((f) => ({ name: f.replace(/\.sql$/, ''), sql: fs.readFileSync(path.join(dir, f), 'utf8') }));
}

const LOCK_PLATFORM = 'migrate:platform';

/**
 * Brings the platform schema up to date under one advisory lock. Versions live in platform.schema_migrations,
 * which this creates first because the platform migrations themselves create the schema.
 */
export async function migratePlatform(db: Knex): Promise<string[]> {
  const applied: string[] = [];
  await db.transaction(async (trx) => {
    await trx.raw('select pg_advisory_xact_lock(hashtextextended(?, 0))', [LOCK_PLATFORM]);
    await trx.raw('create schema if not exists platform');
    await trx.raw('create table if not exists platform.schema_migrations (name text primary key, applied_at timestamptz not null default now())');
    const done = new Set((await trx('platform.schema_migrations').select('name')).map((r: { name: string }) => r.name));
    for (const m of loadMigrations('platform')) {
      if (done.has(m.name)) continue;
      await trx.raw(m.sql);
      await trx('platform.schema_migrations').insert({ name: m.name });
      applied.push(m.name);
    }
    // The login role searches nothing by default, so a query that escapes withTenant() fails loudly (42P01)
    // instead of finding some schema's table. Scoped to this database so a shared server isn't affected.
    await trx.raw(`do $$ begin execute format('alter role %I in database %I set search_path = %L', current_user, current_database(), ''); end $$`);
  });
  return applied;
}

export interface TenantMigrationResult { tenantId: string; schema: string; applied: number; error?: string }

/**
 * Migrates one tenant schema in one transaction: lock, create schema, scope, apply every pending file in a
 * single round trip, record the version. A failure rolls the tenant back whole and is recorded, not thrown.
 */
export async function migrateTenant(db: Knex, t: { id: string; schema: string; version: string | null }, migrations = loadMigrations('tenant')): Promise<TenantMigrationResult> {
  assertSchemaName(t.schema);
  const pending = migrations.filter((m) => t.version === null || m.name > t.version);
  const last = migrations.at(-1)?.name ?? null;
  if (pending.length === 0) return { tenantId: t.id, schema: t.schema, applied: 0 };
  try {
    await db.transaction(async (trx) => {
      await trx.raw('select pg_advisory_xact_lock(hashtextextended(?, 0))', [`migrate:${t.schema}`]);
      // Re-read under the lock: a concurrent runner may have done the work already.
      const row = await trx('platform.tenant_migrations').where({ tenant_id: t.id }).first('version');
      const todo = migrations.filter((m) => !row?.version || m.name > row.version);
      if (todo.length === 0) return;
      // One round trip for the whole tenant (the schema name passed the generated-name regex above, so it is
      // safe as a literal). synchronous_commit off skips the WAL flush wait at commit (~5 ms of a ~40 ms
      // tenant): the transaction is atomic, so a crash loses the whole tenant, version row included, and the
      // next run redoes it.
      const sql = todo.map((m) => m.sql).join('\n;\n');
      const prelude = `set local synchronous_commit = off; set local lock_timeout = '5s'; create schema if not exists "${t.schema}"; `
        + `select set_config('search_path', '${t.schema}', true);\n`;
      try { await trx.raw(prelude + sql); } catch (e) {
        // knex prefixes the whole SQL batch to the message; keep only Postgres' own words for the status table.
        const msg = (e as Error).message ?? String(e);
        const why = msg.startsWith(prelude + sql) ? msg.slice(prelude.length + sql.length).replace(/^ - /, '') : msg;
        throw new Error(`${todo[0]!.name}..${todo.at(-1)!.name}: ${why}`, { cause: e });
      }
      await trx('platform.tenant_migrations')
        .insert({ tenant_id: t.id, schema_name: t.schema, version: last, state: 'current', error: null, updated_at: trx.fn.now() })
        .onConflict('tenant_id').merge();
    });
    return { tenantId: t.id, schema: t.schema, applied: pending.length };
  } catch (e) {
    const error = e instanceof Error ? e.message : String(e);
    await db('platform.tenant_migrations')
      .insert({ tenant_id: t.id, schema_name: t.schema, version: t.version, state: 'failed', error, updated_at: db.fn.now() })
      .onConflict('tenant_id').merge(['state', 'error', 'updated_at']);
    return { tenantId: t.id, schema: t.schema, applied: 0, error };
  }
}

export interface MigrateAllReport { total: number; current: number; migrated: number; failed: TenantMigrationResult[]; ms: number }

/**
 * Migrates every non-offboarded tenant that is behind, `concurrency` at a time. Tenants already at the latest
 * version are skipped from the platform table alone, so a no-op deploy costs one query, not one per schema.
 */
export async function migrateAllTenants(db: Knex, o: { concurrency?: number; onProgress?: (done: number, total: number, r: TenantMigrationResult) => void; migrations?: Migration[] } = {}): Promise<MigrateAllReport> {
  const t0 = performance.now();
  const migrations = o.migrations ?? loadMigrations('tenant');
  const latest = migrations.at(-1)?.name ?? '';
  // Only the tenants that are behind leave the database; the rest are a count.
  const behind: { id: string; schema_name: string; version: string | null }[] = await db('platform.tenants as t')
    .leftJoin('platform.tenant_migrations as m', 'm.tenant_id', 't.id')
    .whereNot('t.status', 'offboarded')
    .andWhereRaw('m.version is distinct from ?', [latest])
    .select('t.id', 't.schema_name', 'm.version')
    .orderBy([{ column: 't.created_at' }, { column: 't.id' }]);
  const [{ n: total } = { n: 0 }] = await db('platform.tenants').whereNot('status', 'offboarded').count({ n: '*' }) as { n: number }[];
  const failed: TenantMigrationResult[] = [];
  let migrated = 0;
  let done = 0;
  let next = 0;
  const worker = async () => {
    while (next < behind.length) {
      const r = behind[next++]!;
      const res = await migrateTenant(db, { id: r.id, schema: r.schema_name, version: r.version }, migrations);
      if (res.error) failed.push(res); else migrated++;
      o.onProgress?.(++done, behind.length, res);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, o.concurrency ?? 2) }, worker));
  return { total: Number(total), current: Number(total) - behind.length, migrated, failed, ms: performance.now() - t0 };
}

export interface MigrationStatus { platformCurrent: boolean; platformPending: string[]; tenantsBehind: number; tenantsFailed: number; latestTenantVersion: string | null }

let fileNames: { platform: string[]; tenantLatest: string | null } | undefined;

/**
 * What /readyz and the admin API report: the platform schema must be current for a pod to serve; tenants
 * behind or failed are counted (a failed tenant keeps serving on its old schema, it doesn't block others).
 */
export async function migrationStatus(db: Knex): Promise<MigrationStatus> {
  fileNames ??= { platform: loadMigrations('platform').map((m) => m.name), tenantLatest: loadMigrations('tenant').at(-1)?.name ?? null };
  const done = new Set<string>((await db('platform.schema_migrations').select('name')).map((r: { name: string }) => r.name));
  const platformPending = fileNames.platform.filter((n) => !done.has(n));
  const [row] = await db('platform.tenants as t')
    .leftJoin('platform.tenant_migrations as m', 'm.tenant_id', 't.id')
    .whereNot('t.status', 'offboarded')
    .select(
      db.raw('count(*) filter (where m.version is distinct from ?) as behind', [fileNames.tenantLatest]),
      db.raw("count(*) filter (where m.state = 'failed') as failed"),
    ) as { behind: number; failed: number }[];
  return { platformCurrent: platformPending.length === 0, platformPending, tenantsBehind: Number(row?.behind ?? 0), tenantsFailed: Number(row?.failed ?? 0), latestTenantVersion: fileNames.tenantLatest };
}
