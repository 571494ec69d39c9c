import type express from 'express';
import { DateTime } from 'luxon';
import { ServiceLaneError } from '../../errors.js';
import { platformUsage, tenantUsage, toCsv, TOTAL_FIELDS, type Granularity } from '../../usage/report.js';
import { COMMON_RESPONSES, guardedRoute, instantQuery, TENANT_RESPONSES, tenantRoute, type Obj, type RouteDef } from '../route.js';
import { parseQueryInstants } from '../validate.js';

const DAY_MS = 86_400_000;
const MAX_RANGE_DAYS = 366;
const DATE_PATTERN = '^\\d{4}-\\d{2}-\\d{2}$';

interface UsageQuery { from?: string; to?: string; granularity: Granularity; format: 'json' | 'csv' }
const granularity = { type: 'string', enum: ['day', 'month'], default: 'day', description: 'Group by the dealership\'s local day or calendar month.' };
const format = { type: 'string', enum: ['json', 'csv'], default: 'json', description: '`csv` answers text/csv (RFC 4180, header row) with one line per period.' };

const rangeError = (message: string) => new ServiceLaneError('ADM_ERR_VALIDATION', 'query string failed validation', { errors: [{ path: '/to', message }] });

function sendCsv(res: express.Response, o: { filename: string; columns: readonly string[]; rows: readonly Record<string, unknown>[] }): void {
  res.type('text/csv; charset=utf-8');
  res.setHeader('content-disposition', `attachment; filename="${o.filename}"`);
  res.send(toCsv(o.columns, o.rows));
}

const usageResponse = (schema: Obj, csv: string): Obj => ({
  description: 'usage', content: { 'application/json': { schema }, 'text/csv': { schema: { type: 'string', description: csv } } },
});

/**
 * Usage routes (docs/usage.md): a tenant's own usage from its call rows, and the platform-wide summary
 * from the daily rollup.
 */
export const usageRoutes: RouteDef[] = [
  tenantRoute<UsageQuery>({
    method: 'get', path: '/tenants/:id/usage', operationId: 'getTenantUsage', tags: ['usage'], action: 'data.usage',
    summary: 'A dealership\'s metered usage by local day or month (from its call records, current to the last ended call)',
    query: {
      type: 'object', additionalProperties: false,
      properties: {
        from: instantQuery('Start (inclusive). Default: start of this month (day) or year (month).'),
        to: instantQuery('End (exclusive); a date means the end of that day. Default: now. At most 366 days after from.'),
        granularity, format,
      },
    },
    responses: { 200: usageResponse({ $ref: '#/components/schemas/TenantUsage' }, 'period,calls,callsInbound,…'), ...TENANT_RESPONSES },
    handler: async ({ res, deps: p, tenant: t, query: q }) => {
      const now = new Date();
      const zone = t.config?.timezone ?? 'UTC';
      const when = parseQueryInstants({ zone, values: { from: q.from, to: q.to }, endOfDay: ['to'] });
      const from = when.from ?? DateTime.fromJSDate(now).setZone(zone).startOf(q.granularity === 'month' ? 'year' : 'month').toJSDate();
      const to = when.to ?? now;
      if (!(to > from)) throw rangeError('must be after from');
      if (to.getTime() - from.getTime() > MAX_RANGE_DAYS * DAY_MS + DAY_MS) throw rangeError(`must be at most ${MAX_RANGE_DAYS} days after from`);
      const out = await tenantUsage({ withTenant: (id, fn) => p.tenants.withTenant(id, fn), tenantId: t.id, zone, from, to, granularity: q.granularity });
      if (q.format === 'csv') {
        sendCsv(res, { filename: `usage-${t.slug}-${q.granularity}.csv`, columns: ['period', ...TOTAL_FIELDS], rows: out.items as unknown as Record<string, unknown>[] });
        return;
      }
      res.json({ tenantId: t.id, timezone: zone, granularity: q.granularity, from: from.toISOString(), to: to.toISOString(), ...out });
    },
  }),

  guardedRoute<UsageQuery>({
    method: 'get', path: '/usage', operationId: 'getPlatformUsage', tags: ['usage'], action: 'usage.summary',
    summary: 'Usage of every tenant by local day or month, from the daily rollup (platform admins)',
    description: 'Reads platform.usage_daily, which the worker refreshes every 10 minutes for each tenant\'s last two local days.',
    query: {
      type: 'object', additionalProperties: false,
      properties: {
        from: { type: 'string', pattern: DATE_PATTERN, description: 'First local day (inclusive). Default: first of this month (UTC).' },
        to: { type: 'string', pattern: DATE_PATTERN, description: 'Last local day (inclusive). Default: today (UTC). At most 366 days after from.' },
        granularity, format,
      },
    },
    responses: { 200: usageResponse({ $ref: '#/components/schemas/PlatformUsage' }, 'tenantId,period,calls,…'), ...COMMON_RESPONSES },
    handler: async ({ res, deps: p, query: q }) => {
      const today = DateTime.fromJSDate(new Date()).toUTC();
      const fromDay = q.from ?? today.startOf('month').toISODate()!;
      const toDay = q.to ?? today.toISODate()!;
      const a = DateTime.fromISO(fromDay, { zone: 'UTC' });
      const b = DateTime.fromISO(toDay, { zone: 'UTC' });
      if (!a.isValid || !b.isValid) throw rangeError('from and to must be real dates (YYYY-MM-DD)');
      if (b < a) throw rangeError('must not be before from');
      if (b.diff(a, 'days').days > MAX_RANGE_DAYS) throw rangeError(`must be at most ${MAX_RANGE_DAYS} days after from`);
      const items = await platformUsage({ db: p.db, fromDay, toDay, granularity: q.granularity });
      if (q.format === 'csv') {
        sendCsv(res, { filename: `usage-platform-${q.granularity}.csv`, columns: ['tenantId', 'period', ...TOTAL_FIELDS], rows: items as unknown as Record<string, unknown>[] });
        return;
      }
      res.json({ granularity: q.granularity, from: fromDay, to: toDay, items });
    },
  }),
];

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

/** The response schemas the usage routes refer to (components/schemas). */
export const usageSchemas: Obj = {
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
};
