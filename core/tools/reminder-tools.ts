import { describeAppointment, ownedAppointment, rethrowSlotTaken, startOrRefuse } from './appointment-tools.js';
import { customerProfile, defineTool, describeVehicle, sameName, ToolFailure, type AppointmentView, type CompiledTool, type ReminderCallPort, type ToolContext } from './define.js';
import { MAX_CALLEE_ATTEMPTS, type CallIdentity, type ReminderCallFacts, type ReminderCallOutcome } from './identity.js';
import { START_PATTERN } from './time.js';

/**
 * The tools of an outbound reminder call a person answered (docs/reminders.md, "When a person answers"). None takes
 * an appointment or customer id: the call is about the one appointment the server loaded from the stream ticket
 * (identity.reminder), so a callee who says "cancel appointment <some id>" has no argument to put it in, and the
 * inbound tools that do take ids are not offered on this call (toolbox.ts isOffered).
 *
 * Callee confirmation (verify_callee): whoever answers the customer's number may be someone else, so nothing about
 * the appointment is said until they give the customer's LAST name (the greeting only says the first) and one more
 * factor: the ZIP code on the account or the make of the car the appointment is for. Every factor given must match.
 * Two misses per call, then the tool is gone and the agent offers the dealership's number instead.
 */

const NAME = { type: 'string', minLength: 1, maxLength: 100, pattern: "^[\\p{L}\\p{M}' .-]+$" } as const;

function facts(ctx: ToolContext): { r: ReminderCallFacts; port: ReminderCallPort } {
  const r = ctx.identity.reminder;
  if (!r || !ctx.reminderCall) throw new ToolFailure('VOI_ERR_TOOL_UNKNOWN', 'That is only available on a reminder call.');
  return { r, port: ctx.reminderCall };
}

/** The callee proved to be the customer, and this call has not yet decided the reminder. */
function confirmedAndOpen(ctx: ToolContext): { r: ReminderCallFacts; port: ReminderCallPort } {
  const f = facts(ctx);
  if (f.r.callee !== 'confirmed' || ctx.identity.verifiedCustomerId !== f.r.customerId) {
    throw new ToolFailure('VOI_ERR_CALLEE_NOT_VERIFIED', 'Confirm that you are speaking with the customer first (verify_callee).');
  }
  if (f.r.outcome) throw new ToolFailure('VOI_ERR_REMINDER_OUTCOME_RECORDED', 'This call already settled the appointment. For anything more, offer to transfer to an advisor.');
  return f;
}

/** Records the outcome in the call's facts; a write that lost to an earlier one is said as such. */
async function settle(ctx: ToolContext, o: { r: ReminderCallFacts; port: ReminderCallPort; outcome: ReminderCallOutcome }): Promise<void> {
  const wrote = await o.port.recordOutcome(o.outcome);
  o.r.outcome = o.outcome;
  if (!wrote) ctx.logger.warn({ tenantId: ctx.identity.tenantId, callSid: ctx.identity.callSid, attemptId: o.r.attemptId, outcome: o.outcome }, 'reminder attempt already had an outcome; kept the first');
}

const unconfirmed = (identity: CallIdentity): boolean => identity.reminder?.callee === 'unconfirmed';
const confirmedOpen = (identity: CallIdentity): boolean => identity.reminder?.callee === 'confirmed' && identity.reminder.outcome === null;

const verifyCallee = defineTool({
  name: 'verify_callee',
  description: 'Check that the person who answered is the customer, from the last name they give and the ZIP code on their account or the make of their car. Only after `verified: true` may the appointment be discussed.',
  access: 'always',
  reminderCall: 'only',
  offered: (identity) => unconfirmed(identity) && identity.reminder!.calleeAttempts < MAX_CALLEE_ATTEMPTS,
  params: {
    last_name: { ...NAME, description: 'The last name the person gave.' },
    zip: { type: 'string', nullable: true, maxLength: 5, pattern: '^[0-9]{5}$', description: 'The 5-digit ZIP code they gave, or null.' },
    vehicle_make: { type: 'string', nullable: true, minLength: 1, maxLength: 40, pattern: "^[\\p{L}\\p{N}' .-]+$", description: 'The make of their car they gave (e.g. Honda), or null.' },
  },
  async run(ctx, args) {
    const { r } = facts(ctx);
    if (args.zip === null && args.vehicle_make === null) {
      throw new ToolFailure('VOI_ERR_TOOL_ARGS', 'Ask for the ZIP code on the account or the make of the car as well.', { fields: ['zip', 'vehicle_make'] });
    }
    const appt = await ctx.scheduler.get({ tenantId: ctx.identity.tenantId, appointmentId: r.appointmentId });
    const profile = await customerProfile(ctx, r.customerId, { fresh: true });
    if (!appt || appt.customerId !== r.customerId || !profile) {
      throw new ToolFailure('VOI_ERR_TOOL_FAILED', 'I can’t check that right now. Do not discuss the appointment; offer to transfer to an advisor.');
    }
    const { customer, vehicles } = profile;
    // The appointment's own car when it names one, else any car on the account.
    const cars = appt.vehicleId ? vehicles.filter((v) => v.id === appt.vehicleId) : vehicles;
    const zipOk = args.zip === null || (customer.zip ?? '').replace(/[^0-9]/g, '').slice(0, 5) === args.zip;
    const makeOk = args.vehicle_make === null || cars.some((v) => v.make !== undefined && sameName(v.make, args.vehicle_make!));
    if (!sameName(customer.lastName, args.last_name) || !zipOk || !makeOk) {
      r.calleeAttempts++;
      const left = MAX_CALLEE_ATTEMPTS - r.calleeAttempts;
      return {
        content: {
          verified: false,
          next_step: left > 0
            ? 'Say the details did not match and ask once more for the last name and the ZIP code or car make. Say nothing about the appointment.'
            : `Say nothing about the appointment. Say the customer is welcome to call ${ctx.config.name} back, then say goodbye and use end_call.`,
        },
      };
    }
    r.callee = 'confirmed';
    // The one customer this call may act for: the appointment's, never one the model or the callee names.
    ctx.identity.verifiedCustomerId = r.customerId;
    const vehicle = cars[0];
    return {
      content: {
        verified: true,
        first_name: customer.firstName,
        appointment: { ...describeAppointment(ctx, appt as AppointmentView), service_type: appt.serviceType, ...(vehicle ? { vehicle: describeVehicle(vehicle) } : {}) },
        next_step: 'Tell them the day, time and service and ask if it still works: confirm_reminder_appointment; or get_available_slots (with this service_type) and reschedule_reminder_appointment; or cancel_reminder_appointment.',
      },
    };
  },
});

const calleeNotAvailable = defineTool({
  name: 'callee_not_available',
  description: 'The person who answered is not the customer (wrong_person), or the customer cannot come to the phone (not_available). Say a polite goodbye first; the call ends. Leave no details.',
  access: 'always',
  reminderCall: 'only',
  offered: (identity) => unconfirmed(identity) && identity.reminder!.outcome === null,
  params: {
    reason: { type: 'string', maxLength: 13, pattern: '^(wrong_person|not_available)$', description: '`wrong_person` or `not_available`.' },
  },
  async run(ctx, args) {
    const { r, port } = facts(ctx);
    if (r.callee === 'confirmed') throw new ToolFailure('VOI_ERR_TOOL_UNKNOWN', 'The customer is on the line.');
    await settle(ctx, { r, port, outcome: args.reason as 'wrong_person' | 'not_available' });
    return { content: { ending: true }, control: 'end' };
  },
});

const confirmReminderAppointment = defineTool({
  name: 'confirm_reminder_appointment',
  description: 'The customer confirmed they will come to the appointment this call is about.',
  access: 'always',
  reminderCall: 'only',
  offered: confirmedOpen,
  params: {},
  async run(ctx) {
    const f = confirmedAndOpen(ctx);
    const appt = await ownedAppointment(ctx, f.r.appointmentId);
    if (appt.status !== 'booked') throw new ToolFailure('VOI_ERR_APPOINTMENT_STATE', 'That appointment is no longer booked. Offer to transfer to an advisor.');
    await settle(ctx, { ...f, outcome: 'confirmed' });
    return { content: { confirmed: true, ...describeAppointment(ctx, appt) } };
  },
});

const rescheduleReminderAppointment = defineTool({
  name: 'reschedule_reminder_appointment',
  description: 'Move the appointment this call is about to a slot from get_available_slots. Say the new day and time back and get a yes first.',
  access: 'always',
  reminderCall: 'only',
  offered: confirmedOpen,
  params: {
    new_start: { type: 'string', maxLength: 40, pattern: START_PATTERN, description: 'The `slot` value from get_available_slots.' },
  },
  async run(ctx, args) {
    const f = confirmedAndOpen(ctx);
    const at = startOrRefuse(ctx, args.new_start, 'new_start');
    const appt = await ownedAppointment(ctx, f.r.appointmentId);
    let moved: AppointmentView;
    try {
      // The scheduler supersedes the old time's reminders and schedules the new time's in the move's transaction.
      moved = await ctx.scheduler.reschedule({ tenantId: ctx.identity.tenantId, appointmentId: appt.id, newStart: at.toISO() ?? args.new_start, now: ctx.now });
    } catch (e) {
      rethrowSlotTaken(ctx, e);
    }
    await settle(ctx, { ...f, outcome: 'rescheduled' });
    return { content: { rescheduled: true, ...describeAppointment(ctx, moved) } };
  },
});

const cancelReminderAppointment = defineTool({
  name: 'cancel_reminder_appointment',
  description: 'Cancel the appointment this call is about. Say it back and get a clear yes first.',
  access: 'always',
  reminderCall: 'only',
  offered: confirmedOpen,
  params: {
    reason: { type: 'string', nullable: true, maxLength: 300, description: 'Why, in a few words, or null.' },
  },
  async run(ctx, args) {
    const f = confirmedAndOpen(ctx);
    const appt = await ownedAppointment(ctx, f.r.appointmentId);
    // The scheduler cancels the appointment's remaining reminders in the same transaction.
    await ctx.scheduler.cancel({ tenantId: ctx.identity.tenantId, appointmentId: appt.id, ...(args.reason ? { reason: args.reason } : {}) });
    await settle(ctx, { ...f, outcome: 'cancelled' });
    return { content: { cancelled: true, ...describeAppointment(ctx, appt) } };
  },
});

/**
 * "Please don't call me again." Offered before confirmation too: the opt-out is for the dialled number, whoever holds
 * it may ask for the calls to stop, and it discloses nothing. The appointment itself is left as it is.
 */
const optOutOfReminders = defineTool({
  name: 'opt_out_of_reminders',
  description: 'The person asks not to get reminder calls at this number any more. Confirm that they will get no more reminder calls, then say goodbye.',
  access: 'always',
  reminderCall: 'only',
  offered: (identity) => identity.reminder !== undefined && !identity.reminder.optedOut,
  params: {},
  async run(ctx) {
    const { r, port } = facts(ctx);
    const { outcomeWritten } = await port.optOut();
    r.optedOut = true;
    if (outcomeWritten) r.outcome = 'opted_out';
    return { content: { opted_out: true, next_step: 'Say they will get no more reminder calls at this number, then say goodbye and use end_call.' } };
  },
});

export const REMINDER_TOOLS: readonly CompiledTool[] = [
  verifyCallee, calleeNotAvailable, confirmReminderAppointment, rescheduleReminderAppointment, cancelReminderAppointment, optOutOfReminders,
];
