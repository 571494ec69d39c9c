import type { Knex } from 'knex';
import { assertSchemaName } from '../db/schema-name.js';
import { beginsScoped, scopedTransactionConfig, scopeSql } from '../db/scoped-begin.js';

/** Tenant-scoped DB access by tenant id (TenantService.withTenant): what components receive instead of the service. */
export type WithTenant = <T>(tenantId: string, fn: (trx: Knex.Transaction) => Promise<T>) => Promise<T>;

/**
 * The only door to tenant data. The search_path is set with set_config(…, true), so it ends with the
 * transaction (commit or rollback) and can never leak to the next borrower of the pooled connection.
 * Code inside `fn` must use `trx`, never the global knex: that one searches nothing and fails loudly.
 */
export async function withTenant<T>(db: Knex, schema: string, fn: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
  assertSchemaName(schema);
  const scope = { searchPath: schema, statementTimeoutMs: 5000 };
  // The platform's knex (createKnex) sends the scope with its BEGIN (one round trip); any other knex gets it as the
  // transaction's first statement. Either way nothing runs in the transaction before the scope is set.
  if (beginsScoped(db)) return db.transaction(fn, scopedTransactionConfig(scope));
  return db.transaction(async (trx) => {
    await trx.raw(scopeSql(scope));
    return fn(trx);
  });
}
