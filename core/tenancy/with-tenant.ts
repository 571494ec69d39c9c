import type { Knex } from 'knex';
import { assertSchemaName } from '../db/schema-name.js';

/** Tenant-scoped DB access by tenant id (TenantService.withTenant): what components receive instead of the service. */
export type WithTenant = <T>(tenantId: string, fn: (trx: Knex.Transaction) => Promise<T>) => Promise<T>;

/**
 * The only door to tenant data. The search_path is set with set_config(…, true), so it ends with the
 * transaction (commit or rollback) and can never leak to the next borrower of the pooled connection.
 * Code inside `fn` must use `trx`, never the global knex: that one searches nothing and fails loudly.
 */
export async function withTenant<T>(db: Knex, schema: string, fn: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
  assertSchemaName(schema);
  return db.transaction(async (trx) => {
    await trx.raw("select set_config('search_path', ?, true), set_config('statement_timeout', '5000', true)", [schema]);
    return fn(trx);
  });
}
