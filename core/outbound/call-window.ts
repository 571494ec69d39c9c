/**
 * When a reminder may ring, pure: no I/O, instants in and out. A reminder that falls outside the allowed time is
 * moved to the next allowed instant, never dropped and never rung late at night (docs/reminders.md).
 *
 * An instant is allowed when all of these hold:
 * - in the dealership's zone, it is inside the tenant's `callWindow` on a day the dealership is open (a weekday
 *   with business hours that is not a holiday), so a customer who calls back reaches someone;
 * - in the dealership's zone and in the callee's zone, it is between 08:00 and 21:00 (the US rule for
 *   telephone solicitation, 47 CFR 64.1200(c)(1), enforced for every automated call whatever the tenant sets).
 *
 * The callee's zone: a phone number does not reliably name a time zone (US area codes span zones and numbers are
 * portable; libphonenumber-js gives the country, not the zone), so callers pass `calleeZone` only when they know
 * it, and otherwise the dealership's zone stands in for it. Windows are wall-clock rules evaluated with luxon in
 * the right zone for each date, so DST days are right: a window opening at 08:00 on a spring-forward day opens at
 * 08:00 of the new offset, and a due time inside the skipped hour is simply before that opening.
 */
import { DateTime } from 'luxon';

/** luxon's own type for a DateTime whose validity is not tracked statically (every one here comes from a valid instant). */
type Instant = DateTime<boolean>;
import type { Weekday } from '../tenancy/config.js';

/** Hours of the day (local, HH:MM) outside which no automated call is placed, whatever the tenant configures. */
export const LEGAL_WINDOW = { start: '08:00', end: '21:00' } as const;
/** The tenant window when its config names none. */
export const DEFAULT_CALL_WINDOW = { start: '09:00', end: '19:00' } as const;
/** More than a year of closed days means the config can never ring (e.g. every weekday closed): give up. */
const MAX_DAYS = 400;
const WEEKDAYS: readonly Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

export interface CallWindowPolicy {
  /** The dealership's IANA zone. */
  timezone: string;
  /** Local HH:MM, start inclusive, end exclusive. */
  callWindow?: { start: string; end: string };
  /** Days with no interval (or absent) are closed; when the whole object is absent every day is open. */
  businessHours?: Partial<Record<Weekday, { open: string; close: string }[]>>;
  /** Local dates (YYYY-MM-DD) the dealership is closed. */
  holidays?: string[];
}

const minutes = (hhmm: string): number => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
const hhmmOf = (m: number): string => `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;

/** The instant of wall time `hhmm` on `day`'s date in `day`'s zone (a time in a DST gap moves forward, luxon's rule). */
function at(day: Instant, hhmm: string): Instant {
  return day.set({ hour: Number(hhmm.slice(0, 2)), minute: Number(hhmm.slice(3, 5)), second: 0, millisecond: 0 });
}

/** The tenant window clamped to the legal one; null when they don't overlap (nothing may ever ring). */
export function effectiveWindow(w: { start: string; end: string } | undefined): { start: string; end: string } | null {
  const win = w ?? DEFAULT_CALL_WINDOW;
  const start = Math.max(minutes(win.start), minutes(LEGAL_WINDOW.start));
  const end = Math.min(minutes(win.end), minutes(LEGAL_WINDOW.end));
  return start < end ? { start: hhmmOf(start), end: hhmmOf(end) } : null;
}

function isOpenDay(day: Instant, p: CallWindowPolicy): boolean {
  if (p.holidays?.includes(day.toISODate() ?? '')) return false;
  if (!p.businessHours) return true;
  const ivs = p.businessHours[WEEKDAYS[day.weekday - 1]!];
  return Array.isArray(ivs) && ivs.length > 0;
}

/**
 * Moves `t` to the next start of [start, end) on an acceptable day in `zone`, or returns it when it is inside.
 * `openDay` decides which local dates count.
 */
function intoWindow(o: { t: Instant; zone: string; start: string; end: string; openDay: (d: Instant) => boolean }): Instant | null {
  let t: Instant = o.t.setZone(o.zone);
  for (let i = 0; i < MAX_DAYS; i++) {
    const day = t.startOf('day');
    if (!o.openDay(day)) { t = at(day.plus({ days: 1 }), o.start); continue; }
    const open = at(day, o.start);
    const close = at(day, o.end);
    if (t < open) return open;
    if (t < close) return t;
    t = at(day.plus({ days: 1 }), o.start);
  }
  return null;
}

/**
 * The first instant at or after `due` at which the reminder may ring, or null when the policy allows no time at
 * all (a window that does not meet 08:00–21:00, or a year without an open day). Pure; exact to the millisecond.
 */
export function nextAllowedTime(o: { due: Date; policy: CallWindowPolicy; calleeZone?: string }): Date | null {
  const win = effectiveWindow(o.policy.callWindow);
  if (!win) return null;
  const tz = o.policy.timezone;
  const callee = o.calleeZone ?? tz;
  let t: Instant = DateTime.fromJSDate(o.due, { zone: tz });
  // Each constraint can only move t forward; loop until one pass moves nothing (a fixed point satisfies all).
  for (let i = 0; i < MAX_DAYS; i++) {
    const a = intoWindow({ t, zone: tz, start: win.start, end: win.end, openDay: (d) => isOpenDay(d, o.policy) });
    if (!a) return null;
    const b = intoWindow({ t: a, zone: callee, start: LEGAL_WINDOW.start, end: LEGAL_WINDOW.end, openDay: () => true });
    if (!b) return null;
    if (b.toMillis() === t.toMillis()) return b.toJSDate();
    t = b;
  }
  return null;
}

/** Whether `now` is itself an allowed instant (the run-time check). */
export function isCallAllowed(o: { now: Date; policy: CallWindowPolicy; calleeZone?: string }): boolean {
  const next = nextAllowedTime({ due: o.now, policy: o.policy, ...(o.calleeZone ? { calleeZone: o.calleeZone } : {}) });
  return next !== null && next.getTime() === o.now.getTime();
}
