import { assertSchemaName } from './schema-name.js';
/**
 * The only door to tenant data. The search_path is set with set_config(…, true), so it ends with the
 * transaction (commit or rollback) and can never leak to the next borrower of the pooled connection.
 * Code inside `fn` must use `trx`, never the global knex: that one searches nothing and fails loudly.
 */
export async function withTenant(db, schema, fn) {
    assertSchemaName(schema);
    return db.transaction(async (trx) => {
        await trx.raw("select set_config('search_path', ?, true), set_config('statement_timeout', '5000', true)", [schema]);
        return fn(trx);
    });
}
//# sourceMappingURL=with-tenant.js.map