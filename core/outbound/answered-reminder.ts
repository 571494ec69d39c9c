import type { Knex } from 'knex';
import { ServiceLaneError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import { metrics } from '../observability/metrics.js';
import type { WithTenant } from '../tenancy/with-tenant.js';
import type { CrmConnector } from '../sdk/index.js';
import type { CallIdentity, ReminderCallFacts, ReminderCallOutcome } from '../tools/identity.js';
import type { ReminderCallPort } from '../tools/define.js';
import { recordReminderOptOut } from './reminder-schedule.js';

/**
 * A reminder call that a person answered (docs/reminders.md, "When a person answers"). The dialer issues the media
 * stream ticket with `direction: 'outbound'` and `params.reminderAttemptId`; the voice service asks this module,
 * before the first word, for the server-side facts of the call: attempt → reminder → appointment → customer, read
 * inside the tenant's schema. Those facts, never the model, decide which appointment the call can touch. This module
 * also owns the attempt's outcome: written once (`outcome_at is null` guards every write), by a reminder tool or,
 * when the conversation decided nothing, when the call ends.
 */

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** What a reminder call starts with: the facts the tools act on, and the first name the greeting asks for. */
export interface AnsweredReminder {
  facts: ReminderCallFacts;
  /** For "may I speak with Ali?": the CRM's first name, else the first word of the appointment's name, else null. */
  firstName: string | null;
}

interface AttemptFacts {
  id: string; outcome: string; outcome_at: Date | null; call_id: string | null;
  appointment_id: string; status: string; customer_id: string; customer_name: string | null; customer_phone: string | null;
}

function invalid(reason: string): ServiceLaneError {
  return new ServiceLaneError('VOI_ERR_REMINDER_CALL_INVALID', 'the reminder attempt of this outbound stream cannot be called about', { reason });
}

/**
 * Reads and checks the attempt a stream ticket names, and links the call row to it, in one transaction. Refused
 * (VOI_ERR_REMINDER_CALL_INVALID, nothing written) when the attempt is unknown or skipped, already has an outcome or
 * another call, the appointment is no longer booked, or the dialled number is not the appointment's: a ticket can
 * only ever open the conversation about the appointment whose number was called.
 */
export async function openAttempt(trx: Knex.Transaction, o: { attemptId: string; callId: string; dialled: ReadonlyArray<string | null> }): Promise<Omit<AnsweredReminder, 'firstName'> & { customerName: string | null }> {
  if (!UUID_RE.test(o.attemptId)) throw invalid('attempt_id');
  const row = await trx('reminder_attempts as a').join('appointments as p', 'p.id', 'a.appointment_id')
    .where('a.id', o.attemptId).forUpdate('a')
    .first('a.id', 'a.outcome', 'a.outcome_at', 'a.call_id', 'a.appointment_id', 'p.status', 'p.customer_id', 'p.customer_name', 'p.customer_phone') as AttemptFacts | undefined;
  if (!row) throw invalid('unknown_attempt');
  if (row.outcome.startsWith('skipped_')) throw invalid('skipped_attempt');
  if (row.outcome_at) throw invalid('outcome_recorded');
  if (row.call_id && row.call_id !== o.callId) throw invalid('other_call');
  if (row.status !== 'booked') throw invalid('appointment_not_booked');
  if (!row.customer_phone || !o.dialled.includes(row.customer_phone)) throw invalid('number_mismatch');
  await trx('reminder_attempts').where({ id: row.id }).update({ call_id: o.callId });
  return {
    customerName: row.customer_name,
    facts: {
      attemptId: row.id, appointmentId: row.appointment_id, customerId: row.customer_id, phone: row.customer_phone,
      callee: 'unconfirmed', calleeAttempts: 0, outcome: null, optedOut: false,
    },
  };
}

/**
 * Writes the attempt's outcome unless one was written already; true when this call wrote it.
 *
 * The attempt is the source of truth; `reminders.outcome` is its copy for the reminder's latest attempt, kept in
 * step in this same statement: the final status callback copies whatever the attempt says when it arrives
 * (outbound-calls.ts applyOutcome), and when the conversation's outcome lands after it (the stream ends after
 * Twilio's `completed`), this write moves the copy along. A reminder still waiting for a retry has no copy to move.
 */
export async function recordAttemptOutcome(trx: Knex.Transaction, o: { attemptId: string; outcome: ReminderCallOutcome }): Promise<boolean> {
  const n = ((await trx.raw(
    `with a as (
       update reminder_attempts set outcome = ?, outcome_at = now() where id = ? and outcome_at is null
       returning reminder_id, attempt, outcome),
     r as (
       update reminders r set outcome = a.outcome, updated_at = now() from a
        where r.id = a.reminder_id and r.outcome is not null
          and not exists (select 1 from reminder_attempts later where later.reminder_id = a.reminder_id and later.attempt > a.attempt))
     select count(*)::int as n from a`,
    [o.outcome, o.attemptId])).rows[0] as { n: number }).n;
  // Counted on commit, so a rolled-back write counts nothing.
  if (n > 0) void trx.executionPromise.then(() => metrics.reminderCallOutcomes.inc({ outcome: o.outcome }), () => undefined);
  return n > 0;
}

/** "Please don't call me again": the number's opt-out and, when the call had none yet, the outcome `opted_out`. */
export async function optOutAttempt(trx: Knex.Transaction, o: { attemptId: string; phone: string }): Promise<{ outcomeWritten: boolean }> {
  await recordReminderOptOut(trx, { phone: o.phone, source: 'voice' });
  return { outcomeWritten: await recordAttemptOutcome(trx, { attemptId: o.attemptId, outcome: 'opted_out' }) };
}

/** The outcome of a call whose conversation decided nothing (the callee hung up, or never proved who they are). */
export function outcomeAtEnd(facts: ReminderCallFacts): ReminderCallOutcome {
  return facts.callee === 'confirmed' ? 'answered' : 'identity_unconfirmed';
}

/**
 * The voice service's door to answered reminder calls (core/voice/voice-service.ts ReminderCallsPort). Composed in
 * core/app.ts from the tenant service and the CRM plugins.
 */
export class AnsweredReminders {
  constructor(private readonly o: { withTenant: WithTenant; crm: (tenantId: string) => Promise<CrmConnector>; logger: Logger }) {}

  async open(o: { tenantId: string; callId: string; attemptId: string; dialled: ReadonlyArray<string | null> }): Promise<AnsweredReminder> {
    const opened = await this.o.withTenant(o.tenantId, (trx) => openAttempt(trx, o));
    let firstName: string | null = null;
    try {
      const crm = await this.o.crm(o.tenantId);
      firstName = (await crm.getCustomer({ id: opened.facts.customerId }))?.firstName ?? null;
    } catch (e) {
      // The greeting can do without the CRM; verify_callee reads it again and fails closed if it is still down.
      this.o.logger.warn({ tenantId: o.tenantId, attemptId: o.attemptId, err: (e as Error).message }, 'customer not read for the reminder greeting; using the appointment name');
    }
    firstName ??= opened.customerName?.trim().split(/\s+/)[0] || null;
    metrics.reminders.inc({ event: 'answered' });
    return { facts: opened.facts, firstName: firstName ? firstName.slice(0, 40) : null };
  }

  /** The reminder tools' writes, bound to this call's attempt (identity.reminder is a server-side fact). */
  port(o: { tenantId: string; reminder: ReminderCallFacts }): ReminderCallPort {
    const { attemptId, phone } = o.reminder;
    return {
      recordOutcome: (outcome) => this.o.withTenant(o.tenantId, (trx) => recordAttemptOutcome(trx, { attemptId, outcome })),
      optOut: () => this.o.withTenant(o.tenantId, (trx) => optOutAttempt(trx, { attemptId, phone })),
    };
  }

  /** After the call: the fallback outcome when no reminder tool wrote one (a no-op otherwise). */
  async finish(o: { tenantId: string; identity: CallIdentity }): Promise<void> {
    const facts = o.identity.reminder;
    if (!facts || facts.outcome) return;
    const outcome = outcomeAtEnd(facts);
    try {
      await this.o.withTenant(o.tenantId, (trx) => recordAttemptOutcome(trx, { attemptId: facts.attemptId, outcome }));
    } catch (e) {
      this.o.logger.error({ tenantId: o.tenantId, attemptId: facts.attemptId, err: (e as Error).message }, 'reminder call outcome not recorded at call end');
    }
  }
}
