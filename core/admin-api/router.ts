import crypto from 'node:crypto';
import express from 'express';
import helmet from 'helmet';
import type { Knex } from 'knex';
import type { AccountService } from '../accounts/accounts.js';
import type { AppConfig } from '../config.js';
import type { GoogleConnect } from '../integrations/google/connect.js';
import type { GoogleSync } from '../integrations/google/sync.js';
import type { Jobs } from '../jobs/jobs.js';
import type { Logger } from '../observability/logger.js';
import type { OutboundCalls } from '../outbound/outbound-calls.js';
import type { PluginRegistry } from '../registry/registry.js';
import type { StateStore } from '../state/store.js';
import type { Telephony } from '../telephony/telephony.js';
import type { TenantService } from '../tenancy/tenants.js';
import { ERROR_CODES, ServiceLaneError, type ErrorCode } from '../errors.js';
import { migrationStatus } from '../db/migrate.js';
import { metrics } from '../observability/metrics.js';
import type { PluginConfigIssue } from '../registry/types.js';
import { parseDealershipConfig, SLOT_NAMES, type DealershipConfig, type SlotName } from '../tenancy/config.js';
import { seedDemoData } from '../tenancy/seed.js';
import { createManualReminder } from '../outbound/send-now.js';
import { enqueueReminder } from '../outbound/reminder-job.js';
import { toE164, type Tenant } from '../tenancy/tenants.js';
import { principalOf } from './auth.js';
import { allow, authenticateAny } from './guard.js';
import { authorize, type Action } from '../accounts/policy.js';
import { mountGoogleRoutes } from './google-routes.js';
import { openApiDocument } from './openapi.js';
import { mountUsageRoutes } from './usage-routes.js';
import { limiter } from './rate-limit.js';
import {
  bodyValidator, queryValidator, parseQueryInstants, CREDENTIAL_NAME_PATTERN, INSTANT_QUERY_SCHEMA, PAGE, SLUG_PATTERN, TENANT_ID_PATTERN,
} from './validate.js';
import { E164_PATTERN } from '../sdk/phone.js';

export const ADMIN_BASE_PATH = '/admin/v1';
const BODY_LIMIT = '100kb';
const DAY_MS = 86_400_000;

// ---- request schemas ---------------------------------------------------------------------------

interface CreateTenantBody { name: string; slug?: string; config: Record<string, unknown>; seed?: 'demo' }
/** `additionalProperties: false`: a `schema`/`schema_name` field is refused, never read (schemas are generated). */
const createTenantBody = bodyValidator<CreateTenantBody>({
  type: 'object', additionalProperties: false, required: ['name', 'config'],
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 200 },
    slug: { type: 'string', pattern: SLUG_PATTERN },
    config: { type: 'object' },
    seed: { type: 'string', enum: ['demo'] },
  },
});
const sendReminderBody = bodyValidator<{ ignoreWindow?: boolean }>({
  type: 'object', additionalProperties: false, properties: { ignoreWindow: { type: 'boolean' } },
});
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const credentialBody = bodyValidator<{ value: unknown }>({
  type: 'object', additionalProperties: false, required: ['value'],
  properties: { value: { not: { type: 'null' } } },
});
const pageProps = {
  limit: { type: 'integer', minimum: 1, maximum: PAGE.maxLimit, default: PAGE.defaultLimit },
  offset: { type: 'integer', minimum: 0, maximum: 100_000, default: 0 },
};
const listQuery = queryValidator<{ limit: number; offset: number }>({ type: 'object', additionalProperties: false, properties: pageProps });
const customersQuery = queryValidator<{ phone?: string; name?: string; limit: number; offset: number }>({
  type: 'object', additionalProperties: false,
  properties: { phone: { type: 'string', pattern: E164_PATTERN }, name: { type: 'string', minLength: 1, maxLength: 100 }, ...pageProps },
});
const appointmentsQuery = queryValidator<{ from?: string; to?: string; limit: number; offset: number }>({
  type: 'object', additionalProperties: false,
  properties: { from: INSTANT_QUERY_SCHEMA, to: INSTANT_QUERY_SCHEMA, ...pageProps },
});
const callsQuery = queryValidator<{ before?: string; limit: number; from?: string; to?: string; outcome?: string; number?: string; customer?: string }>({
  type: 'object', additionalProperties: false,
  properties: {
    before: INSTANT_QUERY_SCHEMA, limit: pageProps.limit,
    // Console filters: a day range on the dealership's calendar, the outcome, the caller's number, the customer.
    from: INSTANT_QUERY_SCHEMA, to: INSTANT_QUERY_SCHEMA,
    outcome: { type: 'string', pattern: '^[a-z_]{1,40}$' }, number: { type: 'string', pattern: E164_PATTERN }, customer: { type: 'string', minLength: 1, maxLength: 64 },
  },
});
const remindersQuery = queryValidator<{ status?: string; from?: string; to?: string; limit: number; offset: number }>({
  type: 'object', additionalProperties: false,
  properties: { status: { type: 'string', enum: ['scheduled', 'due', 'skipped', 'cancelled', 'superseded'] }, from: INSTANT_QUERY_SCHEMA, to: INSTANT_QUERY_SCHEMA, ...pageProps },
});
const callbacksQuery = queryValidator<{ status?: string; source?: string; from?: string; to?: string; limit: number; offset: number }>({
  type: 'object', additionalProperties: false,
  properties: {
    status: { type: 'string', enum: ['open', 'done'] }, source: { type: 'string', enum: ['agent', 'voicemail'] },
    from: INSTANT_QUERY_SCHEMA, to: INSTANT_QUERY_SCHEMA, ...pageProps,
  },
});
const CALL_ID_RE = /^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|CA[0-9a-f]{32})$/;
const TENANT_ID_RE = new RegExp(TENANT_ID_PATTERN);
const SLUG_RE = new RegExp(SLUG_PATTERN);
const CREDENTIAL_NAME_RE = new RegExp(CREDENTIAL_NAME_PATTERN);
const MAX_EVENTS = 1000;

// ---- helpers -----------------------------------------------------------------------------------

function tenantDto(t: Tenant) {
  return {
    id: t.id, slug: t.slug, name: t.name, schema: t.schema, status: t.status, createdAt: t.createdAt,
    configHash: t.configHash, configValid: t.config !== null,
  };
}

function param(req: express.Request, name: string): string {
  const v = req.params[name];
  return typeof v === 'string' ? v : '';
}

/** Registry issues → one 422 listing each; the first issue's code wins when it is a 422 plugin code. */
function pluginConfigError(issues: PluginConfigIssue[]): ServiceLaneError {
  const first = issues[0]?.code;
  const code: ErrorCode = first && ERROR_CODES[first].status === 422 ? first : 'PLG_ERR_CONFIG_INVALID';
  return new ServiceLaneError(code, 'plugin configuration is invalid', { errors: issues });
}

/**
 * The admin REST API. Order matters: headers → per-IP limit (before auth, so token guessing is limited
 * too) → auth → per-token limit → body parsing (unauthenticated bodies are never parsed) → routes.
 */
/**
 * What the admin API uses, and nothing more: the composition root (core/app.ts) hands these in, so the API
 * depends on the services it calls, not on the platform that assembles them.
 */
export interface AdminApiDeps {
  cfg: Pick<AppConfig, 'jwt' | 'adminRateLimitPerMin'>;
  logger: Logger;
  db: Knex;
  state: StateStore;
  tenants: TenantService;
  registry: PluginRegistry;
  jobs: Jobs;
  accounts: AccountService;
  telephony: Pick<Telephony, 'configureNumber'>;
  outbound: Pick<OutboundCalls, 'now'>;
  google: { connect: GoogleConnect; sync: Pick<GoogleSync, 'stopWatching'> };
}

export function createAdminRouter(p: AdminApiDeps): express.Router {
  const r = express.Router();
  const limitPerMin = p.cfg.adminRateLimitPerMin;
  r.use((_req, res, next) => { res.on('finish', () => metrics.httpRequests.inc({ group: 'admin', status: String(res.statusCode) })); next(); });
  r.use(helmet());
  r.use(limiter({ state: p.state, logger: p.logger, kind: 'ip', limitPerMin, key: (req) => req.ip ?? 'unknown' }));
  r.get('/openapi.json', (_req, res) => { res.json(openApiDocument()); });
  // The base path answers too (the start banner prints it): where the document is and how to authenticate.
  r.get('/', (_req, res) => {
    res.json({ openapi: `${ADMIN_BASE_PATH}/openapi.json`, authentication: 'Authorization: Bearer <JWT> (npm run token -- --role platform_admin)', tenants: `${ADMIN_BASE_PATH}/tenants` });
  });
  r.use(authenticateAny({ jwt: p.cfg.jwt, tenants: p.tenants, accounts: p.accounts }));
  r.use(limiter({
    state: p.state, logger: p.logger, kind: 'token', limitPerMin,
    key: (req) => { const pr = principalOf(req); return crypto.createHash('sha256').update(`${pr.role}:${pr.sub}:${pr.tenant ?? ''}`).digest('hex').slice(0, 32); },
  }));
  r.use(express.json({ limit: BODY_LIMIT }));

  const audit = async (req: express.Request, e: { action: string; tenantId?: string | null; target?: string; details?: unknown }) => {
    const pr = principalOf(req);
    await p.tenants.audit({ actor: pr.sub, role: pr.role, tenantId: e.tenantId ?? null, action: e.action, target: e.target, ip: req.ip, details: e.details });
  };
  /** 403 + an audit row: a refused attempt is exactly what an auditor wants to see. */
  /** The one policy (core/accounts/policy.ts) decides; a refusal is audited, since it is what an auditor wants to see. */
  const guard = (req: express.Request, action: Action, tenantId: string | null) => allow({
    principal: principalOf(req), action, tenantId,
    onDeny: (reason) => audit(req, { action: 'forbidden', tenantId: tenantId && TENANT_ID_RE.test(tenantId) ? tenantId : null, target: `${req.method} ${req.originalUrl}`.slice(0, 500), details: { attempted: action, reason } }),
  });
  const requirePlatformAdmin = (req: express.Request, action: Action, tenantId: string | null = null) => guard(req, action, tenantId);
  /** Authorises the path's tenant before any lookup, then loads it (404 for unknown ids). */
  const tenantFor = async (req: express.Request, action: Action): Promise<Tenant> => {
    const id = param(req, 'id');
    await guard(req, action, id);
    return p.tenants.get(id);
  };
  /** Caller numbers and tool arguments are PII: shown only to roles the policy lets read them. */
  /** The registry's view of each slot, plus what only the Google connection knows (a refused grant). */
  const slotStatus = async (tenantId: string) => {
    const slots = await p.registry.status(tenantId);
    // A Google calendar whose grant was refused still loads, so the registry calls it ok; the connection knows better.
    const cal = slots.find((s) => s.slot === 'calendar' && s.pluginId === 'calendar-google');
    if (cal && (await p.google.connect.view(tenantId)).status === 'needs_reconnect') {
      cal.needsReconnect = true;
      cal.error ??= { code: 'ADM_ERR_GOOGLE_NEEDS_RECONNECT', message: 'Google refused the stored grant; connect Google Calendar again' };
    }
    return slots;
  };
  const mayReadPii = (req: express.Request, tenantId: string) => authorize(principalOf(req), 'pii.read', tenantId).ok;
  /**
   * Paths take a tenant's id or its slug (`/tenants/demo/customers`). The slug is turned into the id here, once,
   * before any route runs, so every route, authorisation check and audit row below sees only ids. An unknown
   * slug is left as it is: a tenant admin then gets the same 403 as for any other tenant (no probing which
   * slugs exist), a platform admin gets TEN_ERR_NOT_FOUND.
   */
  r.param('id', (req, _res, next, value: string) => {
    if (TENANT_ID_RE.test(value) || !SLUG_RE.test(value)) return next();
    p.tenants.idForSlug(value).then((id) => { if (id) req.params.id = id; next(); }, next);
  });
  const validatePlugins = (config: DealershipConfig) => {
    const issues = p.registry.validateConfig(config);
    if (issues.length) throw pluginConfigError(issues);
  };
  /** A referenced credential that can't work is refused on save (422 naming the fields), not left to disable the slot silently. */
  const refuseCredentialIssues = (issues: PluginConfigIssue[]) => {
    if (issues.length) throw new ServiceLaneError('PLG_ERR_CREDENTIALS_INVALID', issues[0]!.message, { errors: issues });
  };

  // ---- tenants ---------------------------------------------------------------------------------

  r.post('/tenants', async (req, res) => {
    await requirePlatformAdmin(req, 'tenant.create');
    const body = createTenantBody(req.body);
    if (body.slug && TENANT_ID_RE.test(body.slug)) {
      // Paths accept an id or a slug; a slug shaped like an id would make `/tenants/<that>` ambiguous.
      throw new ServiceLaneError('ADM_ERR_VALIDATION', 'request body failed validation', { errors: [{ path: '/slug', message: 'must not look like a tenant id (26 lowercase letters and digits)' }] });
    }
    const config = parseDealershipConfig(body.config);
    validatePlugins(config);
    const t = await p.tenants.create({ name: body.name, slug: body.slug, config });
    if (body.seed === 'demo') await p.tenants.withTenant(t.id, (trx) => seedDemoData(trx, { timezone: config.timezone, holidays: config.holidays }));
    await audit(req, { action: 'tenant.create', tenantId: t.id, target: t.id, details: { slug: t.slug, seed: body.seed ?? null } });
    res.status(201).json(tenantDto(t));
  });

  r.get('/tenants', async (req, res) => {
    const q = listQuery(req.query);
    const pr = principalOf(req);
    const all = authorize(pr, 'tenant.list_all', null).ok ? await p.tenants.list() : [await p.tenants.get(pr.tenant ?? '')];
    res.json({ items: all.slice(q.offset, q.offset + q.limit).map(tenantDto), total: all.length, limit: q.limit, offset: q.offset });
  });

  r.get('/tenants/:id', async (req, res) => {
    const t = await tenantFor(req, 'tenant.read');
    const [numbers, credentials, migration, plugins] = await Promise.all([
      p.tenants.listNumbers(t.id),
      p.tenants.listCredentialNames(t.id),
      p.db('platform.tenant_migrations').where({ tenant_id: t.id }).first('version', 'state', 'error', 'updated_at'),
      slotStatus(t.id),
    ]);
    res.json({
      ...tenantDto(t), config: t.rawConfig, configErrors: t.configErrors ?? null, numbers, credentials, plugins,
      migration: migration ? { version: migration.version, state: migration.state, error: migration.error, updatedAt: migration.updated_at } : null,
    });
  });

  r.put('/tenants/:id/config', async (req, res) => {
    const t = await tenantFor(req, 'tenant.config');
    const config = parseDealershipConfig(req.body);
    validatePlugins(config);
    refuseCredentialIssues(await p.registry.storedCredentialIssues(t.id, config));
    const updated = await p.tenants.updateConfig(t.id, config);
    await audit(req, { action: 'tenant.config', tenantId: t.id, target: t.id, details: { configHash: updated.configHash } });
    res.json({ ...tenantDto(updated), config: updated.rawConfig });
  });

  r.delete('/tenants/:id', async (req, res) => {
    await requirePlatformAdmin(req, 'tenant.offboard', TENANT_ID_RE.test(param(req, 'id')) ? param(req, 'id') : null);
    const t = await p.tenants.get(param(req, 'id'));
    const { releasedNumbers } = await p.tenants.offboard(t.id);
    // Jobs re-check the tenant's status when they run (TEN_ERR_OFFBOARDED → no-op); plugin instances close now.
    await p.registry.closeTenant(t.id);
    // Console sessions of the tenant's users end now (their lookups refuse offboarded tenants as well).
    await p.accounts.revokeTenantSessions(t.id);
    // Google stops notifying about the dealership's calendar (best effort: an unstopped channel expires in 7 days).
    await p.google.sync.stopWatching(t.id).catch((e: Error) => p.logger.warn({ tenantId: t.id, err: e.message }, 'google channel not stopped on offboarding'));
    await audit(req, { action: 'tenant.offboard', tenantId: t.id, target: t.id, details: { releasedNumbers } });
    res.json({ id: t.id, status: 'offboarded', releasedNumbers });
  });

  // ---- numbers ---------------------------------------------------------------------------------

  r.put('/tenants/:id/numbers/:e164', async (req, res) => {
    await requirePlatformAdmin(req, 'number.attach', TENANT_ID_RE.test(param(req, 'id')) ? param(req, 'id') : null);
    const e164 = toE164(param(req, 'e164'));
    const t = await p.tenants.getActive(param(req, 'id'));
    const { created } = await p.tenants.attachNumber(t.id, e164);
    const wh = await p.telephony.configureNumber({ tenantId: t.id, e164 });
    await audit(req, { action: 'number.attach', tenantId: t.id, target: e164, details: { created, webhooksConfigured: wh.configured } });
    res.status(created ? 201 : 200).json({ e164, tenantId: t.id, webhooksConfigured: wh.configured, reason: wh.reason ?? null });
  });

  r.delete('/tenants/:id/numbers/:e164', async (req, res) => {
    await requirePlatformAdmin(req, 'number.detach', TENANT_ID_RE.test(param(req, 'id')) ? param(req, 'id') : null);
    const e164 = toE164(param(req, 'e164'));
    const t = await p.tenants.get(param(req, 'id'));
    const detached = await p.tenants.detachNumber(t.id, e164);
    if (!detached) throw new ServiceLaneError('ADM_ERR_NOT_FOUND', 'number is not attached to this tenant');
    await audit(req, { action: 'number.detach', tenantId: t.id, target: e164 });
    res.json({ e164, tenantId: t.id, detached: true });
  });

  // ---- credentials (write-only) ----------------------------------------------------------------

  r.put('/tenants/:id/credentials/:name', async (req, res) => {
    const t = await tenantFor(req, 'credential.put');
    const name = param(req, 'name');
    if (!CREDENTIAL_NAME_RE.test(name)) {
      throw new ServiceLaneError('ADM_ERR_VALIDATION', 'credential name is invalid', { errors: [{ path: '/name', message: `must match ${CREDENTIAL_NAME_PATTERN}` }] });
    }
    const { value } = credentialBody(req.body);
    refuseCredentialIssues(p.registry.credentialValueIssues(t.config, name, value));
    await p.tenants.putCredential(t.id, name, value);
    await audit(req, { action: 'credential.put', tenantId: t.id, target: name });
    res.status(204).end();
  });

  r.get('/tenants/:id/credentials', async (req, res) => {
    const t = await tenantFor(req, 'credential.list');
    res.json({ names: await p.tenants.listCredentialNames(t.id) });
  });

  // ---- plugins ---------------------------------------------------------------------------------

  r.get('/tenants/:id/plugins', async (req, res) => {
    const t = await tenantFor(req, 'plugin.status');
    res.json({ slots: await slotStatus(t.id) });
  });

  r.post('/tenants/:id/plugins/:slot/test', async (req, res) => {
    const t = await tenantFor(req, 'plugin.test');
    const slot = param(req, 'slot');
    if (!SLOT_NAMES.includes(slot as SlotName)) {
      throw new ServiceLaneError('ADM_ERR_VALIDATION', 'unknown plugin slot', { errors: [{ path: '/slot', message: `must be one of ${SLOT_NAMES.join(', ')}` }] });
    }
    const result = await p.registry.testConnection(t.id, slot as SlotName);
    await audit(req, { action: 'plugin.test', tenantId: t.id, target: slot });
    res.json({ slot, result });
  });

  // ---- tenant data (read-only, always through withTenant) ---------------------------------------

  r.get('/tenants/:id/customers', async (req, res) => {
    const t = await tenantFor(req, 'data.customers');
    const q = customersQuery(req.query);
    const items = await p.tenants.withTenant(t.id, async (trx) => {
      const qb = trx('customers').select('id', 'first_name', 'last_name', 'phone', 'email', 'zip', 'created_at')
        .orderBy([{ column: 'last_name' }, { column: 'first_name' }, { column: 'id' }]).limit(q.limit).offset(q.offset);
      if (q.phone) qb.where('phone', q.phone);
      if (q.name) {
        const like = `${q.name.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
        qb.where((w) => w.whereRaw('lower(first_name) like ?', [like]).orWhereRaw('lower(last_name) like ?', [like])
          .orWhereRaw(`lower(first_name || ' ' || last_name) like ?`, [like]));
      }
      const customers: { id: string; first_name: string; last_name: string; phone: string | null; email: string | null; zip: string | null; created_at: Date }[] = await qb;
      const vehicles: { id: string; customer_id: string; vin: string | null; year: number | null; make: string | null; model: string | null; mileage: number | null }[] = customers.length
        ? await trx('vehicles').whereIn('customer_id', customers.map((c) => c.id)).select('id', 'customer_id', 'vin', 'year', 'make', 'model', 'mileage').orderBy('year', 'desc')
        : [];
      return customers.map((c) => ({
        id: c.id, firstName: c.first_name, lastName: c.last_name, phone: c.phone, email: c.email, zip: c.zip, createdAt: c.created_at,
        vehicles: vehicles.filter((v) => v.customer_id === c.id).map((v) => ({ id: v.id, vin: v.vin, year: v.year, make: v.make, model: v.model, mileage: v.mileage })),
      }));
    });
    res.json({ items, limit: q.limit, offset: q.offset });
  });

  r.get('/tenants/:id/appointments', async (req, res) => {
    const t = await tenantFor(req, 'data.appointments');
    const q = appointmentsQuery(req.query);
    // A bare date is a day on the dealership's calendar: `from` its first instant, `to` the end of that day.
    const when = parseQueryInstants({ zone: t.config?.timezone ?? 'UTC', values: { from: q.from, to: q.to }, endOfDay: ['to'] });
    const from = when.from ?? new Date();
    const to = when.to ?? new Date(from.getTime() + 30 * DAY_MS);
    if (!(to > from) || to.getTime() - from.getTime() > 366 * DAY_MS) {
      throw new ServiceLaneError('ADM_ERR_VALIDATION', 'query string failed validation', { errors: [{ path: '/to', message: 'must be after from and at most 366 days later' }] });
    }
    const items = await p.tenants.withTenant(t.id, (trx) => trx('appointments')
      .where('starts_at', '<', to).andWhere('ends_at', '>', from)
      .select('id', 'customer_id as customerId', 'vehicle_id as vehicleId', 'customer_name as customerName', 'customer_phone as customerPhone',
        'resource_id as resourceId', 'service_type as serviceType', 'starts_at as startsAt', 'ends_at as endsAt', 'status', 'source', 'notes')
      .orderBy([{ column: 'starts_at' }, { column: 'id' }]).limit(q.limit).offset(q.offset));
    res.json({ items, from: from.toISOString(), to: to.toISOString(), limit: q.limit, offset: q.offset });
  });

  r.get('/tenants/:id/reminders', async (req, res) => {
    const t = await tenantFor(req, 'data.reminders');
    const q = remindersQuery(req.query);
    // from/to filter the due time; a bare date is a day on the dealership's calendar.
    const when = parseQueryInstants({ zone: t.config?.timezone ?? 'UTC', values: { from: q.from, to: q.to }, endOfDay: ['to'] });
    const items = await p.tenants.withTenant(t.id, async (trx) => {
      const qb = trx('reminders').select('id', 'appointment_id as appointmentId', 'hours_before as hoursBefore', 'starts_at as startsAt', 'due_at as dueAt',
        'status', 'skip_reason as skipReason', 'window_deferrals as windowDeferrals', 'outcome', 'kind', 'created_at as createdAt', 'updated_at as updatedAt')
        .orderBy([{ column: 'due_at' }, { column: 'id' }]).limit(q.limit).offset(q.offset);
      if (q.status) qb.where('status', q.status);
      if (when.from) qb.where('due_at', '>=', when.from);
      if (when.to) qb.where('due_at', '<', when.to);
      const rows = await qb as { id: string }[];
      const attempts = rows.length
        ? await trx('reminder_attempts').whereIn('reminder_id', rows.map((r) => r.id)).orderBy(['reminder_id', 'attempt'])
          .select('reminder_id', 'attempt', 'scheduled_at as scheduledAt', 'started_at as startedAt', 'call_sid as callSid', 'amd_result as amdResult', 'outcome',
            'outcome_at as outcomeAt', 'call_id as callId', 'call_status as callStatus', 'placed_at as placedAt', 'ended_at as endedAt', 'dial_error as dialError') as { reminder_id: string }[]
        : [];
      return rows.map((r) => ({ ...r, attempts: attempts.filter((a) => a.reminder_id === r.id).map(({ reminder_id: _rid, ...a }) => a) }));
    });
    res.json({ items, limit: q.limit, offset: q.offset });
  });

  r.post('/tenants/:id/appointments/:appointmentId/reminders', async (req, res) => {
    const t = await tenantFor(req, 'reminders.send');
    const body = sendReminderBody(req.body ?? {});
    if (body.ignoreWindow) await requirePlatformAdmin(req, 'reminders.send.ignore_window', t.id);
    const appointmentId = param(req, 'appointmentId');
    if (!UUID_RE.test(appointmentId)) throw new ServiceLaneError('ADM_ERR_NOT_FOUND', 'no such appointment');
    const r = await createManualReminder({ tenants: p.tenants, tenantId: t.id, appointmentId, ignoreWindow: body.ignoreWindow ?? false, now: p.outbound.now() });
    // Queued at once; if the queue is down, the drain loop queues the row on its next pass.
    await enqueueReminder(p.jobs, { data: { tenantId: t.id, reminderId: r.id, dueAtMs: r.dueAt.getTime() }, now: p.outbound.now() })
      .catch((e: Error) => p.logger.warn({ tenantId: t.id, reminderId: r.id, err: e.message }, 'send-now reminder not queued; the drain loop picks it up'));
    await audit(req, { action: 'reminders.send', tenantId: t.id, target: appointmentId, details: { reminderId: r.id, ignoreWindow: body.ignoreWindow ?? false } });
    res.status(202).json({ id: r.id, status: r.status });
  });

  r.get('/tenants/:id/callbacks', async (req, res) => {
    const t = await tenantFor(req, 'data.callbacks');
    const q = callbacksQuery(req.query);
    // from/to filter the creation time; a bare date is a day on the dealership's calendar.
    const when = parseQueryInstants({ zone: t.config?.timezone ?? 'UTC', values: { from: q.from, to: q.to }, endOfDay: ['to'] });
    const items = await p.tenants.withTenant(t.id, (trx) => {
      const qb = trx('callback_tasks as c').leftJoin('calls as k', 'k.id', 'c.call_id')
        .select('c.id', 'c.phone', 'c.reason', 'c.status', 'c.source', 'c.customer_id as customerId', 'k.call_sid as callSid', 'c.created_at as createdAt',
          'c.transcript', 'c.transcript_status as transcriptStatus', 'c.transcript_language as transcriptLanguage',
          'c.recording_sid as recordingSid', 'c.recording_url as recordingUrl', 'c.recording_duration_sec as recordingDurationSec')
        .orderBy([{ column: 'c.created_at', order: 'desc' }, { column: 'c.id', order: 'desc' }]).limit(q.limit).offset(q.offset);
      if (q.status) qb.where('c.status', q.status);
      if (q.source) qb.where('c.source', q.source);
      if (when.from) qb.where('c.created_at', '>=', when.from);
      if (when.to) qb.where('c.created_at', '<', when.to);
      return qb;
    });
    res.json({ items, limit: q.limit, offset: q.offset });
  });

  r.get('/tenants/:id/calls', async (req, res) => {
    const t = await tenantFor(req, 'data.calls');
    const q = callsQuery(req.query);
    const { before, from, to } = parseQueryInstants({ zone: t.config?.timezone ?? 'UTC', values: { before: q.before, from: q.from, to: q.to }, endOfDay: ['to'] });
    const items = await p.tenants.withTenant(t.id, (trx) => {
      const qb = trx('calls').select('id', 'call_sid as callSid', 'direction', 'from_number as from', 'to_number as to', 'status', 'customer_id as customerId',
        'outcome', 'summary', 'started_at as startedAt', 'ended_at as endedAt')
        .orderBy([{ column: 'started_at', order: 'desc' }, { column: 'id', order: 'desc' }]).limit(q.limit);
      if (before) qb.where('started_at', '<', before);
      if (from) qb.where('started_at', '>=', from);
      if (to) qb.where('started_at', '<', to);
      if (q.outcome) qb.where('outcome', q.outcome);
      if (q.number) qb.where('from_number', q.number);
      if (q.customer) qb.where('customer_id', q.customer);
      return qb;
    });
    const pii = mayReadPii(req, t.id);
    res.json({ items: pii ? items : items.map((c: Record<string, unknown>) => ({ ...c, from: c.from ? 'hidden' : null })), limit: q.limit });
  });

  r.get('/tenants/:id/calls/:callId', async (req, res) => {
    const t = await tenantFor(req, 'data.call');
    const callId = param(req, 'callId');
    if (!CALL_ID_RE.test(callId)) throw new ServiceLaneError('ADM_ERR_NOT_FOUND', 'no such call');
    const out = await p.tenants.withTenant(t.id, async (trx) => {
      const call = await trx('calls').where(callId.startsWith('CA') ? { call_sid: callId } : { id: callId })
        .first('id', 'call_sid as callSid', 'direction', 'from_number as from', 'to_number as to', 'status', 'customer_id as customerId',
          'outcome', 'summary', 'started_at as startedAt', 'ended_at as endedAt');
      if (!call) return null;
      const transcript = await trx('call_events').where({ call_id: call.id }).orderBy('id').limit(MAX_EVENTS).select('at', 'kind', 'payload');
      return { ...call, transcript };
    });
    if (!out) throw new ServiceLaneError('ADM_ERR_NOT_FOUND', 'no such call');
    if (!mayReadPii(req, t.id)) {
      out.from = out.from ? 'hidden' : null;
      out.transcript = out.transcript.map((e: { kind: string; payload: Record<string, unknown> }) => e.kind === 'tool_call' ? { ...e, payload: { ...e.payload, arguments: 'hidden' } } : e);
    }
    res.json(out);
  });

  // ---- usage (core/admin-api/usage-routes.ts) ---------------------------------------------------

  mountUsageRoutes(r, { db: p.db, withTenant: (id, fn) => p.tenants.withTenant(id, fn), tenantFor, requirePlatformAdmin });

  // ---- integrations ----------------------------------------------------------------------------

  mountGoogleRoutes(r, { google: p.google.connect, tenantFor, audit });

  // ---- status ----------------------------------------------------------------------------------

  r.get('/migrations', async (req, res) => {
    await requirePlatformAdmin(req, 'migrations.read');
    res.json(await migrationStatus(p.db));
  });

  r.use((_req, _res, next) => next(new ServiceLaneError('ADM_ERR_NOT_FOUND', 'no such route')));
  return r;
}
