import { DateTime } from 'luxon';

/** Shape of a slot start the model may send: local wall-clock time, optionally with the offset we issued. */
export const START_PATTERN = '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\\.[0-9]{1,3})?)?(Z|[+-][0-9]{2}:[0-9]{2})?$';

export interface Horizon { zone: string; horizonDays: number; now: Date }

export type Checked<T> = { ok: true; value: T } | { ok: false; reason: string };

/** Today in the dealership's zone (not the server's). */
export function localToday(o: { zone: string; now: Date }): DateTime {
  return DateTime.fromJSDate(o.now, { zone: o.zone }).startOf('day');
}

/**
 * A calendar date (already ajv-checked as a real date) as the dealership's local day, refused when it is
 * before today or past the booking horizon, both measured in the dealership's zone.
 */
export function bookableDay(date: string, o: Horizon): Checked<DateTime> {
  const day = DateTime.fromISO(date, { zone: o.zone });
  if (!day.isValid) return { ok: false, reason: 'date is not a real calendar date' };
  const today = localToday(o);
  if (day < today) return { ok: false, reason: 'date is in the past' };
  if (day > today.plus({ days: o.horizonDays })) return { ok: false, reason: `date is more than ${o.horizonDays} days ahead` };
  return { ok: true, value: day };
}

/**
 * A slot start: local time in the dealership's zone unless it carries an offset. A local time that the
 * spring-forward gap skips is refused instead of being silently moved an hour (luxon's default).
 */
export function bookableStart(raw: string, o: Horizon): Checked<DateTime> {
  const at = DateTime.fromISO(raw, { zone: o.zone });
  if (!at.isValid) return { ok: false, reason: 'start is not a real date and time' };
  const hasOffset = /(Z|[+-][0-9]{2}:[0-9]{2})$/.test(raw);
  if (!hasOffset && at.toFormat("yyyy-MM-dd'T'HH:mm") !== raw.slice(0, 16)) {
    return { ok: false, reason: 'that local time does not exist on that day (clock change)' };
  }
  if (at.toMillis() <= o.now.getTime()) return { ok: false, reason: 'start is in the past' };
  if (at.startOf('day') > localToday(o).plus({ days: o.horizonDays })) {
    return { ok: false, reason: `start is more than ${o.horizonDays} days ahead` };
  }
  return { ok: true, value: at };
}

/** The opaque slot handle given to the model: local ISO with the offset, so fall-back hours stay unambiguous. */
export function slotToken(at: DateTime): string {
  return at.toISO({ suppressMilliseconds: true, suppressSeconds: true }) ?? '';
}

// Spoken dates live with the other per-language wording (core/i18n); re-exported for the tools.
export { speakDay, speakTime, speakWhen, speakDate } from '../i18n/speech-dates.js';

/** An ISO instant (or Date) in the dealership's zone. */
export function inZone(instant: string | Date, zone: string): DateTime {
  return typeof instant === 'string' ? DateTime.fromISO(instant, { zone }) : DateTime.fromJSDate(instant, { zone });
}
