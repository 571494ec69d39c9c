import { ServiceLaneError } from '../../errors.js';
import { enqueueReminder } from '../../outbound/reminder-job.js';
import { createManualReminder } from '../../outbound/send-now.js';
import { errorResponse, instantQuery, ok, PAGE_QUERY, paged, ref, TENANT_RESPONSES, tenantRoute, type RouteDef } from '../route.js';
import { parseQueryInstants } from '../validate.js';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const STATUSES = ['scheduled', 'due', 'skipped', 'cancelled', 'superseded'];

interface RemindersQuery { status?: string; from?: string; to?: string; limit: number; offset: number }

/** Reminder calls: the list with each attempt, and "send now" for one appointment (docs/reminders.md). */
export const reminderRoutes: RouteDef[] = [
  tenantRoute<RemindersQuery>({
    method: 'get', path: '/tenants/:id/reminders', operationId: 'listReminders', tags: ['data'], action: 'data.reminders',
    summary: 'Reminder calls by due time, each with its attempts (skips and due calls; calls are not placed yet)',
    query: {
      type: 'object', additionalProperties: false,
      properties: {
        status: { type: 'string', enum: STATUSES },
        from: instantQuery('Due at or after (inclusive).'), to: instantQuery('Due before (exclusive); a date means the end of that day.'),
        ...PAGE_QUERY,
      },
    },
    responses: { 200: ok('reminders', paged(ref('Reminder'))), ...TENANT_RESPONSES },
    handler: async ({ res, deps: p, tenant: t, query: q }) => {
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
    },
  }),

  tenantRoute<Record<string, never>, { ignoreWindow?: boolean }>({
    method: 'post', path: '/tenants/:id/appointments/:appointmentId/reminders', operationId: 'sendReminderNow', tags: ['data'], action: 'reminders.send',
    summary: 'Place a reminder call for this appointment now (inside the calling window; `ignoreWindow` is for platform admins and still keeps 08:00-21:00)',
    // An id that is not a uuid is answered 404 by the handler, after the body and `ignoreWindow` checks.
    params: { appointmentId: { schema: { type: 'string', format: 'uuid' } } },
    body: { schema: { type: 'object', additionalProperties: false, properties: { ignoreWindow: { type: 'boolean', default: false } } } },
    responses: {
      202: ok('the reminder, queued', { type: 'object', required: ['id', 'status'], properties: { id: { type: 'string' }, status: { type: 'string', enum: ['scheduled'] } } }),
      ...TENANT_RESPONSES, 409: errorResponse('OUT_ERR_OUTSIDE_WINDOW or OUT_ERR_APPOINTMENT_NOT_BOOKED'),
    },
    handler: async ({ req, res, deps: p, kit, tenant: t, param, body }) => {
      if (body.ignoreWindow) await kit.guard(req, 'reminders.send.ignore_window', t.id);
      const appointmentId = param('appointmentId');
      if (!UUID_RE.test(appointmentId)) throw new ServiceLaneError('ADM_ERR_NOT_FOUND', 'no such appointment');
      const r = await createManualReminder({ tenants: p.tenants, tenantId: t.id, appointmentId, ignoreWindow: body.ignoreWindow ?? false, now: p.outbound.now() });
      // Queued at once; if the queue is down, the drain loop queues the row on its next pass.
      await enqueueReminder(p.jobs, { data: { tenantId: t.id, reminderId: r.id, dueAtMs: r.dueAt.getTime() }, now: p.outbound.now() })
        .catch((e: Error) => p.logger.warn({ tenantId: t.id, reminderId: r.id, err: e.message }, 'send-now reminder not queued; the drain loop picks it up'));
      await kit.audit(req, { action: 'reminders.send', tenantId: t.id, target: appointmentId, details: { reminderId: r.id, ignoreWindow: body.ignoreWindow ?? false } });
      res.status(202).json({ id: r.id, status: r.status });
    },
  }),
];
