import { ServiceLaneError } from '../errors.js';
import type { TenantService } from '../tenancy/tenants.js';
import { isCallAllowed, LEGAL_WINDOW } from './call-window.js';
import { reminderPolicy } from './reminder-schedule.js';

const HOUR_MS = 3600_000;

/**
 * "Send a reminder now" (admin API, `npm run call`): a `manual` reminder row due now, outside the hoursBefore
 * schedule, that then runs exactly like a scheduled one (the runner's re-checks, the dialer's exactly-once call).
 * Refused up front, with nothing written, when the appointment is not booked, has no number, or now is outside the
 * calling window; `ignoreWindow` (platform admins only, checked by the caller) drops the dealership's window and
 * closed days but never the 08:00-21:00 legal hours.
 */
export async function createManualReminder(o: {
  tenants: TenantService; tenantId: string; appointmentId: string; ignoreWindow: boolean; now: Date;
}): Promise<{ id: string; status: 'scheduled'; dueAt: Date }> {
  const tenant = await o.tenants.getActive(o.tenantId);
  const cfg = tenant.config!;
  return o.tenants.withTenant(tenant.id, async (trx) => {
    const appt = await trx('appointments').where({ id: o.appointmentId }).forUpdate().first('id', 'status', 'starts_at', 'customer_phone') as
      { id: string; status: string; starts_at: Date; customer_phone: string | null } | undefined;
    if (!appt) throw new ServiceLaneError('ADM_ERR_NOT_FOUND', 'no such appointment');
    if (appt.status !== 'booked' || !appt.customer_phone || appt.starts_at.getTime() <= o.now.getTime()) {
      throw new ServiceLaneError('OUT_ERR_APPOINTMENT_NOT_BOOKED', 'only a future booked appointment with a phone number can be reminded', { status: appt.status });
    }
    const window = o.ignoreWindow
      ? { timezone: cfg.timezone, callWindow: { ...LEGAL_WINDOW } }
      : { timezone: cfg.timezone, callWindow: reminderPolicy(cfg).callWindow, businessHours: cfg.businessHours, holidays: cfg.holidays };
    if (!isCallAllowed({ now: o.now, policy: window })) {
      throw new ServiceLaneError('OUT_ERR_OUTSIDE_WINDOW', 'now is outside the calling window', { ignoreWindow: o.ignoreWindow });
    }
    const hoursBefore = Math.min(168, Math.max(1, Math.ceil((appt.starts_at.getTime() - o.now.getTime()) / HOUR_MS)));
    const [row] = await trx('reminders').insert({
      appointment_id: appt.id, hours_before: hoursBefore, starts_at: appt.starts_at, due_at: o.now, kind: 'manual', ignore_window: o.ignoreWindow,
    }).returning(['id', 'due_at']) as { id: string; due_at: Date }[];
    return { id: row!.id, status: 'scheduled' as const, dueAt: row!.due_at };
  });
}
