/**
 * Slot generation, pure: no I/O, `now` passed in. Hours are local wall-clock rules in the dealership's IANA
 * zone; every slot is turned into an instant for its own date (never with a fixed offset).
 *
 * DST policy (tenancy-security §5.6):
 * - Slots live on a wall-clock grid: each open interval yields a start every `slotGranularityMin` from `open`.
 * - A grid time that does not exist (the spring-forward gap, e.g. 02:30 on 2027-03-14 in Los Angeles) is
 *   skipped.
 * - A grid time that occurs twice (the fall-back repeat, e.g. 01:30 on 2027-11-07) is offered once, at its
 *   earlier occurrence (the pre-transition offset), so a day never lists the same wall time twice.
 * - A service fits when start + duration (elapsed time) ≤ the instant of `close` that day. A `close` inside
 *   the gap maps to the instant the pre-transition offset would give it (luxon's rule).
 */
import { DateTime, IANAZone } from 'luxon';
import { ServiceLaneError } from '../errors.js';
const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const DATE_RE = /^\d{4}-\d{2}-\d{2}$/;
const MIN = 60_000;
function invalid(reason, message, extra = {}) {
    return new ServiceLaneError('VOI_ERR_BOOKING_INVALID', message, { reason, ...extra });
}
export function serviceTypeOf(config, id) {
    const s = config.serviceTypes.find((t) => t.id === id);
    if (!s)
        throw invalid('service_type', 'unknown service type', { serviceTypes: config.serviceTypes.map((t) => t.id) });
    return s;
}
/** Resource ids that may take the service, in config order (the order "first free" walks). */
export function resourcesFor(config, service) {
    const kinds = service.resourceKinds ?? ['bay'];
    return config.resources.filter((r) => kinds.includes(r.kind)).map((r) => r.id);
}
/** Parses YYYY-MM-DD as a real calendar date (2099-02-30 is refused), at local midnight in `zone`. */
export function parseLocalDate(date, zone) {
    if (typeof date !== 'string' || !DATE_RE.test(date))
        throw invalid('date', 'date must be YYYY-MM-DD');
    const d = DateTime.fromISO(date, { zone });
    if (!d.isValid)
        throw invalid('date', 'date does not exist');
    return d.startOf('day');
}
const hhmm = (s) => Number(s.slice(0, 2)) * 60 + Number(s.slice(3, 5));
/**
 * Maps a wall-clock minute of one local date to an instant, or null when it doesn't exist. Days without a
 * transition take the fast path; on a transition day each of the two offsets is tried and kept only if the
 * instant really has that offset, and the earlier valid instant wins (the ambiguity rule above).
 */
function wallClockResolver(zone, y, m, d) {
    const midnightUtc = Date.UTC(y, m - 1, d);
    const before = zone.offset(midnightUtc - 12 * 60 * MIN);
    const after = zone.offset(midnightUtc + 36 * 60 * MIN);
    if (before === after)
        return (minute) => midnightUtc + minute * MIN - before * MIN;
    const offsets = [before, after];
    return (minute) => {
        let best = null;
        for (const off of offsets) {
            const ms = midnightUtc + minute * MIN - off * MIN;
            if (zone.offset(ms) === off && (best === null || ms < best))
                best = ms;
        }
        return best;
    };
}
function zoneOf(config) {
    const z = IANAZone.create(config.timezone);
    if (!z.isValid)
        throw invalid('date', 'dealership time zone is invalid');
    return z;
}
/** Local date bounds the booking horizon allows: [today, today + bookingHorizonDays]. */
function horizon(config, now) {
    const today = DateTime.fromJSDate(now, { zone: config.timezone }).startOf('day');
    return { today, last: today.plus({ days: config.bookingHorizonDays }) };
}
/**
 * Grid starts for one local date and service, in time order: open days only, holidays closed, the whole
 * duration inside an open interval, strictly after `now`. Throws VOI_ERR_BOOKING_INVALID for a malformed date,
 * an unknown service, a past date or one beyond the horizon.
 */
export function candidateSlots(o) {
    const { config } = o;
    const service = serviceTypeOf(config, o.serviceType);
    const day = parseLocalDate(o.date, config.timezone);
    const { today, last } = horizon(config, o.now);
    if (day < today)
        throw invalid('past', 'that date is in the past');
    if (day > last)
        throw invalid('beyond_horizon', `bookings open ${config.bookingHorizonDays} days ahead`, { horizonDays: config.bookingHorizonDays });
    return gridFor({ config, day, durationMin: service.durationMin, nowMs: o.now.getTime() });
}
function gridFor(o) {
    const { config, day } = o;
    const isoDate = day.toISODate() ?? '';
    if (config.holidays.includes(isoDate))
        return [];
    const weekday = WEEKDAYS[day.weekday - 1];
    const intervals = weekday ? config.businessHours[weekday] ?? [] : [];
    if (intervals.length === 0)
        return [];
    const resolve = wallClockResolver(zoneOf(config), day.year, day.month, day.day);
    const step = config.slotGranularityMin;
    const durationMs = o.durationMin * MIN;
    const out = [];
    const seen = new Set();
    for (const iv of intervals) {
        const open = hhmm(iv.open);
        const close = hhmm(iv.close);
        // A close inside the gap has no instant of its own; take the pre-transition reading (luxon's shift).
        const closeMs = resolve(close) ?? DateTime.fromObject({ year: day.year, month: day.month, day: day.day, hour: Math.floor(close / 60), minute: close % 60 }, { zone: config.timezone }).toMillis();
        for (let minute = open; minute < close; minute += step) {
            const startMs = resolve(minute);
            if (startMs === null)
                continue; // spring-forward gap
            const endMs = startMs + durationMs;
            if (endMs > closeMs)
                break; // later grid times only end later
            if (startMs <= o.nowMs || seen.has(startMs))
                continue;
            seen.add(startMs);
            out.push({ startMs, endMs });
        }
    }
    return out.sort((a, b) => a.startMs - b.startMs);
}
/** The first resource (config order) with nothing busy overlapping [startMs, endMs), or null. */
export function firstFreeResource(o) {
    let shopBusy = false;
    const taken = new Set();
    for (const b of o.busy) {
        if (b.startMs >= o.endMs || b.endMs <= o.startMs)
            continue;
        if (b.resourceId === undefined) {
            shopBusy = true;
            break;
        }
        taken.add(b.resourceId);
    }
    if (shopBusy)
        return null;
    for (const r of o.resourceIds)
        if (!taken.has(r))
            return r;
    return null;
}
function formatWithOffset(ms, offsetMin) {
    const local = new Date(ms + offsetMin * MIN).toISOString();
    const abs = Math.abs(offsetMin);
    const frac = ms % 1000 === 0 ? '' : local.slice(19, 23);
    return `${local.slice(0, 19)}${frac}${offsetMin < 0 ? '-' : '+'}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}
/** ISO 8601 in the dealership's zone with its offset, e.g. 2027-03-14T01:45:00-08:00. */
export function toLocalIso(ms, zone) {
    const z = IANAZone.create(zone);
    return z.isValid ? formatWithOffset(ms, z.offset(ms)) : new Date(ms).toISOString();
}
/**
 * A formatter for many instants inside [fromMs, toMs]. A zone offset lookup costs ~10 µs (Intl), and a day
 * lists dozens of slots; when the offset is the same at both ends (no transition between), it is looked up once.
 */
function localIsoFormatter(zone, fromMs, toMs) {
    const z = IANAZone.create(zone);
    if (!z.isValid)
        return (ms) => new Date(ms).toISOString();
    const a = z.offset(fromMs);
    if (a === z.offset(toMs))
        return (ms) => formatWithOffset(ms, a);
    return (ms) => formatWithOffset(ms, z.offset(ms));
}
function toSlot(c, resourceId, fmt) {
    return { start: fmt(c.startMs), end: fmt(c.endMs), resourceId };
}
/** Candidates minus busy time, each on its first free allowed resource. */
export function assignResources(o) {
    const resourceIds = resourcesFor(o.config, serviceTypeOf(o.config, o.serviceType));
    const out = [];
    if (o.candidates.length === 0)
        return out;
    const fmt = localIsoFormatter(o.config.timezone, o.candidates[0].startMs, Math.max(...o.candidates.map((c) => c.endMs)));
    for (const c of o.candidates) {
        const r = firstFreeResource({ resourceIds, startMs: c.startMs, endMs: c.endMs, busy: o.busy });
        if (r === null)
            continue;
        out.push(toSlot(c, r, fmt));
        if (o.limit !== undefined && out.length >= o.limit)
            break;
    }
    return out;
}
/** Free slots for one local date: the grid minus busy time, each on its first free allowed resource. */
export function freeSlots(o) {
    return assignResources({ ...o, candidates: candidateSlots(o) });
}
/**
 * The next free slots strictly after `afterMs`, walking forward day by day (at most `maxDays` local dates,
 * never past the horizon). Offered when a requested slot was just taken.
 */
export function nextFreeSlots(o) {
    const { config } = o;
    const service = serviceTypeOf(config, o.serviceType);
    const resourceIds = resourcesFor(config, service);
    const { today, last } = horizon(config, o.now);
    let day = DateTime.fromMillis(Math.max(o.afterMs, o.now.getTime()), { zone: config.timezone }).startOf('day');
    if (day < today)
        day = today;
    const out = [];
    for (let i = 0; i < o.maxDays && day <= last && out.length < o.limit; i++, day = day.plus({ days: 1 })) {
        const grid = gridFor({ config, day, durationMin: service.durationMin, nowMs: o.now.getTime() });
        if (grid.length === 0)
            continue;
        const fmt = localIsoFormatter(config.timezone, grid[0].startMs, Math.max(...grid.map((c) => c.endMs)));
        for (const c of grid) {
            if (c.startMs <= o.afterMs)
                continue;
            const r = firstFreeResource({ resourceIds, startMs: c.startMs, endMs: c.endMs, busy: o.busy });
            if (r === null)
                continue;
            out.push(toSlot(c, r, fmt));
            if (out.length >= o.limit)
                break;
        }
    }
    return out;
}
/**
 * Checks that `start` (ISO 8601 with an offset or Z) is a slot the grid would offer for the service: a real
 * instant, not past, inside the horizon, on an open day, on the grid and fitting before close. Returns its
 * candidate and local date, or throws VOI_ERR_BOOKING_INVALID with the reason.
 */
export function resolveBookingStart(o) {
    const { config } = o;
    if (typeof o.start !== 'string' || o.start.length > 40 || !/(Z|[+-]\d{2}:?\d{2})$/i.test(o.start)) {
        throw invalid('start', 'start must be an ISO 8601 date-time with an offset');
    }
    const dt = DateTime.fromISO(o.start, { zone: config.timezone });
    if (!dt.isValid)
        throw invalid('start', 'start is not a valid date-time');
    const startMs = dt.toMillis();
    const service = serviceTypeOf(config, o.serviceType);
    if (startMs <= o.now.getTime())
        throw invalid('past', 'that time has already passed');
    const date = dt.toISODate() ?? '';
    const day = dt.startOf('day');
    const { last } = horizon(config, o.now);
    if (day > last)
        throw invalid('beyond_horizon', `bookings open ${config.bookingHorizonDays} days ahead`, { horizonDays: config.bookingHorizonDays });
    const grid = gridFor({ config, day, durationMin: service.durationMin, nowMs: o.now.getTime() });
    if (grid.length === 0 && (config.holidays.includes(date) || (config.businessHours[WEEKDAYS[day.weekday - 1] ?? 'sun'] ?? []).length === 0)) {
        throw invalid('closed', 'the dealership is closed that day');
    }
    const hit = grid.find((c) => c.startMs === startMs);
    if (!hit)
        throw invalid('not_a_slot', `start must be an offered slot: inside business hours, on the ${config.slotGranularityMin}-minute grid, with room for the service before closing`);
    return { ...hit, date };
}
//# sourceMappingURL=availability.js.map