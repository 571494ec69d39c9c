import { ServiceLaneError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import { metrics } from '../observability/metrics.js';
import type { PluginRegistry } from '../registry/registry.js';
import { toCalendarDto, type AppointmentRow } from './appointments.js';
import { isPluginError, PluginError } from '../sdk/index.js';
import type { TenantService } from '../tenancy/tenants.js';
import { isPermanentJobError, type JobInfo, type Jobs } from '../jobs/jobs.js';
import { markSyncDone, type CalendarSyncData } from './sync-outbox.js';

export type CalendarSyncOutcome = 'created' | 'updated' | 'cancelled' | 'up_to_date' | 'not_mirrored' | 'missing' | 'tenant_gone' | 'builtin';

/** Deterministic, ':'-free: re-enqueueing the same change is a no-op while the first job is kept (7 days). */
export function calendarSyncJobId(d: CalendarSyncData): string {
  return `cal-${d.tenantId}-${d.appointmentId}-${d.action}-r${d.revision}`;
}

/** Retry policy of calendar-sync jobs: 10 attempts, exponential from 5 s (about 40 minutes in all). */
export interface CalendarSyncRetry { attempts?: number; backoffMs?: number }
const DEFAULT_RETRY = { attempts: 10, backoffMs: 5_000 };

/**
 * Queues the sync of one change under its deterministic id (`sweep` makes a resync's id distinct from the
 * change's own job, which may be kept as failed and would dedupe the new one). The one place that enqueues
 * calendar-sync, for the scheduler's fast path, the outbox loop and the resync sweep alike.
 */
export async function enqueueCalendarSync(jobs: Jobs, data: CalendarSyncData, retry: CalendarSyncRetry = {}, o: { sweep?: string } = {}): Promise<string> {
  const jobId = o.sweep ? `${calendarSyncJobId(data)}-s${o.sweep}` : calendarSyncJobId(data);
  return jobs.enqueue('calendar-sync', data, { jobId, attempts: retry.attempts ?? DEFAULT_RETRY.attempts, backoffMs: retry.backoffMs ?? DEFAULT_RETRY.backoffMs });
}

export interface CalendarSyncDeps { tenants: TenantService; registry: PluginRegistry; logger: Logger }

const COLS = [
  'id', 'customer_id', 'vehicle_id', 'customer_name', 'customer_phone', 'resource_id', 'service_type', 'service_name',
  'starts_at', 'ends_at', 'status', 'notes', 'cancel_reason', 'external_event_id', 'sync_state', 'revision', 'synced_revision',
] as const;

/**
 * Mirrors one appointment to the tenant's external calendar. Runs under a per-appointment advisory lock, so
 * jobs for the same booking (create, then cancel) never interleave; each acts on the row as it is now:
 * - booked, no external id → createAppointment (idempotencyKey = appointment id, so a retry finds the same event);
 * - booked with an external id → updateAppointment;
 * - cancelled → cancelAppointment; when no id was recorded but a create may have reached the calendar, the
 *   id is first resolved through the idempotent create.
 * Stores external_event_id and the synced revision; `synced` only when no newer change arrived meanwhile.
 */
export async function runCalendarSync(deps: CalendarSyncDeps, data: CalendarSyncData, job: JobInfo): Promise<{ outcome: CalendarSyncOutcome }> {
  const { tenants, registry, logger } = deps;
  const tenant = await tenants.find(data.tenantId);
  if (!tenant || tenant.status !== 'active') {
    metrics.calendarSync.inc({ outcome: 'tenant_gone' });
    // Nothing will ever mirror it: close its outbox rows so the drain loop stops queueing them.
    if (tenant) await markSyncDone(tenants.db, { tenantId: data.tenantId, appointmentId: data.appointmentId });
    return { outcome: 'tenant_gone' };
  }
  const config = tenant.config;
  const pluginId = config?.plugins.calendar.plugin ?? 'calendar';
  const builtin = registry.manifest(pluginId)?.capabilities.builtin === true;
  const lastAttempt = job.attemptsMade + 1 >= job.attempts;

  try {
    if (!config) throw new ServiceLaneError('TEN_ERR_CONFIG_INVALID', 'tenant configuration is invalid; calendar sync waits for a fix');
    const outcome = await tenants.withTenant(data.tenantId, async (trx): Promise<CalendarSyncOutcome> => {
      await trx.raw('select pg_advisory_xact_lock(hashtextextended(?, 0))', [`calendar-sync:${data.tenantId}:${data.appointmentId}`]);
      const row = await trx('appointments').where({ id: data.appointmentId }).first(COLS) as AppointmentRow | undefined;
      // Outbox rows close in this transaction, with the outcome they lead to (core/scheduling/sync-outbox.ts).
      const done = (upToRevision?: number) => markSyncDone(trx, { tenantId: data.tenantId, appointmentId: data.appointmentId, ...(upToRevision !== undefined ? { upToRevision } : {}) });
      if (!row) { await done(); return 'missing'; }
      if (builtin) {
        // The tenant moved to the built-in calendar after this was queued: the row is the record; nothing to push.
        if (row.sync_state === 'pending') await trx('appointments').where({ id: row.id }).update({ sync_state: 'none', sync_error: null });
        await done();
        return 'builtin';
      }
      if (row.synced_revision !== null && row.synced_revision >= row.revision) { await done(row.synced_revision); return 'up_to_date'; }
      if (row.sync_state === 'none') { await done(); return 'not_mirrored'; }

      const cal = await registry.get(data.tenantId, 'calendar');
      const appointment = toCalendarDto(row, config);
      let externalId = row.external_event_id;
      let outcome: CalendarSyncOutcome;
      if (row.status === 'cancelled') {
        if (!externalId) externalId = (await cal.createAppointment({ appointment, idempotencyKey: row.id })).externalId;
        await cal.cancelAppointment({ externalId, ...(row.cancel_reason ? { reason: row.cancel_reason } : {}) });
        outcome = 'cancelled';
      } else if (!externalId) {
        const created = await cal.createAppointment({ appointment, idempotencyKey: row.id });
        // The built-in calendar answers with our own id. Seen here (the tenant's calendar is external), it means a
        // configured fallback took the write while the real calendar failed: that mirrors nothing, so retry.
        if (created.externalId === row.id) {
          throw new PluginError('upstream', `${pluginId} did not take the booking (a fallback answered)`, { provider: pluginId });
        }
        externalId = created.externalId;
        outcome = 'created';
      } else {
        await cal.updateAppointment({ externalId, appointment });
        outcome = 'updated';
      }
      // A change committed while we talked to the calendar has its own job; leave the row pending for it.
      await trx('appointments').where({ id: row.id }).update({
        external_event_id: externalId,
        synced_revision: row.revision,
        sync_state: trx.raw("case when revision = ? then 'synced' else sync_state end", [row.revision]),
        sync_error: null,
        synced_at: trx.fn.now(),
      });
      await done(row.revision);
      return outcome;
    });
    metrics.calendarSync.inc({ outcome });
    logger.info({ tenantId: data.tenantId, appointmentId: data.appointmentId, outcome, attempt: job.attemptsMade + 1 }, 'calendar sync done');
    return { outcome };
  } catch (e) {
    if (lastAttempt || isPermanentJobError(e)) {
      metrics.calendarSync.inc({ outcome: 'failed' });
      // Category or code only: vendor messages may quote customer data.
      const why = isPluginError(e) ? `${e.category}${e.status ? ` ${e.status}` : ''}` : (e as { code?: string }).code ?? 'error';
      // Failed for good: the resync sweep owns the booking from here, so its outbox rows close with it.
      await tenants.withTenant(data.tenantId, async (trx) => {
        await trx('appointments').where({ id: data.appointmentId }).whereIn('sync_state', ['pending'])
          .update({ sync_state: 'failed', sync_error: `${pluginId}: ${why}`.slice(0, 200) });
        await markSyncDone(trx, { tenantId: data.tenantId, appointmentId: data.appointmentId, upToRevision: data.revision });
      })
        .catch((err: Error) => logger.error({ tenantId: data.tenantId, appointmentId: data.appointmentId, err: err.message }, 'could not record calendar sync failure'));
    }
    throw e;
  }
}

/** Registers the `calendar-sync` worker. Low concurrency: each job holds a connection during the vendor call. */
export function registerCalendarSync(o: CalendarSyncDeps & { jobs: Jobs; concurrency?: number }): void {
  o.jobs.register<CalendarSyncData>('calendar-sync', (data, job) => runCalendarSync(o, data, job), { concurrency: o.concurrency ?? 2 });
}
