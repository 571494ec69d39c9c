import type { Knex } from 'knex';
import type { DealershipConfig } from '../tenancy/config.js';
import { DEFAULT_CALL_WINDOW } from './call-window.js';

/**
 * Reminder intents, written inside the transaction that books, moves or cancels an appointment (the scheduler's),
 * so a reminder commits or rolls back with the change that causes it: a moved appointment never keeps a reminder
 * for its old time, and a cancelled one has none left to ring. The rows live in the tenant's `reminders` table
 * (migrations/tenant/050_reminders.sql); the worker's drain loop (reminder-drain.ts) turns due rows into jobs.
 */

/** The tenant's `reminders` config block with every default applied (tenants/schema/dealership.schema.json). */
export interface ReminderPolicy {
  enabled: boolean;
  hoursBefore: number[];
  callWindow: { start: string; end: string };
  voicemail: boolean;
  retry: { maxAttempts: number; intervalMin: number };
  maxConcurrentCalls: number;
}

export function reminderPolicy(config: Pick<DealershipConfig, 'reminders'>): ReminderPolicy {
  const r = config.reminders ?? {};
  return {
    enabled: r.enabled ?? false,
    // Unique and sorted, so `[24, 48, 24]` schedules two reminders, the earliest first.
    hoursBefore: [...new Set(r.hoursBefore ?? [24])].sort((a, b) => b - a),
    callWindow: r.callWindow ?? { ...DEFAULT_CALL_WINDOW },
    voicemail: r.voicemail ?? true,
    retry: { maxAttempts: r.retry?.maxAttempts ?? 3, intervalMin: r.retry?.intervalMin ?? 120 },
    maxConcurrentCalls: r.maxConcurrentCalls ?? 2,
  };
}

/** What one change did to an appointment's reminders (the caller counts it in metrics after commit). */
export interface ReminderChange { scheduled: number; superseded: number; cancelled: number }

const HOUR_MS = 3600_000;

/**
 * Brings an appointment's reminders in line with its current row, inside the caller's transaction:
 * - reminders still `scheduled` for another start time are `superseded` (a move), or all of them `cancelled`
 *   when the appointment is no longer booked;
 * - a booked appointment gets one `scheduled` row per `hoursBefore` for its current start, when reminders are
 *   enabled and the due time is still ahead of `now` (a reminder whose moment has passed at booking time is not
 *   created: a "your appointment is in 24 hours" call 3 hours before would be wrong, and the later offsets of the
 *   same appointment still ring).
 * Idempotent: running it twice for the same row changes nothing the second time.
 */
export async function syncAppointmentReminders(trx: Knex.Transaction, o: {
  config: Pick<DealershipConfig, 'reminders'>;
  appointment: { id: string; starts_at: Date; status: string };
  now: Date;
}): Promise<ReminderChange> {
  const a = o.appointment;
  const out: ReminderChange = { scheduled: 0, superseded: 0, cancelled: 0 };
  if (a.status !== 'booked') {
    out.cancelled = await trx('reminders').where({ appointment_id: a.id, status: 'scheduled' })
      .update({ status: 'cancelled', updated_at: trx.fn.now() });
    return out;
  }
  const policy = reminderPolicy(o.config);
  const rows = policy.enabled
    ? policy.hoursBefore.map((h) => ({ h, due: new Date(a.starts_at.getTime() - h * HOUR_MS) })).filter((r) => r.due.getTime() > o.now.getTime())
    : [];
  if (rows.length === 0) {
    out.superseded = await trx('reminders').where({ appointment_id: a.id, status: 'scheduled' }).whereNot('starts_at', a.starts_at)
      .update({ status: 'superseded', updated_at: trx.fn.now() });
    return out;
  }
  // One statement, one round trip inside the booking's transaction: the old start's rows superseded, the new ones
  // inserted. Both parts see the same snapshot; they never touch the same rows (a superseded row has another
  // start, so it cannot conflict with a new one). The partial unique index (live rows only) makes a repeat a no-op,
  // and keeps superseded history beside it.
  const res = await trx.raw(
    `with sup as (
       update reminders set status = 'superseded', updated_at = now()
        where appointment_id = ?::uuid and status = 'scheduled' and starts_at <> ?::timestamptz returning 1),
     ins as (
       insert into reminders (appointment_id, hours_before, starts_at, due_at)
       select ?::uuid, x.h, ?::timestamptz, x.due from unnest(?::int[], ?::timestamptz[]) as x(h, due)
       on conflict (appointment_id, hours_before, starts_at) where status in ('scheduled', 'due', 'skipped') and kind = 'scheduled' do nothing
       returning 1)
     select (select count(*) from sup)::int as superseded, (select count(*) from ins)::int as scheduled`,
    [a.id, a.starts_at, a.id, a.starts_at, rows.map((r) => r.h), rows.map((r) => r.due)]);
  const counts = res.rows[0] as { superseded: number; scheduled: number };
  out.superseded = counts.superseded;
  out.scheduled = counts.scheduled;
  return out;
}

/** Records "don't call me again" for a number (the voice tool and the admin API will call this). */
export async function recordReminderOptOut(trx: Knex.Transaction, o: { phone: string; source: string }): Promise<void> {
  // Scheduled reminders of this number stay as they are: each one's run-time check skips it and records the skip.
  await trx('reminder_opt_outs').insert({ phone: o.phone, source: o.source }).onConflict('phone').ignore();
}
