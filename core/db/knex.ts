import knexFactory, { type Knex } from 'knex';
import pg from 'pg';
import type { Logger } from '../observability/logger.js';

export type { Knex };

// timestamptz → Date is pg's default; bigint (count(*)) as number keeps DTOs simple for our sizes.
pg.types.setTypeParser(20, (v) => Number(v));

/**
 * The one knex instance per process. Idle connections close so a backend that touched many tenant schemas
 * (≈120 KB of catalog cache each) doesn't live forever.
 */
export function createKnex(o: { databaseUrl: string; poolMax?: number; logger: Logger }): Knex {
  const db = knexFactory({
    client: 'pg',
    connection: { connectionString: o.databaseUrl, application_name: 'servicelane' },
    pool: {
      min: 0,
      max: o.poolMax ?? 10,
      idleTimeoutMillis: 30_000,
      // node-postgres kills the process on an 'error' from an idle client unless someone listens.
      afterCreate: (conn: pg.Client, done: (err: Error | null, conn: pg.Client) => void) => {
        conn.on('error', (err) => o.logger.warn({ err: err.message }, 'postgres connection error'));
        done(null, conn);
      },
    },
    acquireConnectionTimeout: 10_000,
  });
  return db;
}
