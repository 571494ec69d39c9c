import type { DateTime } from 'luxon';
import { isServiceLaneError } from '../errors.js';
import { customerProfile, defineTool, speechLocale, describeVehicle, ToolFailure, type AppointmentView, type CompiledTool, type ToolContext } from './define.js';
import { bookableDay, bookableStart, inZone, slotToken, speakDay, speakTime, speakWhen, START_PATTERN } from './time.js';

const SERVICE_TYPE = { type: 'string', minLength: 1, maxLength: 40, pattern: '^[a-z][a-z0-9_]{0,39}$' } as const;
const APPOINTMENT_ID = { type: 'string', maxLength: 36, pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' } as const;
const START = { type: 'string', maxLength: 40, pattern: START_PATTERN } as const;
/** How many slots one answer offers: more than this is not something a caller can hold in their head. */
const SLOTS_SPOKEN = 5;

function serviceName(ctx: ToolContext, id: string): string {
  const s = ctx.config.serviceTypes.find((t) => t.id === id);
  if (!s) throw new ToolFailure('VOI_ERR_TOOL_ARGS', `Unknown service type. Offer one of: ${ctx.config.serviceTypes.map((t) => t.name).join(', ')}.`, { fields: ['service_type'] });
  return s.name;
}

function horizon(ctx: ToolContext) {
  return { zone: ctx.config.timezone, horizonDays: ctx.config.bookingHorizonDays, now: ctx.now };
}

export function startOrRefuse(ctx: ToolContext, raw: string, field: string): DateTime {
  const r = bookableStart(raw, horizon(ctx));
  if (!r.ok) throw new ToolFailure('VOI_ERR_TOOL_ARGS', `That time can’t be booked: ${r.reason}.`, { fields: [field] });
  return r.value;
}

function spokenSlot(ctx: ToolContext, iso: string): { slot: string; day: string; time: string } {
  const at = inZone(iso, ctx.config.timezone);
  return { slot: slotToken(at), day: speakDay(at, speechLocale(ctx)), time: speakTime(at, speechLocale(ctx)) };
}

/** Spread the offer over the day (first, last and evenly between) instead of reading out 9:00, 9:15, 9:30. */
function spread<T>(items: readonly T[], n: number): T[] {
  if (items.length <= n) return [...items];
  const out: T[] = [];
  for (let i = 0; i < n; i++) out.push(items[Math.round((i * (items.length - 1)) / (n - 1))]!);
  return out;
}

/** Scheduler "slot taken" → the refusal with the alternatives it found, already in spoken form. */
export function rethrowSlotTaken(ctx: ToolContext, e: unknown): never {
  if (isServiceLaneError(e) && e.code === 'VOI_ERR_SLOT_TAKEN') {
    const alts = ((e.details as { alternatives?: { start: string }[] } | undefined)?.alternatives ?? []).slice(0, 3);
    throw new ToolFailure('VOI_ERR_SLOT_TAKEN', alts.length
      ? 'That time was just taken. Offer these alternatives.'
      : 'That time was just taken and nothing close is free. Offer another day.', { alternatives: alts.map((a) => spokenSlot(ctx, a.start)) });
  }
  throw e;
}

/**
 * The appointment, if and only if it belongs to the verified caller. A missing id and someone else's id get
 * the same answer, so the tool is not an oracle for which ids exist.
 */
export async function ownedAppointment(ctx: ToolContext, appointmentId: string): Promise<AppointmentView> {
  const customerId = ctx.identity.verifiedCustomerId;
  if (!customerId) throw new ToolFailure('VOI_ERR_NOT_VERIFIED', 'The caller must be verified first.');
  let appt: AppointmentView | null;
  try {
    appt = await ctx.scheduler.get({ tenantId: ctx.identity.tenantId, appointmentId });
  } catch (e) {
    if (isServiceLaneError(e) && e.code === 'VOI_ERR_APPOINTMENT_NOT_FOUND') appt = null;
    else throw e;
  }
  if (!appt || appt.customerId !== customerId) {
    throw new ToolFailure('VOI_ERR_NOT_OWNED', 'I can’t find that appointment on this caller’s account. Use get_upcoming_appointments.');
  }
  return appt;
}

export function describeAppointment(ctx: ToolContext, a: AppointmentView): Record<string, unknown> {
  const at = inZone(a.start, ctx.config.timezone);
  return {
    appointment_id: a.id,
    service: a.serviceName ?? ctx.config.serviceTypes.find((t) => t.id === a.serviceType)?.name ?? a.serviceType,
    when: speakWhen(at, speechLocale(ctx)),
  };
}

const getAvailableSlots = defineTool({
  name: 'get_available_slots',
  description: 'Free appointment times on one day for a service. Each slot has an opaque `slot` value to pass to book_appointment or reschedule_appointment.',
  access: 'always',
  // On a reminder call the callee moves their appointment with it; the reminder tool takes the same `slot`.
  reminderCall: 'also',
  offered: (identity) => !identity.reminder || identity.reminder.callee === 'confirmed',
  params: {
    date: { type: 'string', maxLength: 10, format: 'date', description: 'The local date, YYYY-MM-DD.' },
    service_type: { ...SERVICE_TYPE, description: 'The service type id.' },
  },
  async run(ctx, args) {
    const service = serviceName(ctx, args.service_type);
    const day = bookableDay(args.date, horizon(ctx));
    if (!day.ok) throw new ToolFailure('VOI_ERR_TOOL_ARGS', `That date can’t be booked: ${day.reason}.`, { fields: ['date'] });
    const slots = await ctx.scheduler.availableSlots({ tenantId: ctx.identity.tenantId, date: args.date, serviceType: args.service_type, now: ctx.now, limit: 200 });
    const dayName = speakDay(day.value, speechLocale(ctx));
    if (slots.length === 0) return { content: { day: dayName, service, slots: [], message: 'No openings that day. Offer another day.' } };
    return {
      content: {
        day: dayName, service,
        slots: spread(slots, SLOTS_SPOKEN).map((s) => { const x = spokenSlot(ctx, s.start); return { slot: x.slot, time: x.time }; }),
        ...(slots.length > SLOTS_SPOKEN ? { more_available: true } : {}),
      },
    };
  },
});

const bookAppointment = defineTool({
  name: 'book_appointment',
  description: 'Book an appointment for the verified caller at a slot from get_available_slots. Confirm day, time and service with the caller first.',
  access: 'verified',
  params: {
    start: { ...START, description: 'The `slot` value from get_available_slots.' },
    service_type: { ...SERVICE_TYPE, description: 'The service type id.' },
    vehicle_id: { type: 'string', nullable: true, minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$', description: "A vehicle_id from the caller's account, or null." },
  },
  async run(ctx, args) {
    const customerId = ctx.identity.verifiedCustomerId;
    if (!customerId) throw new ToolFailure('VOI_ERR_NOT_VERIFIED', 'The caller must be verified first.');
    const service = serviceName(ctx, args.service_type);
    const at = startOrRefuse(ctx, args.start, 'start');
    let profile = await customerProfile(ctx, customerId);
    if (!profile) throw new ToolFailure('VOI_ERR_NOT_VERIFIED', 'The caller’s account can’t be found. Offer to transfer to an advisor.');
    let vehicle = args.vehicle_id === null ? undefined : profile.vehicles.find((v) => v.id === args.vehicle_id);
    // Not in the cached list: re-read once before refusing (added in the CRM since this call read it).
    if (args.vehicle_id !== null && !vehicle) {
      profile = await customerProfile(ctx, customerId, { fresh: true });
      vehicle = profile?.vehicles.find((v) => v.id === args.vehicle_id);
    }
    if (!profile) throw new ToolFailure('VOI_ERR_NOT_VERIFIED', 'The caller’s account can’t be found. Offer to transfer to an advisor.');
    if (args.vehicle_id !== null && !vehicle) throw new ToolFailure('VOI_ERR_NOT_OWNED', 'That vehicle is not on this caller’s account.', { fields: ['vehicle_id'] });
    const { customer, vehicles } = profile;
    // One car on file: the caller means that one.
    if (!vehicle && vehicles.length === 1) vehicle = vehicles[0];
    const phone = customer.phone ?? ctx.identity.callerPhone ?? undefined;
    const book = (idempotencyKey: string) => ctx.scheduler.book({
      tenantId: ctx.identity.tenantId,
      customer: { id: customer.id, name: `${customer.firstName} ${customer.lastName}`, ...(phone ? { phone } : {}) },
      ...(vehicle ? { vehicleId: vehicle.id } : {}),
      serviceType: args.service_type,
      start: at.toISO() ?? args.start,
      callSid: ctx.identity.callSid,
      idempotencyKey,
      now: ctx.now,
    });
    // The model repeating the same call (retry, duplicate tool call) must not book twice.
    const key = `${ctx.identity.callSid}:book:${at.toUTC().toISO()}:${args.service_type}`;
    let appt: AppointmentView;
    try {
      appt = await book(key);
      // Same slot booked, cancelled and asked for again in one call: the key points at the cancelled one.
      if (appt.status === 'cancelled') appt = await book(`${key}:after:${appt.id}`);
    } catch (e) {
      rethrowSlotTaken(ctx, e);
    }
    return {
      content: {
        booked: true, ...describeAppointment(ctx, appt), service,
        ...(vehicle ? { vehicle: describeVehicle(vehicle) } : {}),
      },
    };
  },
});

const getUpcomingAppointments = defineTool({
  name: 'get_upcoming_appointments',
  description: "The verified caller's upcoming appointments, with the appointment_id each change needs.",
  access: 'verified',
  params: {},
  async run(ctx) {
    const customerId = ctx.identity.verifiedCustomerId;
    if (!customerId) throw new ToolFailure('VOI_ERR_NOT_VERIFIED', 'The caller must be verified first.');
    const list = await ctx.scheduler.upcoming({ tenantId: ctx.identity.tenantId, customerId, now: ctx.now });
    return { content: { appointments: list.filter((a) => a.status === 'booked').slice(0, 5).map((a) => describeAppointment(ctx, a)) } };
  },
});

const cancelAppointment = defineTool({
  name: 'cancel_appointment',
  description: "Cancel one of the verified caller's appointments (appointment_id from get_upcoming_appointments). Confirm with the caller first.",
  access: 'verified',
  params: {
    appointment_id: { ...APPOINTMENT_ID, description: 'appointment_id from get_upcoming_appointments.' },
    reason: { type: 'string', nullable: true, maxLength: 300, description: 'Why, in a few words, or null.' },
  },
  async run(ctx, args) {
    const appt = await ownedAppointment(ctx, args.appointment_id);
    if (appt.status === 'cancelled') return { content: { cancelled: true, already: true, ...describeAppointment(ctx, appt) } };
    await ctx.scheduler.cancel({ tenantId: ctx.identity.tenantId, appointmentId: appt.id, ...(args.reason ? { reason: args.reason } : {}) });
    return { content: { cancelled: true, ...describeAppointment(ctx, appt) } };
  },
});

const rescheduleAppointment = defineTool({
  name: 'reschedule_appointment',
  description: "Move one of the verified caller's appointments to a slot from get_available_slots. Confirm with the caller first.",
  access: 'verified',
  params: {
    appointment_id: { ...APPOINTMENT_ID, description: 'appointment_id from get_upcoming_appointments.' },
    new_start: { ...START, description: 'The `slot` value from get_available_slots.' },
  },
  async run(ctx, args) {
    const at = startOrRefuse(ctx, args.new_start, 'new_start');
    const appt = await ownedAppointment(ctx, args.appointment_id);
    let moved: AppointmentView;
    try {
      moved = await ctx.scheduler.reschedule({ tenantId: ctx.identity.tenantId, appointmentId: appt.id, newStart: at.toISO() ?? args.new_start, now: ctx.now });
    } catch (e) {
      rethrowSlotTaken(ctx, e);
    }
    return { content: { rescheduled: true, ...describeAppointment(ctx, moved) } };
  },
});

export const APPOINTMENT_TOOLS: readonly CompiledTool[] = [
  getAvailableSlots, bookAppointment, getUpcomingAppointments, cancelAppointment, rescheduleAppointment,
];
