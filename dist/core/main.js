import { loadConfig, missingProviderKeys } from './config.js';
import { buildPlatform, createHttpApp, listen } from './app.js';
import { createLogger } from './observability/logger.js';
import { devStartBanner } from './admin-api/dev-banner.js';
/**
 * Entrypoint: parse the role, build the platform, start, and drain on SIGTERM/SIGINT. Dev conveniences
 * (embedded Postgres, seeded demo, printed token) happen only in the `all` role outside production.
 */
async function main() {
    let cfg;
    try {
        cfg = loadConfig();
    }
    catch (e) {
        process.stderr.write(`servicelane: ${e.message}\n`);
        process.exit(78);
    }
    const logger = createLogger({ level: cfg.logLevel, production: cfg.production });
    const p = await buildPlatform(cfg, { logger });
    // Every role listens: workers serve only /healthz, /readyz and /metrics (the Helm probes and Prometheus need them).
    const server = await listen(p, createHttpApp(p));
    const port = server.address().port;
    // BANNER (seed + banner owner prints here)
    if (cfg.role === 'all' && !cfg.production)
        process.stdout.write(`${await devStartBanner(p, { port })}\n`);
    logger.info({ role: cfg.role, port, missingKeys: missingProviderKeys(cfg) }, 'servicelane started');
    let stopping = false;
    const stop = async (signal) => {
        if (stopping)
            return;
        stopping = true;
        logger.info({ signal }, 'draining');
        p.draining = true;
        // Live calls finish before the HTTP server (and with it every media socket) closes. Voice pods get a long
        // Kubernetes grace period (helm), so they wait for calls; elsewhere a short wait covers a call in flight.
        await p.voice.drain({ timeoutMs: cfg.role === 'voice' ? 15 * 60_000 : 10_000 }).catch((e) => logger.warn({ err: e.message }, 'drain incomplete'));
        await p.close();
        process.exit(0);
    };
    process.on('SIGTERM', () => void stop('SIGTERM'));
    process.on('SIGINT', () => void stop('SIGINT'));
}
main().catch((e) => {
    process.stderr.write(`servicelane failed to start: ${e.stack ?? String(e)}\n`);
    process.exit(1);
});
//# sourceMappingURL=main.js.map