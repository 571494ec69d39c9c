import type express from 'express';
import type { Knex } from 'knex';
import { DateTime } from 'luxon';
import { ServiceLaneError } from '../errors.js';
import type { Tenant } from '../tenancy/tenants.js';
import { platformUsage, tenantUsage, toCsv, TOTAL_FIELDS, type Granularity } from '../usage/report.js';
import { INSTANT_QUERY_SCHEMA, parseQueryInstants, queryValidator } from './validate.js';
import type { Action } from '../accounts/policy.js';

const DAY_MS = 86_400_000;
const MAX_RANGE_DAYS = 366;
const DATE_PATTERN = '^\\d{4}-\\d{2}-\\d{2}$';

interface UsageQuery { from?: string; to?: string; granularity: Granularity; format: 'json' | 'csv' }
const granularityProp = { type: 'string', enum: ['day', 'month'], default: 'day' };
const formatProp = { type: 'string', enum: ['json', 'csv'], default: 'json' };
const tenantUsageQuery = queryValidator<UsageQuery>({
  type: 'object', additionalProperties: false,
  properties: { from: INSTANT_QUERY_SCHEMA, to: INSTANT_QUERY_SCHEMA, granularity: granularityProp, format: formatProp },
});
const platformUsageQuery = queryValidator<UsageQuery>({
  type: 'object', additionalProperties: false,
  properties: { from: { type: 'string', pattern: DATE_PATTERN }, to: { type: 'string', pattern: DATE_PATTERN }, granularity: granularityProp, format: formatProp },
});

const rangeError = (message: string) => new ServiceLaneError('ADM_ERR_VALIDATION', 'query string failed validation', { errors: [{ path: '/to', message }] });

function sendCsv(res: express.Response, o: { filename: string; columns: readonly string[]; rows: readonly Record<string, unknown>[] }): void {
  res.type('text/csv; charset=utf-8');
  res.setHeader('content-disposition', `attachment; filename="${o.filename}"`);
  res.send(toCsv(o.columns, o.rows));
}

export interface UsageRouteDeps {
  db: Knex;
  withTenant: <T>(tenantId: string, fn: (trx: Knex.Transaction) => Promise<T>) => Promise<T>;
  /** The router's authorisation helpers: tenant admins only their own tenant (403 + audit otherwise). */
  tenantFor: (req: express.Request, action: Action) => Promise<Tenant>;
  requirePlatformAdmin: (req: express.Request, action: Action) => Promise<void>;
  clock?: () => Date;
}

/**
 * Usage routes (docs/usage.md): a tenant's own usage from its call rows, and the platform-wide summary
 * from the daily rollup. Mounted by the admin router after authentication; OpenAPI in {@link usageOpenApi}.
 */
export function mountUsageRoutes(r: express.Router, d: UsageRouteDeps): void {
  const now = () => (d.clock ? d.clock() : new Date());

  r.get('/tenants/:id/usage', async (req, res) => {
    const t = await d.tenantFor(req, 'data.usage');
    const q = tenantUsageQuery(req.query);
    const zone = t.config?.timezone ?? 'UTC';
    const when = parseQueryInstants({ zone, values: { from: q.from, to: q.to }, endOfDay: ['to'] });
    const from = when.from ?? DateTime.fromJSDate(now()).setZone(zone).startOf(q.granularity === 'month' ? 'year' : 'month').toJSDate();
    const to = when.to ?? now();
    if (!(to > from)) throw rangeError('must be after from');
    if (to.getTime() - from.getTime() > MAX_RANGE_DAYS * DAY_MS + DAY_MS) throw rangeError(`must be at most ${MAX_RANGE_DAYS} days after from`);
    const out = await tenantUsage({ withTenant: d.withTenant, tenantId: t.id, zone, from, to, granularity: q.granularity });
    if (q.format === 'csv') {
      sendCsv(res, { filename: `usage-${t.slug}-${q.granularity}.csv`, columns: ['period', ...TOTAL_FIELDS], rows: out.items as unknown as Record<string, unknown>[] });
      return;
    }
    res.json({ tenantId: t.id, timezone: zone, granularity: q.granularity, from: from.toISOString(), to: to.toISOString(), ...out });
  });

  r.get('/usage', async (req, res) => {
    await d.requirePlatformAdmin(req, 'usage.summary');
    const q = platformUsageQuery(req.query);
    const today = DateTime.fromJSDate(now()).toUTC();
    const fromDay = q.from ?? today.startOf('month').toISODate()!;
    const toDay = q.to ?? today.toISODate()!;
    const a = DateTime.fromISO(fromDay, { zone: 'UTC' });
    const b = DateTime.fromISO(toDay, { zone: 'UTC' });
    if (!a.isValid || !b.isValid) throw rangeError('from and to must be real dates (YYYY-MM-DD)');
    if (b < a) throw rangeError('must not be before from');
    if (b.diff(a, 'days').days > MAX_RANGE_DAYS) throw rangeError(`must be at most ${MAX_RANGE_DAYS} days after from`);
    const items = await platformUsage({ db: d.db, fromDay, toDay, granularity: q.granularity });
    if (q.format === 'csv') {
      sendCsv(res, { filename: `usage-platform-${q.granularity}.csv`, columns: ['tenantId', 'period', ...TOTAL_FIELDS], rows: items as unknown as Record<string, unknown>[] });
      return;
    }
    res.json({ granularity: q.granularity, from: fromDay, to: toDay, items });
  });
}

type Obj = Record<string, unknown>;

const totalsSchema: Obj = {
  type: 'object',
  properties: {
    calls: { type: 'integer' }, callsInbound: { type: 'integer' }, callsOutbound: { type: 'integer' },
    inboundSeconds: { type: 'number', description: 'Media stream start to session end, summed (ms precision).' },
    outboundSeconds: { type: 'number' }, sttAudioSeconds: { type: 'number', description: 'Caller audio sent to the STT.' },
    llmPromptTokens: { type: 'integer' }, llmCompletionTokens: { type: 'integer', description: 'From the provider\'s streamed usage.' },
    ttsCharacters: { type: 'integer' }, toolCalls: { type: 'integer' },
  },
};

/**
 * The OpenAPI paths and schemas of the usage routes; `operation` and `refs` come from openapi.ts so every
 * route is documented the same way.
 */
export function usageOpenApi(h: {
  op: (o: { id: string; summary: string; tags: string[]; params?: Obj[]; responses: Obj; description?: string }) => Obj;
  tenantIdParam: Obj; instantParam: (name: string, description: string) => Obj; common: Obj; tenantCommon: Obj;
}): { paths: Obj; schemas: Obj } {
  const granularity = { name: 'granularity', in: 'query', schema: { type: 'string', enum: ['day', 'month'], default: 'day' }, description: 'Group by the dealership\'s local day or calendar month.' };
  const format = { name: 'format', in: 'query', schema: { type: 'string', enum: ['json', 'csv'], default: 'json' }, description: '`csv` answers text/csv (RFC 4180, header row) with one line per period.' };
  const usageResponse = (schema: Obj, csv: string): Obj => ({
    description: 'usage', content: { 'application/json': { schema }, 'text/csv': { schema: { type: 'string', description: csv } } },
  });
  return {
    paths: {
      '/tenants/{id}/usage': {
        get: h.op({
          id: 'getTenantUsage', summary: 'A dealership\'s metered usage by local day or month (from its call records, current to the last ended call)', tags: ['usage'],
          params: [h.tenantIdParam, h.instantParam('from', 'Start (inclusive). Default: start of this month (day) or year (month).'), h.instantParam('to', 'End (exclusive); a date means the end of that day. Default: now. At most 366 days after from.'), granularity, format],
          responses: { 200: usageResponse({ $ref: '#/components/schemas/TenantUsage' }, 'period,calls,callsInbound,…'), ...h.tenantCommon },
        }),
      },
      '/usage': {
        get: h.op({
          id: 'getPlatformUsage', summary: 'Usage of every tenant by local day or month, from the daily rollup (platform admins)', tags: ['usage'],
          description: 'Reads platform.usage_daily, which the worker refreshes every 10 minutes for each tenant\'s last two local days.',
          params: [
            { name: 'from', in: 'query', schema: { type: 'string', pattern: DATE_PATTERN }, description: 'First local day (inclusive). Default: first of this month (UTC).' },
            { name: 'to', in: 'query', schema: { type: 'string', pattern: DATE_PATTERN }, description: 'Last local day (inclusive). Default: today (UTC). At most 366 days after from.' },
            granularity, format,
          ],
          responses: { 200: usageResponse({ $ref: '#/components/schemas/PlatformUsage' }, 'tenantId,period,calls,…'), ...h.common },
        }),
      },
    },
    schemas: {
      UsageTotals: totalsSchema,
      TenantUsage: {
        type: 'object',
        properties: {
          tenantId: { type: 'string' }, timezone: { type: 'string' }, granularity: { type: 'string', enum: ['day', 'month'] },
          from: { type: 'string', format: 'date-time' }, to: { type: 'string', format: 'date-time' },
          items: { type: 'array', items: { allOf: [{ type: 'object', properties: { period: { type: 'string', description: 'YYYY-MM-DD or YYYY-MM' } } }, { $ref: '#/components/schemas/UsageTotals' }] } },
          byProvider: { type: 'array', items: { allOf: [{ type: 'object', properties: { sttProvider: { type: 'string' }, llmProvider: { type: 'string' }, llmModel: { type: 'string' }, ttsProvider: { type: 'string' } } }, { $ref: '#/components/schemas/UsageTotals' }] } },
        },
      },
      PlatformUsage: {
        type: 'object',
        properties: {
          granularity: { type: 'string', enum: ['day', 'month'] }, from: { type: 'string' }, to: { type: 'string' },
          items: { type: 'array', items: { allOf: [{ type: 'object', properties: { tenantId: { type: 'string' }, period: { type: 'string' } } }, { $ref: '#/components/schemas/UsageTotals' }] } },
        },
      },
    },
  };
}
