/**
 * `npm run migrate`: brings the platform schema and every tenant schema up to date. Run once per deploy (the
 * Helm pre-upgrade Job); also safe by hand. Failed tenants are reported and don't stop the others; a rerun
 * resumes with whatever is still behind. Exit code 1 if any tenant failed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../core/config.js';
import { createKnex } from '../core/db/knex.js';
import { startEmbeddedPostgres } from '../core/db/embedded.js';
import { migrateAllTenants, migratePlatform } from '../core/db/migrate.js';
import { createLogger } from '../core/observability/logger.js';
function parseArgs(argv) {
    const i = argv.indexOf('--concurrency');
    const concurrency = i >= 0 ? Number(argv[i + 1]) : 2;
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 32) {
        process.stderr.write('usage: npm run migrate [-- --concurrency N]   (N = 1..32, default 2)\n');
        process.exit(64);
    }
    return { concurrency };
}
/** A postmaster on our data dir whose parent is alive belongs to a running `npm start`, which migrates at boot. */
function runningAppCluster(dataDir) {
    try {
        const pid = Number(fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
        const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
        const ppid = Number(/^\d+ \(.*\) \S (\d+)/.exec(stat)?.[1]);
        return ppid > 1 ? pid : null;
    }
    catch {
        return null;
    }
}
async function main() {
    const { concurrency } = parseArgs(process.argv.slice(2));
    const cfg = loadConfig();
    const logger = createLogger({ level: cfg.logLevel === 'info' ? 'warn' : cfg.logLevel, production: cfg.production });
    let embedded;
    let url = cfg.databaseUrl;
    if (!url) {
        const dataDir = path.join(cfg.dataDir, 'pg');
        const pid = runningAppCluster(dataDir);
        if (pid) {
            process.stderr.write(`embedded Postgres in ${dataDir} is in use by a running server (postmaster ${pid}); it migrated at start. Stop it first, or set DATABASE_URL.\n`);
            return 1;
        }
        embedded = await startEmbeddedPostgres({ dataDir, port: cfg.embeddedPgPort, log: (m) => logger.debug({ pg: m }, 'embedded postgres') });
        url = embedded.url;
    }
    const where = cfg.databaseUrl ? new URL(cfg.databaseUrl).host + new URL(cfg.databaseUrl).pathname : `embedded Postgres on port ${cfg.embeddedPgPort}`;
    const db = createKnex({ databaseUrl: url, logger, poolMax: concurrency + 1 });
    try {
        const applied = await migratePlatform(db);
        process.stdout.write(`platform schema (${where}): ${applied.length ? `applied ${applied.join(', ')}` : 'up to date'}\n`);
        let lastPrinted = 0;
        const report = await migrateAllTenants(db, {
            concurrency,
            onProgress: (done, total, r) => {
                if (r.error)
                    process.stdout.write(`  [${done}/${total}] tenant ${r.tenantId} (${r.schema}) FAILED: ${r.error}\n`);
                // One line per ~5% keeps a 1,000-tenant run readable; small runs print every tenant.
                else if (total <= 20 || done === total || done - lastPrinted >= Math.ceil(total / 20)) {
                    process.stdout.write(`  [${done}/${total}] migrated\n`);
                    lastPrinted = done;
                }
            },
        });
        process.stdout.write(`tenants: ${report.total} total, ${report.current} already current, ${report.migrated} migrated, ${report.failed.length} failed (${Math.round(report.ms)} ms)\n`);
        if (report.failed.length) {
            process.stdout.write('failed tenants (they keep running on their previous schema; fix and rerun `npm run migrate`):\n');
            for (const f of report.failed)
                process.stdout.write(`  ${f.tenantId} ${f.schema}: ${f.error}\n`);
            return 1;
        }
        return 0;
    }
    finally {
        await db.destroy();
        await embedded?.stop();
    }
}
main().then((code) => process.exit(code), (e) => {
    process.stderr.write(`migrate failed: ${e.stack ?? String(e)}\n`);
    process.exit(1);
});
//# sourceMappingURL=migrate.js.map