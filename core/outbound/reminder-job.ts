import type { Knex } from 'knex';
import type { Jobs } from '../jobs/jobs.js';
import type { Logger } from '../observability/logger.js';
import { metrics } from '../observability/metrics.js';
import type { TenantService } from '../tenancy/tenants.js';
import { LEGAL_WINDOW, nextAllowedTime } from './call-window.js';
import { reminderPolicy } from './reminder-schedule.js';

/**
 * The `reminders` job: at run time it re-reads everything inside the tenant's schema and either records why the
 * reminder will not ring (`skipped_<reason>`), moves it to the next allowed time (outside the calling window), or
 * records the call as due and hands it to the OutboundDialer. Job data is ids only; the row decides.
 */

/** What the drain puts in a job: the row and the due time the job was queued for (a moved due time is a new job). */
export interface ReminderJobData { tenantId: string; reminderId: string; dueAtMs: number }

/**
 * Deterministic job id: one job per reminder row and due time. The row id, not (appointment, hoursBefore,
 * start): an appointment moved away and back to the same time gets a new row, and BullMQ keeps a completed job
 * id for 7 days, so an id made of the time alone would be deduplicated against the old, finished job and never
 * run. The due time is in it because the calling window moves a row's due time and the moved run is a new job
 * (the current one is still active when it re-queues). No `:` (BullMQ refuses custom ids with one).
 */
export function reminderJobId(o: { tenantId: string; reminderId: string; dueAtMs: number }): string {
  return `rem-${o.tenantId}-${o.reminderId}-${Math.floor(o.dueAtMs / 1000)}`;
}

/**
 * The seam where a due reminder becomes a phone call (core/outbound/outbound-calls.ts; null: due reminders are
 * recorded and not called). The job calls it once, after the attempt committed; the dialer owns placing the call
 * exactly once per attempt (the idempotency key), its retries and the reconciliation with the provider. It answers
 * the call's SID when it already has one, else null (the SID is recorded on the attempt when the call is created).
 */
export interface OutboundDialer {
  place(o: { tenantId: string; reminderId: string; attemptId: string; appointmentId: string; to: string; idempotencyKey: string }): Promise<{ callSid: string | null }>;
}

/** Why a reminder does not ring; recorded as the attempt's outcome `skipped_<reason>` and counted. */
export type ReminderSkipReason =
  | 'tenant_inactive' | 'config_invalid' | 'reminders_disabled' | 'appointment_missing' | 'appointment_cancelled'
  | 'appointment_closed' | 'appointment_moved' | 'appointment_passed' | 'already_confirmed' | 'no_phone' | 'opted_out'
  | 'no_call_window' | 'window_after_appointment' | 'overtaken';

export type ReminderRunResult =
  | { outcome: 'stale' }
  | { outcome: 'skipped'; reason: ReminderSkipReason; attempt: number }
  | { outcome: 'deferred'; dueAt: string }
  | { outcome: 'due'; attempt: number; attemptId: string; callSid: string | null };

/** The transaction's decision; a due call carries what the dialer needs, which the caller's result does not show. */
type Decision = Exclude<ReminderRunResult, { outcome: 'due' }> | { outcome: 'due'; attempt: number; attemptId: string; to: string; appointmentId: string };

interface ReminderFacts {
  id: string; appointment_id: string; hours_before: number; starts_at: Date; due_at: Date; status: string; ignore_window: boolean;
  appt_id: string | null; appt_status: string | null; appt_starts_at: Date | null; customer_phone: string | null;
  confirmed: boolean; closer: boolean; opted_out: boolean; next_attempt: number;
}

/** The run's one read ($1 now, $2 reminder id); the subqueries answer only when the appointment exists. */
const READ_REMINDER = `
  select r.id, r.appointment_id, r.hours_before, r.starts_at, r.due_at, r.status, r.ignore_window,
         p.id as appt_id, p.status as appt_status, p.starts_at as appt_starts_at, p.customer_phone,
         exists (select 1 from reminder_attempts a join reminders ar on ar.id = a.reminder_id
                  where a.appointment_id = p.id and a.outcome = 'confirmed' and ar.starts_at = p.starts_at) as confirmed,
         exists (select 1 from reminders c
                  where c.appointment_id = p.id and c.starts_at = p.starts_at and c.status in ('scheduled', 'due')
                    and c.hours_before < r.hours_before and c.due_at <= ?::timestamptz) as closer,
         exists (select 1 from reminder_opt_outs o where o.phone = p.customer_phone) as opted_out,
         coalesce((select max(attempt) from reminder_attempts x where x.reminder_id = r.id), 0) + 1 as next_attempt
    from reminders r left join appointments p on p.id = r.appointment_id
   where r.id = ?
     for update of r`;

/** The attempt row and the reminder's new status, in one statement; returns the attempt's id. */
async function writeAttempt(trx: Knex.Transaction, o: {
  rem: ReminderFacts; attempt: number; now: Date; outcome: string; status: 'due' | 'skipped'; skipReason: string | null;
}): Promise<string> {
  const r = await trx.raw(
    `with ins as (
       insert into reminder_attempts (reminder_id, appointment_id, attempt, scheduled_at, started_at, outcome)
       values (?, ?, ?, ?, ?, ?) returning id),
     upd as (update reminders set status = ?, skip_reason = coalesce(?, skip_reason), updated_at = now() where id = ?)
     select id from ins`,
    [o.rem.id, o.rem.appointment_id, o.attempt, o.rem.due_at, o.now, o.outcome, o.status, o.skipReason, o.rem.id]);
  return (r.rows[0] as { id: string }).id;
}

export interface ReminderRunnerOptions {
  tenants: TenantService;
  logger: Logger;
  /** Null until outbound calling exists: due reminders are recorded, not called. */
  dialer: OutboundDialer | null;
  /** The worker's clock (tests fix it); the window check and "has the appointment passed" read it. */
  clock?: () => Date;
}

export class ReminderRunner {
  private readonly clock: () => Date;

  constructor(private readonly o: ReminderRunnerOptions) {
    this.clock = o.clock ?? (() => new Date());
  }

  /** Registers the handler on the `reminders` queue (workers run in the worker and all roles). */
  register(jobs: Jobs): void {
    jobs.register<ReminderJobData>('reminders', (data) => this.run(data));
  }

  /** One run of one reminder. Safe to repeat: anything but a `scheduled` row at the job's due time is a no-op. */
  async run(data: ReminderJobData): Promise<ReminderRunResult> {
    const tenant = await this.o.tenants.find(data.tenantId);
    if (!tenant) {
      this.o.logger.warn({ tenantId: data.tenantId, reminderId: data.reminderId }, 'reminder job for an unknown tenant dropped');
      return { outcome: 'stale' };
    }
    const now = this.clock();
    const result = await this.o.tenants.withTenant(tenant.id, async (trx): Promise<Decision> => {
      // Every fact the checks below need, in one round trip (this runs once per reminder, thousands an hour in a
      // burst): the row (locked), its appointment, and whether the appointment was already confirmed for this
      // start, a closer reminder of it is already due, the number opted out, and the attempt number to write.
      const rem = (await trx.raw(READ_REMINDER, [now, data.reminderId])).rows[0] as ReminderFacts | undefined;
      // Superseded, cancelled, already run, or moved by the window to a time a newer job owns.
      if (!rem || rem.status !== 'scheduled' || rem.due_at.getTime() !== data.dueAtMs) return { outcome: 'stale' };
      const skip = (reason: ReminderSkipReason): Promise<Decision> => this.skip(trx, { rem, reason, now });

      if (tenant.status !== 'active') return skip('tenant_inactive');
      if (!tenant.config) return skip('config_invalid');
      const policy = reminderPolicy(tenant.config);
      if (!policy.enabled) return skip('reminders_disabled');

      const appt = rem.appt_id ? { id: rem.appt_id, status: rem.appt_status!, starts_at: rem.appt_starts_at!, customer_phone: rem.customer_phone } : null;
      if (!appt) return skip('appointment_missing');
      if (appt.status === 'cancelled') return skip('appointment_cancelled');
      if (appt.status !== 'booked') return skip('appointment_closed');
      // The scheduler supersedes on every move it makes; a writer that bypassed it is caught here.
      if (appt.starts_at.getTime() !== rem.starts_at.getTime()) return skip('appointment_moved');
      if (appt.starts_at.getTime() <= now.getTime()) return skip('appointment_passed');
      if (rem.confirmed) return skip('already_confirmed');
      // Run late (a worker outage): when a closer reminder of the same appointment is already due, two calls in a
      // row would be wrong; the closer one is the one that rings.
      if (rem.closer) return skip('overtaken');
      if (!appt.customer_phone) return skip('no_phone');
      if (rem.opted_out) return skip('opted_out');

      // The callee's zone is not derived from the number (see call-window.ts): the dealership's zone stands in.
      // A platform admin's "send now, ignore the window" drops the dealership's window and closed days, never the legal hours.
      const next = nextAllowedTime({ due: now, policy: rem.ignore_window
        ? { timezone: tenant.config.timezone, callWindow: { ...LEGAL_WINDOW } }
        : { timezone: tenant.config.timezone, callWindow: policy.callWindow, businessHours: tenant.config.businessHours, holidays: tenant.config.holidays } });
      if (!next) return skip('no_call_window');
      if (next.getTime() > now.getTime()) {
        if (next.getTime() >= appt.starts_at.getTime()) return skip('window_after_appointment');
        // Not dropped: the row waits for its new due time and the drain queues it then, under a new job id.
        await trx('reminders').where({ id: rem.id }).update({
          due_at: next, queued_until: null, window_deferrals: trx.raw('window_deferrals + 1'), updated_at: trx.fn.now(),
        });
        metrics.reminders.inc({ event: 'deferred' });
        return { outcome: 'deferred', dueAt: next.toISOString() };
      }

      const attempt = rem.next_attempt;
      const id = await writeAttempt(trx, { rem, attempt, now, outcome: 'due', status: 'due', skipReason: null });
      return { outcome: 'due', attempt, attemptId: id, to: appt.customer_phone, appointmentId: appt.id };
    });

    if (result.outcome === 'skipped') {
      metrics.reminderSkips.inc({ reason: result.reason });
      this.o.logger.info({ tenantId: tenant.id, reminderId: data.reminderId, reason: result.reason }, 'reminder skipped');
    }
    if (result.outcome !== 'due') return result;
    metrics.reminders.inc({ event: 'due' });
    const due = result;
    if (!this.o.dialer) {
      this.o.logger.info({ tenantId: tenant.id, reminderId: data.reminderId, attempt: due.attempt }, 'reminder due; no outbound dialer configured, so no call is placed');
      return { outcome: 'due', attempt: due.attempt, attemptId: due.attemptId, callSid: null };
    }
    let placed: { callSid: string | null };
    try {
      placed = await this.o.dialer.place({
        tenantId: tenant.id, reminderId: data.reminderId, attemptId: due.attemptId, appointmentId: due.appointmentId, to: due.to,
        idempotencyKey: `${data.reminderId}-${due.attempt}`,
      });
    } catch (e) {
      // Not retried by this job: the attempt is committed as `due`, and a rerun would find the row no longer
      // scheduled. Retrying and reconciling with the provider is the dialer's contract (see OutboundDialer).
      metrics.reminders.inc({ event: 'dial_failed' });
      this.o.logger.error({ tenantId: tenant.id, reminderId: data.reminderId, attemptId: due.attemptId, err: (e as Error).message }, 'outbound dialer failed; attempt left due');
      return { outcome: 'due', attempt: due.attempt, attemptId: due.attemptId, callSid: null };
    }
    if (placed.callSid) {
      const sid = placed.callSid;
      await this.o.tenants.withTenant(tenant.id, (trx) => trx('reminder_attempts').where({ id: due.attemptId }).whereNull('call_sid').update({ call_sid: sid }));
    }
    return { outcome: 'due', attempt: due.attempt, attemptId: due.attemptId, callSid: placed.callSid };
  }

  private async skip(trx: Knex.Transaction, o: { rem: ReminderFacts; reason: ReminderSkipReason; now: Date }): Promise<{ outcome: 'skipped'; reason: ReminderSkipReason; attempt: number }> {
    const attempt = o.rem.next_attempt;
    await writeAttempt(trx, { rem: o.rem, attempt, now: o.now, outcome: `skipped_${o.reason}`, status: 'skipped', skipReason: o.reason });
    return { outcome: 'skipped', reason: o.reason, attempt };
  }
}

/** Queues one reminder run under its deterministic id, delayed until its due time (by the caller's clock). */
export async function enqueueReminder(jobs: Jobs, o: { data: ReminderJobData; now: Date }): Promise<string> {
  return jobs.enqueue('reminders', o.data, {
    jobId: reminderJobId(o.data),
    delayMs: Math.max(0, o.data.dueAtMs - o.now.getTime()),
    // Retries cover a database blip during the re-check; the run itself is idempotent (see ReminderRunner.run).
    attempts: 5, backoffMs: 30_000,
  });
}
