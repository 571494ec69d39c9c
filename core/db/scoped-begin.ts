/**
 * A pg client for knex whose transactions can open already scoped to a tenant schema: `BEGIN` and the scope's
 * `set_config` calls travel as one simple-protocol request (one round trip, one statement in the query log) instead
 * of two. A tenant transaction is the unit of almost every request and job (withTenant), and on a busy worker each
 * round trip is a socket write and a wake-up of the Postgres backend, so this is a third fewer round trips for the
 * shortest transactions.
 *
 * knex has no public hook for the BEGIN it sends; this subclasses its pg dialect and pg transaction (knex 3.x,
 * lib/dialects/postgres). The scope comes in the transaction config under its own key (knex copies the config it is
 * given and overwrites `userParams`, so not there). A transaction without it begins exactly as knex's does.
 */
import type { Knex } from 'knex';
// Deep imports: knex publishes no types for its dialect classes (it has no exports map, so they resolve).
// @ts-expect-error -- untyped CommonJS module
import ClientPG from 'knex/lib/dialects/postgres/index.js';
// @ts-expect-error -- untyped CommonJS module
import TransactionPG from 'knex/lib/dialects/postgres/execution/pg-transaction.js';
import { assertSchemaName } from './schema-name.js';

/** What a transaction opened by withTenant sets with `set_config(…, true)`: it ends with the transaction. */
export interface TenantScope { searchPath: string; statementTimeoutMs: number }

const SCOPE_PARAM = 'servicelaneTenantScope';

/** The transaction config that opens a transaction scoped to `scope` (on a client made by createKnex). */
export function scopedTransactionConfig(scope: TenantScope): Knex.TransactionConfig {
  return { [SCOPE_PARAM]: scope } as Knex.TransactionConfig;
}

/** True when `db` opens scoped transactions itself (createKnex's client); others need the separate statement. */
export function beginsScoped(db: Knex): boolean {
  return (db.client as { servicelaneScopedBegin?: boolean }).servicelaneScopedBegin === true;
}

/** The scope's settings, as SQL with the values inlined: the simple protocol takes no parameters. */
export function scopeSql(scope: TenantScope): string {
  // Inlined, so checked here again: a schema name matches SCHEMA_RE (no quote can reach the string), the timeout
  // is a whole number.
  assertSchemaName(scope.searchPath);
  if (!Number.isInteger(scope.statementTimeoutMs) || scope.statementTimeoutMs < 0) throw new Error('statementTimeoutMs must be a whole number of ms');
  return `select set_config('search_path', '${scope.searchPath}', true), set_config('statement_timeout', '${scope.statementTimeoutMs}', true)`;
}

class ScopedTransaction extends (TransactionPG as new (...args: unknown[]) => { query(conn: unknown, sql: string): Promise<unknown> }) {
  private readonly scope: TenantScope | undefined;
  constructor(client: unknown, container: unknown, config: Record<string, unknown> | undefined, outerTx: unknown) {
    super(client, container, config, outerTx);
    this.scope = config?.[SCOPE_PARAM] as TenantScope | undefined;
  }
  begin(conn: unknown): Promise<unknown> {
    // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
    if (!this.scope) return (TransactionPG.prototype.begin as Function).call(this, conn);
    return this.query(conn, `BEGIN; ${scopeSql(this.scope)};`);
  }
}

/** knex's pg client, with scoped BEGINs. Pass as `client` to knex(). */
export class ScopedPgClient extends (ClientPG as new (...args: unknown[]) => object) {
  readonly servicelaneScopedBegin = true;
  transaction(...args: unknown[]): unknown {
    const [container, config, outerTx] = args;
    return new ScopedTransaction(this, container, config as Record<string, unknown> | undefined, outerTx);
  }
}
