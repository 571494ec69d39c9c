import http from 'node:http';
import express from 'express';
import type { Knex } from 'knex';
import { type AppConfig } from './config.js';
import { createKnex } from './db/knex.js';
import { openEmbeddedPostgres, type EmbeddedHandle } from './db/embedded.js';
import { migratePlatform, migrateAllTenants, migrationStatus } from './db/migrate.js';
import { ADMIN_BASE_PATH, createAdminRouter } from './admin-api/router.js';
import { createLogger, type Logger } from './observability/logger.js';
import { registry as metricsRegistry } from './observability/metrics.js';
import { requestId, requestIdOf } from './observability/request-id.js';
import { RedisStateStore } from './state/redis-store.js';
import { PostgresStateStore } from './state/postgres-store.js';
import type { ReconnectBackoff, StateStore } from './state/store.js';
import { TenantService } from './tenancy/tenants.js';
import { isServiceLaneError, ServiceLaneError } from './errors.js';
import { PluginRegistry } from './registry/registry.js';
import { platformDefaults } from './registry/platform-defaults.js';
import { createTenantData } from './repos/index.js';
import { firstPartyPlugins } from '../plugins/index.js';
import { parseEgressAllow } from './sdk/egress.js';
import { Jobs } from './jobs/jobs.js';
import { enqueueCalendarSync, registerCalendarSync } from './scheduling/calendar-sync.js';
import { SyncOutbox, type SyncOutboxTimings } from './scheduling/sync-outbox.js';
import { EmailOutbox, type EmailOutboxTimings } from './jobs/email-outbox.js';
import { enqueueEmail, registerEmailJobs } from './jobs/email-job.js';
import { Scheduler } from './scheduling/scheduler.js';
import { ReminderDrain, type ReminderDrainTimings } from './outbound/reminder-drain.js';
import { enqueueReminder, ReminderRunner } from './outbound/reminder-job.js';
import { AnsweredReminders } from './outbound/answered-reminder.js';
import { OutboundLimits } from './outbound/call-limits.js';
import { OutboundCalls, type OutboundCallsOptions } from './outbound/outbound-calls.js';
import { Toolbox } from './tools/toolbox.js';
import { Telephony } from './telephony/telephony.js';
import { VoiceService } from './voice/voice-service.js';
import { UsageRollup, UsageService } from './usage/index.js';
import { AccountService } from './accounts/accounts.js';
import { LiveFeed } from './voice/live-feed.js';
import { CONSOLE_PATH, createConsoleRouter } from './console/router.js';
import { buildConsole, readBuiltConsole, type ConsoleBundle } from './console/assets.js';
import { cookieValue, SESSION_COOKIE } from './admin-api/guard.js';
import { GoogleConnect } from './integrations/google/connect.js';
import { googleEndpoints } from './integrations/google/google-api.js';
import { OAuthStates } from './integrations/google/oauth-state.js';
import { googlePublicRouter } from './integrations/google/routes.js';
import { GoogleSync } from './integrations/google/sync.js';

/**
 * Everything a role needs, built once per process. Components are plain objects wired here and nowhere else,
 * so a test builds the same graph as `npm start` with only the environment changed.
 */
export interface Platform {
  cfg: AppConfig;
  logger: Logger;
  db: Knex;
  databaseUrl: string;
  state: StateStore;
  tenants: TenantService;
  /** Flipped by drain: readiness fails, new streams are refused, live calls finish. */
  draining: boolean;
  ready: boolean;
  /** Shutdown steps, run last-registered first. */
  onClose: (fn: () => Promise<void>) => void;
  close: () => Promise<void>;
  // Components, built in buildPlatform in dependency order (registry → jobs → scheduler → toolbox → telephony → voice).
  registry: PluginRegistry;
  jobs: Jobs;
  scheduler: Scheduler;
  toolbox: Toolbox;
  telephony: Telephony;
  voice: VoiceService;
  /** Drains the calendar-sync outbox and runs the periodic resync (worker and all roles). */
  syncOutbox: SyncOutbox;
  /** Reminder runs (the `reminders` queue's handler) and the loop that queues due reminder rows (worker and all roles). */
  reminders: { runner: ReminderRunner; drain: ReminderDrain };
  /** Per-call metering and per-tenant limits (`usage.allowOutbound` is the dialer's gate); the daily rollup loop (worker and all roles). */
  usage: UsageService;
  usageRollup: UsageRollup;
  /** Drains the confirmation-email outbox into the `email` queue (worker and all roles). */
  emailOutbox: EmailOutbox;
  /** Console users, invitations and sessions (core/accounts). */
  accounts: AccountService;
  /** Live call events per tenant over the state store's pub/sub (the console's live view). */
  live: LiveFeed;
  /** Google Calendar: the connect flow (OAuth) and the push-driven mirror of staff events (docs/google.md). */
  google: { connect: GoogleConnect; sync: GoogleSync };
  /** Places reminder calls (the `outbound-calls` queue) and turns their Twilio callbacks into outcomes. */
  outbound: OutboundCalls;
}

export interface BuildOptions {
  logger?: Logger;
  /** Extra key prefix for soft state, so parallel test runs on one Redis don't meet. */
  statePrefix?: string;
  /** Skip tenant migrations at boot (the migrate Job does them in production). */
  migrateTenants?: boolean;
  /** Tests: override CACHE_REVALIDATE_MS (also beyond its 5 s cap, to isolate the pub/sub path). */
  cacheRevalidateMs?: number;
  /**
   * When DATABASE_URL is unset and another process already owns the embedded cluster in DATA_DIR: `refuse`
   * (a server must not depend on a database another process will stop) or `reuse` (the console, run next to
   * `npm start`). `command` names this process in the lock file and in the other side's message.
   */
  embedded?: { ifOwned: 'reuse' | 'refuse'; command: string };
  /** Tests: reconnect backoff of the state store's subscriber connection. */
  subscriberReconnect?: ReconnectBackoff;
  /** Timings of the calendar-sync outbox loop (tests shorten the lease). */
  syncOutbox?: SyncOutboxTimings;
  /** Tests: the reminder worker's clock and drain timings. */
  reminders?: { clock?: () => Date; timings?: ReminderDrainTimings };
  /** Tests: the usage rollup loop's interval (default 10 minutes). */
  usageRollup?: { intervalMs?: number };
  /** Timings of the confirmation-email outbox loop, and the email jobs' retry policy (tests shorten both). */
  emailOutbox?: EmailOutboxTimings & { retry?: { attempts?: number; backoffMs?: number } };
  /** Tests: Google channel renewal (how early, and the loop period; 0 = no loop). */
  google?: { renewBeforeMs?: number; renewIntervalMs?: number };
  /** Tests: the outbound dialer's reconciliation grace and concurrency re-queue delay. */
  outbound?: Pick<OutboundCallsOptions, 'reconcileGraceMs' | 'capRetryMs'>;
}

export async function buildPlatform(cfg: AppConfig, opts: BuildOptions = {}): Promise<Platform> {
  const logger = opts.logger ?? createLogger({ level: cfg.logLevel, production: cfg.production });
  const closers: (() => Promise<void>)[] = [];
  let embedded: EmbeddedHandle | undefined;
  let databaseUrl = cfg.databaseUrl;
  if (!databaseUrl) {
    embedded = await openEmbeddedPostgres({
      dataDir: `${cfg.dataDir}/pg`, port: cfg.embeddedPgPort, log: (m) => logger.debug({ pg: m }, 'embedded postgres'),
      ...(opts.embedded ?? { ifOwned: 'refuse', command: 'npm start' }),
    });
    databaseUrl = embedded.url;
    closers.push(() => embedded!.stop());
  }
  const db = createKnex({ databaseUrl, logger, poolMax: 10 });
  closers.push(() => db.destroy());

  await migratePlatform(db);
  if (opts.migrateTenants ?? true) {
    const r = await migrateAllTenants(db, { concurrency: 2 });
    for (const f of r.failed) logger.error({ tenantId: f.tenantId, err: f.error }, 'tenant migration failed; tenant keeps running on its old schema');
  }

  let state: StateStore;
  if (cfg.redisUrl) {
    const rs = new RedisStateStore({ url: cfg.redisUrl, prefix: `sl:${opts.statePrefix ?? ''}`, logger, reconnect: opts.subscriberReconnect });
    await rs.ready();
    state = rs;
  } else {
    state = new PostgresStateStore(db, { databaseUrl, prefix: opts.statePrefix, logger, reconnect: opts.subscriberReconnect });
  }
  closers.push(() => state.close());

  const tenants = new TenantService({ db, state, credentialsKey: cfg.credentialsKey, logger, revalidateMs: opts.cacheRevalidateMs ?? cfg.cacheRevalidateMs });
  await tenants.start();
  closers.push(() => tenants.stop());

  const onClose = (fn: () => Promise<void>): void => { closers.push(fn); };
  // Components are built in dependency order; the one cycle (telephony starts calls on voice, voice controls
  // calls through telephony) is closed by a callback that only runs once a call arrives, after `platform` exists.

  const registry = new PluginRegistry({
    tenants, state, logger,
    // The composition root is the one module that knows every first-party plugin; the registry only gets the list.
    manifests: firstPartyPlugins,
    // Each plugin gets only its own platform keys and endpoints; no plugin sees the JWT secret or CREDENTIALS_KEY.
    platformDefaults: platformDefaults(cfg),
    egress: { httpsOnly: cfg.production, allow: parseEgressAllow(cfg.pluginEgressAllow).allow },
    // Core's repositories, for the two first-party plugins whose data is the tenant's own tables.
    tenantData: { pluginIds: ['crm-builtin', 'calendar-builtin'], forTenant: (tenantId) => createTenantData((fn) => tenants.withTenant(tenantId, fn)) },
  });
  await registry.loadPackages(cfg.pluginPackages);
  onClose(() => registry.close());

  // Same prefix as the state store, so parallel runs on one Redis never share queues.
  const jobs = new Jobs({ cfg, databaseUrl, logger, prefix: opts.statePrefix });
  onClose(() => jobs.close());
  await jobs.start();
  const googleApi = googleEndpoints(cfg);
  const googleSync = new GoogleSync({ db, tenants, jobs, logger, endpoints: googleApi, renewBeforeMs: opts.google?.renewBeforeMs });
  googleSync.register();
  const google = {
    sync: googleSync,
    connect: new GoogleConnect({ tenants, registry, sync: googleSync, states: new OAuthStates({ db, credentialsKey: cfg.credentialsKey }), endpoints: googleApi, logger }),
  };
  if (jobs.runsWorkers && opts.google?.renewIntervalMs !== 0) googleSync.start(opts.google?.renewIntervalMs);
  onClose(() => googleSync.close());
  const outboxLeaseMs = opts.syncOutbox?.leaseMs;
  const scheduler = new Scheduler({
    tenants, registry, jobs, logger, ...(outboxLeaseMs ? { outboxLeaseMs } : {}),
    ...(opts.emailOutbox?.retry ? { emailRetry: opts.emailOutbox.retry } : {}),
    // Staff events mirrored from Google (push + incremental sync) instead of a live freeBusy per request.
    mirroredBusy: (q) => googleSync.mirroredBusy(q),
  });
  registerCalendarSync({ jobs, tenants, registry, logger });
  const syncOutbox = new SyncOutbox({
    db, logger, timings: opts.syncOutbox,
    enqueue: (data) => enqueueCalendarSync(jobs, data),
    resync: (o) => scheduler.resyncAll(o),
  });
  // Only processes that run workers drain; registered after jobs' close, so the loop stops first.
  if (jobs.runsWorkers) syncOutbox.start();
  onClose(() => syncOutbox.close());
  const usage = new UsageService({ state, tenants, logger });
  // Registered before voice's close, so it runs after it: the rows of calls ended by the drain get written.
  onClose(() => usage.flush());
  const reminderClock = opts.reminders?.clock ?? (() => new Date());
  const outbound = new OutboundCalls({
    tenants, registry, jobs, logger, limits: new OutboundLimits({ state }), clock: reminderClock,
    publicBaseUrl: cfg.publicBaseUrl, cps: cfg.twilio.cps, platformAccount: cfg.twilio.accountSid ?? 'platform', ...opts.outbound,
    usage,
  });
  outbound.register(jobs);
  const runner = new ReminderRunner({ tenants, logger, dialer: outbound, clock: reminderClock });
  runner.register(jobs);
  const drain = new ReminderDrain({
    tenants, logger, clock: reminderClock, timings: opts.reminders?.timings,
    enqueue: (data) => enqueueReminder(jobs, { data, now: reminderClock() }),
    redial: (o) => outbound.redial(o),
  });
  const reminders = { runner, drain };
  if (jobs.runsWorkers) drain.start();
  onClose(() => drain.close());
  registerEmailJobs({ jobs, tenants, registry, logger });
  const emailOutbox = new EmailOutbox({ db, logger, timings: opts.emailOutbox, enqueue: (data) => enqueueEmail(jobs, data, opts.emailOutbox?.retry) });
  if (jobs.runsWorkers) emailOutbox.start();
  onClose(() => emailOutbox.close());
  // Reminder calls a person answered run on this same voice pipeline (docs/reminders.md, "When a person answers").
  const reminderCalls = new AnsweredReminders({ withTenant: (id, fn) => tenants.withTenant(id, fn), crm: (id) => registry.get(id, 'crm'), logger });
  const toolbox = new Toolbox({ tenants, registry, scheduler, logger, state, reminderCalls });

  const usageRollup = new UsageRollup({ tenants, logger, intervalMs: opts.usageRollup?.intervalMs });
  if (jobs.runsWorkers) usageRollup.start();
  onClose(() => usageRollup.close());

  const telephony: Telephony = new Telephony({
    cfg, tenants, registry, state, logger,
    // Through the platform object, not the local: a test harness may swap `p.voice` for an instrumented one.
    startCall: (start, link) => platform.voice.startCall(start, link),
    isDraining: () => platform.draining,
    admission: usage,
    outboundHooks: outbound,
  });
  onClose(() => telephony.close());

  const voice: VoiceService = new VoiceService({ cfg, tenants, registry, toolbox, state, jobs, logger, telephony, reminderCalls, meter: usage });
  jobs.register('crm-log', voice.crmLogHandler());
  const accounts = new AccountService({ db, state, logger, tenantActive: async (id) => (await tenants.find(id))?.status === 'active' });
  const live = new LiveFeed({ state, logger });
  voice.on('call', (session) => live.follow(session));
  // Registered after telephony's close, so it runs before it: live calls end cleanly while the DB is still up.
  onClose(() => voice.close());

  const platform: Platform = {
    cfg, logger, db, databaseUrl, state, tenants, draining: false, ready: false, onClose,
    close: async () => {
      for (const fn of closers.splice(0).reverse()) {
        try { await fn(); } catch (e) { logger.warn({ err: (e as Error).message }, 'shutdown step failed'); }
      }
    },
    registry, jobs, scheduler, toolbox, telephony, voice, syncOutbox, reminders, usage, usageRollup, emailOutbox, accounts, live, google, outbound,
  };
  platform.ready = true;
  return platform;
}

/**
 * JSON error body for anything thrown in a route: coded errors as-is, the rest as ADM_ERR_INTERNAL. The body
 * and the log line carry the same `requestId` (also in the X-Request-Id header), so a reported error is one
 * log search away. Server-side failures (5xx) are logged; a 4xx is the client's answer, not an incident.
 */
export function errorHandler(logger: Logger): express.ErrorRequestHandler {
  return (err, req, res, _next) => {
    const rid = requestIdOf(res);
    let e: ServiceLaneError;
    if (isServiceLaneError(err)) e = err;
    else if ((err as { type?: string }).type === 'entity.too.large') e = new ServiceLaneError('ADM_ERR_PAYLOAD_TOO_LARGE', 'request body too large');
    else if ((err as { type?: string }).type === 'entity.parse.failed') e = new ServiceLaneError('ADM_ERR_VALIDATION', 'request body is not valid JSON');
    else {
      logger.error({ requestId: rid, method: req.method, path: req.path, err: (err as Error)?.message, stack: (err as Error)?.stack }, 'unhandled route error');
      e = new ServiceLaneError('ADM_ERR_INTERNAL', 'internal error');
    }
    if (e.status >= 500 && e.code !== 'ADM_ERR_INTERNAL') {
      logger.error({ requestId: rid, method: req.method, path: req.path, code: e.code, err: e.message }, 'route failed');
    }
    const body = e.toJSON();
    res.status(e.status).json({ error: { ...body.error, requestId: rid } });
  };
}

/** What `GET /` answers: the URLs this role serves (paths are relative; Twilio URLs are absolute, from PUBLIC_BASE_URL). */
export function serviceIndex(cfg: AppConfig): Record<string, unknown> {
  const base = cfg.publicBaseUrl.replace(/\/$/, '');
  const links: Record<string, string> = { health: '/healthz', ready: '/readyz', metrics: '/metrics' };
  if (cfg.role === 'all' || cfg.role === 'api') {
    Object.assign(links, { adminApi: ADMIN_BASE_PATH, openapi: `${ADMIN_BASE_PATH}/openapi.json`, twilioVoiceWebhook: `${base}/twilio/voice`, twilioStatusWebhook: `${base}/twilio/status` });
  }
  if (cfg.role === 'all' || cfg.role === 'voice') links.twilioMediaStream = `${base.replace(/^http/, 'ws')}/twilio/media`;
  return { service: 'servicelane', role: cfg.role, links };
}

/** The HTTP app for the api/voice roles: health, metrics, then each role's routers. */
export function createHttpApp(p: Platform): express.Express {
  const app = express();
  app.disable('x-powered-by');
  // A hop count, never `true`: with `true` any client could pick its rate-limit key via X-Forwarded-For.
  app.set('trust proxy', p.cfg.trustProxyHops ?? false);
  app.use(requestId());
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
  // The start banner's `app:` URL: a landing document listing what this process serves, so it answers 200.
  app.get('/', (_req, res) => { res.json(serviceIndex(p.cfg)); });
  // ROUTES (each owner mounts its router here)
  if (p.cfg.role === 'all' || p.cfg.role === 'api') app.use(ADMIN_BASE_PATH, createAdminRouter(p));
  if (p.cfg.role === 'all' || p.cfg.role === 'api') app.use(googlePublicRouter({ ...p.google, tenants: p.tenants, logger: p.logger }));
  if (p.cfg.role !== 'worker') app.use('/twilio', p.telephony.router());
  if (p.cfg.role === 'all' || p.cfg.role === 'api') {
    // Built once, on the first request, unless a prebuilt bundle is served.
    let bundle: Promise<ConsoleBundle> | null = null;
    // Production serves what `npm run build` wrote; development rebuilds from web/ so edits show on restart.
    const prebuilt = p.cfg.production ? readBuiltConsole() : null;
    app.use(CONSOLE_PATH, createConsoleRouter({
      cfg: p.cfg, logger: p.logger, accounts: p.accounts, tenants: p.tenants, registry: p.registry, telephony: p.telephony, voice: p.voice, live: p.live,
      bundle: () => prebuilt ? Promise.resolve(prebuilt) : (bundle ??= buildConsole().catch((e: unknown) => { bundle = null; throw e; })),
    }));
  }

  app.use((_req, _res, next) => next(new ServiceLaneError('ADM_ERR_NOT_FOUND', 'no such route')));
  app.use(errorHandler(p.logger));
  return app;
}

/** Starts the HTTP (and WebSocket) server for the chosen role. */
export async function listen(p: Platform, app: express.Express): Promise<http.Server> {
  const server = http.createServer(app);
  // MEDIA SERVER (voice owner attaches the WebSocket upgrade handler here)
  if (p.cfg.role === 'all' || p.cfg.role === 'voice') {
    // The console's browser test call: the socket's session cookie names the user its one-time ticket is for.
    p.telephony.attach(server, { userOf: async (req) => (await p.accounts.session(cookieValue(req, SESSION_COOKIE) ?? ''))?.userId ?? null });
  }
  await new Promise<void>((resolve, reject) => {
    // Without this listener a busy port is an unhandled 'error' event: a raw stack trace, and no shutdown.
    server.once('error', (e: NodeJS.ErrnoException) => reject(e.code === 'EADDRINUSE'
      ? new ServiceLaneError('CFG_ERR_PORT_IN_USE', `port ${p.cfg.port} is already in use; stop the other process or set PORT`, { port: p.cfg.port }, { cause: e })
      : e));
    server.listen(p.cfg.port, '0.0.0.0', resolve);
  });
  p.onClose(() => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); }));
  return server;
}
