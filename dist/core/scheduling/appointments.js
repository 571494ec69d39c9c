import { toLocalIso } from './availability.js';
export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** No booking lasts a day (service durations are ≤ 8 h), so this lower bound on starts_at keeps range scans short. */
export const MAX_APPOINTMENT_MS = 24 * 3600_000;
export function toAppointment(r, config) {
    return {
        id: r.id,
        customerId: r.customer_id,
        vehicleId: r.vehicle_id,
        resourceId: r.resource_id,
        serviceType: r.service_type,
        serviceName: r.service_name ?? config.serviceTypes.find((s) => s.id === r.service_type)?.name ?? r.service_type,
        start: toLocalIso(r.starts_at.getTime(), config.timezone),
        end: toLocalIso(r.ends_at.getTime(), config.timezone),
        status: r.status,
        syncState: r.sync_state,
    };
}
/** The SDK's view of a booking, for mirroring to a calendar plugin. */
export function toCalendarDto(r, config) {
    return {
        id: r.id,
        resourceId: r.resource_id,
        serviceType: r.service_type,
        start: toLocalIso(r.starts_at.getTime(), config.timezone),
        end: toLocalIso(r.ends_at.getTime(), config.timezone),
        timezone: config.timezone,
        customer: { id: r.customer_id, name: r.customer_name ?? 'Customer', ...(r.customer_phone ? { phone: r.customer_phone } : {}) },
        ...(r.vehicle_id ? { vehicle: { id: r.vehicle_id } } : {}),
        ...(r.notes ? { notes: r.notes } : {}),
    };
}
/**
 * Booked time overlapping [fromMs, toMs) as one indexed range query (appointments_range): the starts_at lower
 * bound turns "ends after from" into a bounded index scan instead of every past booking.
 */
export async function bookedBusy(trx, o) {
    const q = trx('appointments')
        .whereNot('status', 'cancelled')
        .where('starts_at', '<', new Date(o.toMs))
        .where('starts_at', '>', new Date(o.fromMs - MAX_APPOINTMENT_MS))
        .where('ends_at', '>', new Date(o.fromMs))
        .select('resource_id', 'starts_at', 'ends_at');
    if (o.excludeId)
        q.whereNot('id', o.excludeId);
    const rows = await q;
    return rows.map((r) => ({ startMs: r.starts_at.getTime(), endMs: r.ends_at.getTime(), resourceId: r.resource_id }));
}
//# sourceMappingURL=appointments.js.map