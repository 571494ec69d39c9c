import http from 'node:http';
import express from 'express';
import { createKnex } from './db/knex.js';
import { startEmbeddedPostgres } from './db/embedded.js';
import { migratePlatform, migrateAllTenants, migrationStatus } from './db/migrate.js';
import { ADMIN_BASE_PATH, createAdminRouter } from './admin-api/router.js';
import { createLogger } from './observability/logger.js';
import { registry as metricsRegistry } from './observability/metrics.js';
import { RedisStateStore } from './state/redis-store.js';
import { PostgresStateStore } from './state/postgres-store.js';
import { TenantService } from './tenancy/tenants.js';
import { isServiceLaneError, ServiceLaneError } from './errors.js';
import { PluginRegistry } from './registry/registry.js';
import { pluginEnv } from './registry/env.js';
import { Jobs } from './jobs/jobs.js';
import { registerCalendarSync } from './jobs/calendar-sync.js';
import { Scheduler } from './scheduling/scheduler.js';
import { Toolbox } from './tools/toolbox.js';
import { Telephony } from './telephony/telephony.js';
import { VoiceService } from './voice/voice-service.js';
export async function buildPlatform(cfg, opts = {}) {
    const logger = opts.logger ?? createLogger({ level: cfg.logLevel, production: cfg.production });
    const closers = [];
    let embedded;
    let databaseUrl = cfg.databaseUrl;
    if (!databaseUrl) {
        embedded = await startEmbeddedPostgres({ dataDir: `${cfg.dataDir}/pg`, port: cfg.embeddedPgPort, log: (m) => logger.debug({ pg: m }, 'embedded postgres') });
        databaseUrl = embedded.url;
        closers.push(() => embedded.stop());
    }
    const db = createKnex({ databaseUrl, logger, poolMax: 10 });
    closers.push(() => db.destroy());
    await migratePlatform(db);
    if (opts.migrateTenants ?? true) {
        const r = await migrateAllTenants(db, { concurrency: 2 });
        for (const f of r.failed)
            logger.error({ tenantId: f.tenantId, err: f.error }, 'tenant migration failed; tenant keeps running on its old schema');
    }
    let state;
    if (cfg.redisUrl) {
        const rs = new RedisStateStore({ url: cfg.redisUrl, prefix: `sl:${opts.statePrefix ?? ''}` });
        await rs.ready();
        state = rs;
    }
    else {
        state = new PostgresStateStore(db, { databaseUrl, prefix: opts.statePrefix });
    }
    closers.push(() => state.close());
    const tenants = new TenantService({ db, state, credentialsKey: cfg.credentialsKey, logger });
    await tenants.start();
    closers.push(() => tenants.stop());
    // Components are assigned below in dependency order; the cast covers the moment between.
    const p = {
        cfg, logger, db, databaseUrl, state, tenants, draining: false, ready: false,
        onClose: (fn) => { closers.push(fn); },
        close: async () => {
            for (const fn of closers.splice(0).reverse()) {
                try {
                    await fn();
                }
                catch (e) {
                    logger.warn({ err: e.message }, 'shutdown step failed');
                }
            }
        },
    };
    // COMPONENT WIRING (each owner adds its construction here, in dependency order)
    p.registry = new PluginRegistry({ tenants, state, logger, env: pluginEnv(cfg) });
    await p.registry.loadPackages(cfg.pluginPackages);
    p.onClose(() => p.registry.close());
    // Same prefix as the state store, so parallel runs on one Redis never share queues.
    p.jobs = new Jobs({ cfg, databaseUrl, logger, prefix: opts.statePrefix });
    p.onClose(() => p.jobs.close());
    await p.jobs.start();
    p.scheduler = new Scheduler({ tenants, registry: p.registry, jobs: p.jobs, logger });
    registerCalendarSync({ jobs: p.jobs, tenants, registry: p.registry, logger });
    p.toolbox = new Toolbox({ tenants, registry: p.registry, scheduler: p.scheduler, logger, state });
    p.telephony = new Telephony({
        cfg, tenants, registry: p.registry, state, logger,
        startCall: (start, link) => p.voice.startCall(start, link),
        isDraining: () => p.draining,
    });
    p.onClose(() => p.telephony.close());
    p.voice = new VoiceService({ cfg, tenants, registry: p.registry, toolbox: p.toolbox, state, jobs: p.jobs, logger, telephony: p.telephony });
    p.jobs.register('crm-log', p.voice.crmLogHandler());
    // Registered after telephony's close, so it runs before it: live calls end cleanly while the DB is still up.
    p.onClose(() => p.voice.close());
    p.ready = true;
    return p;
}
/** JSON error body for anything thrown in a route: coded errors as-is, the rest as ADM_ERR_INTERNAL. */
export function errorHandler(logger) {
    return (err, req, res, _next) => {
        let e;
        if (isServiceLaneError(err))
            e = err;
        else if (err.type === 'entity.too.large')
            e = new ServiceLaneError('ADM_ERR_PAYLOAD_TOO_LARGE', 'request body too large');
        else if (err.type === 'entity.parse.failed')
            e = new ServiceLaneError('ADM_ERR_VALIDATION', 'request body is not valid JSON');
        else {
            logger.error({ err: err?.message, stack: err?.stack, path: req.path }, 'unhandled route error');
            e = new ServiceLaneError('ADM_ERR_INTERNAL', 'internal error');
        }
        res.status(e.status).json(e.toJSON());
    };
}
/** The HTTP app for the api/voice roles: health, metrics, then each role's routers. */
export function createHttpApp(p) {
    const app = express();
    app.disable('x-powered-by');
    // A hop count, never `true`: with `true` any client could pick its rate-limit key via X-Forwarded-For.
    app.set('trust proxy', p.cfg.trustProxyHops ?? false);
    app.get('/healthz', (_req, res) => { res.json({ ok: true }); });
    app.get('/readyz', async (_req, res) => {
        const dbOk = await p.db.raw('select 1').then(() => true, () => false);
        const mig = dbOk ? await migrationStatus(p.db).catch(() => null) : null;
        const migrationsDone = mig?.platformCurrent ?? false;
        const ok = p.ready && !p.draining && dbOk && migrationsDone;
        res.status(ok ? 200 : 503).json({
            ok, db: dbOk, migrations: mig ? { done: migrationsDone, tenantsBehind: mig.tenantsBehind, tenantsFailed: mig.tenantsFailed } : { done: false },
            state: p.state.kind, draining: p.draining,
        });
    });
    app.get('/metrics', async (_req, res) => {
        res.type(metricsRegistry.contentType).send(await metricsRegistry.metrics());
    });
    // ROUTES (each owner mounts its router here)
    if (p.cfg.role === 'all' || p.cfg.role === 'api')
        app.use(ADMIN_BASE_PATH, createAdminRouter(p));
    if (p.cfg.role !== 'worker')
        app.use('/twilio', p.telephony.router());
    app.use((_req, _res, next) => next(new ServiceLaneError('ADM_ERR_NOT_FOUND', 'no such route')));
    app.use(errorHandler(p.logger));
    return app;
}
/** Starts the HTTP (and WebSocket) server for the chosen role. */
export async function listen(p, app) {
    const server = http.createServer(app);
    // MEDIA SERVER (voice owner attaches the WebSocket upgrade handler here)
    if (p.cfg.role === 'all' || p.cfg.role === 'voice')
        p.telephony.attach(server);
    await new Promise((resolve) => server.listen(p.cfg.port, '0.0.0.0', resolve));
    p.onClose(() => new Promise((resolve) => { server.close(() => resolve()); server.closeAllConnections(); }));
    return server;
}
//# sourceMappingURL=app.js.map