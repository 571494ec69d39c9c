import knexFactory from 'knex';
import pg from 'pg';
// timestamptz → Date is pg's default; bigint (count(*)) as number keeps DTOs simple for our sizes.
pg.types.setTypeParser(20, (v) => Number(v));
/**
 * The one knex instance per process. Idle connections close so a backend that touched many tenant schemas
 * (≈120 KB of catalog cache each) doesn't live forever.
 */
export function createKnex(o) {
    const db = knexFactory({
        client: 'pg',
        connection: { connectionString: o.databaseUrl, application_name: 'servicelane' },
        pool: {
            min: 0,
            max: o.poolMax ?? 10,
            idleTimeoutMillis: 30_000,
            // node-postgres kills the process on an 'error' from an idle client unless someone listens.
            afterCreate: (conn, done) => {
                conn.on('error', (err) => o.logger.warn({ err: err.message }, 'postgres connection error'));
                done(null, conn);
            },
        },
        acquireConnectionTimeout: 10_000,
    });
    return db;
}
//# sourceMappingURL=knex.js.map