import { instantQuery, ok, PAGE_QUERY, paged, ref, TENANT_RESPONSES, tenantRoute, type RouteDef } from '../route.js';
import { parseQueryInstants } from '../validate.js';

interface CallbacksQuery { status?: string; source?: string; from?: string; to?: string; limit: number; offset: number }

/** Callback tasks for the dealership's staff (read-only, through withTenant). */
export const callbackRoutes: RouteDef[] = [
  tenantRoute<CallbacksQuery>({
    method: 'get', path: '/tenants/:id/callbacks', operationId: 'listCallbacks', tags: ['data'], action: 'data.callbacks',
    summary: 'Callback tasks for the dealership\'s staff (agent escalations and voicemails with transcripts), newest first',
    query: {
      type: 'object', additionalProperties: false,
      properties: {
        status: { type: 'string', enum: ['open', 'done'] }, source: { type: 'string', enum: ['agent', 'voicemail'] },
        from: instantQuery('Created at or after (inclusive).'), to: instantQuery('Created before (exclusive); a date means the end of that day.'),
        ...PAGE_QUERY,
      },
    },
    responses: { 200: ok('callback tasks', paged(ref('CallbackTask'))), ...TENANT_RESPONSES },
    handler: async ({ res, deps: p, tenant: t, query: q }) => {
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
    },
  }),
];
