// The reminder-call side of the toolbox and its attempt bookkeeping (core/outbound/answered-reminder.ts) against the
// real platform: Postgres tenant schema, crm-builtin, the Scheduler. No model: tool calls are scripted, as a
// compliant (or a steered) model would send them. The end-to-end calls are in test/e2e/reminder-answered.test.ts.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import type { Knex } from 'knex';
import { AnsweredReminders, recordAttemptOutcome } from '../../core/outbound/answered-reminder.js';
import { isServiceLaneError } from '../../core/errors.js';
import { silentLogger } from '../../core/observability/logger.js';
import { metrics } from '../../core/observability/metrics.js';
import { DEMO_CUSTOMERS, seedDemo } from '../../core/tenancy/seed.js';
import { newCallIdentity, type CallIdentity, type ReminderCallFacts } from '../../core/tools/identity.js';
import type { ToolOutcome } from '../../core/tools/toolbox.js';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.js';

const MARIA = DEMO_CUSTOMERS[1]!;

describe('reminder calls: attempt facts and the reminder tools', () => {
  let tp: TestPlatform;
  let tenantId: string;
  let answered: AnsweredReminders;

  before(async function () {
    this.timeout(60_000);
    tp = await startTestPlatform();
    tenantId = (await seedDemo(tp.p)).tenantId;
    answered = new AnsweredReminders({ withTenant: (id, fn) => tp.p.tenants.withTenant(id, fn), crm: (id) => tp.p.registry.get(id, 'crm'), logger: silentLogger });
  });
  after(async function () {
    this.timeout(60_000);
    await tp?.close();
  });

  const tx = <T>(fn: (trx: Knex.Transaction) => Promise<T>): Promise<T> => tp.p.tenants.withTenant(tenantId, fn);
  const callSid = () => `CA${crypto.randomBytes(16).toString('hex')}`;
  const run = (id: CallIdentity, name: string, args: unknown): Promise<ToolOutcome> =>
    tp.p.toolbox.execute(id, { name, arguments: typeof args === 'string' ? args : JSON.stringify(args) });
  const body = (o: ToolOutcome): Record<string, unknown> => JSON.parse(o.content) as Record<string, unknown>;

  /** Maria's next booked appointment (moved by earlier tests' cancels: a fresh one is booked when needed). */
  async function mariasAppointment(): Promise<{ id: string; starts_at: Date }> {
    return tx(async (trx) => {
      const cid = String((await trx('customers').where({ phone: MARIA.phone }).first('id')).id);
      let a = await trx('appointments').where({ customer_id: cid, status: 'booked' }).orderBy('starts_at').first('id', 'starts_at');
      if (!a) {
        const start = new Date(Date.now() + 5 * 86_400_000);
        [a] = await trx('appointments').insert({
          customer_id: cid, customer_name: 'Maria Garcia', customer_phone: MARIA.phone, resource_id: 'bay-3', service_type: 'oil_change',
          starts_at: start, ends_at: new Date(start.getTime() + 45 * 60_000), source: 'test',
        }).returning(['id', 'starts_at']);
      }
      return a as { id: string; starts_at: Date };
    });
  }

  /** A reminder that is due and its first attempt, as the reminder job leaves them; and a call row to link. */
  async function dueAttempt(o: { outcome?: string } = {}): Promise<{ attemptId: string; appointmentId: string; callId: string }> {
    const appt = await mariasAppointment();
    return tx(async (trx) => {
      await trx('reminders').where({ appointment_id: appt.id, hours_before: 24, starts_at: appt.starts_at }).whereIn('status', ['scheduled', 'due', 'skipped']).update({ status: 'superseded' });
      const [rem] = await trx('reminders').insert({ appointment_id: appt.id, hours_before: 24, starts_at: appt.starts_at, due_at: new Date(appt.starts_at.getTime() - 86_400_000), status: 'due' }).returning('id') as { id: string }[];
      const [att] = await trx('reminder_attempts').insert({ reminder_id: rem!.id, appointment_id: appt.id, attempt: 1, scheduled_at: new Date(), outcome: o.outcome ?? 'due' }).returning('id') as { id: string }[];
      const [call] = await trx('calls').insert({ call_sid: callSid(), direction: 'outbound', to_number: MARIA.phone }).returning('id') as { id: string }[];
      return { attemptId: att!.id, appointmentId: appt.id, callId: call!.id };
    });
  }

  const attempt = (id: string) => tx((trx) => trx('reminder_attempts').where({ id }).first('outcome', 'outcome_at', 'call_id')) as Promise<{ outcome: string; outcome_at: Date | null; call_id: string | null }>;

  async function opened(): Promise<{ identity: CallIdentity; facts: ReminderCallFacts; attemptId: string; appointmentId: string }> {
    const a = await dueAttempt();
    const r = await answered.open({ tenantId, callId: a.callId, attemptId: a.attemptId, dialled: [MARIA.phone] });
    const identity = newCallIdentity({ tenantId, callSid: callSid(), callerPhone: MARIA.phone });
    identity.reminder = r.facts;
    return { identity, facts: r.facts, attemptId: a.attemptId, appointmentId: a.appointmentId };
  }

  async function refusal(p: Promise<unknown>): Promise<string> {
    try { await p; } catch (e) {
      assert.ok(isServiceLaneError(e), String(e));
      assert.equal(e.code, 'VOI_ERR_REMINDER_CALL_INVALID');
      return (e.details as { reason: string }).reason;
    }
    throw new Error('expected a refusal');
  }

  describe('opening the call (the stream ticket\'s attempt)', () => {
    it('loads the appointment\'s customer and links the call; the greeting gets the CRM first name', async () => {
      const a = await dueAttempt();
      const r = await answered.open({ tenantId, callId: a.callId, attemptId: a.attemptId, dialled: [null, MARIA.phone] });
      assert.equal(r.firstName, 'Maria');
      assert.equal(r.facts.appointmentId, a.appointmentId);
      assert.equal(r.facts.phone, MARIA.phone);
      assert.deepEqual([r.facts.callee, r.facts.outcome, r.facts.calleeAttempts], ['unconfirmed', null, 0]);
      assert.equal((await attempt(a.attemptId)).call_id, a.callId);
    });

    it('refuses an unknown, malformed, skipped, decided or mis-dialled attempt, or a cancelled appointment, and links nothing', async () => {
      const a = await dueAttempt();
      assert.equal(await refusal(answered.open({ tenantId, callId: a.callId, attemptId: crypto.randomUUID(), dialled: [MARIA.phone] })), 'unknown_attempt');
      assert.equal(await refusal(answered.open({ tenantId, callId: a.callId, attemptId: "x' or 1=1 --", dialled: [MARIA.phone] })), 'attempt_id');
      assert.equal(await refusal(answered.open({ tenantId, callId: a.callId, attemptId: a.attemptId, dialled: ['+14086137788', null] })), 'number_mismatch');
      assert.equal((await attempt(a.attemptId)).call_id, null, 'a refused ticket links nothing');

      const skipped = await dueAttempt({ outcome: 'skipped_opted_out' });
      assert.equal(await refusal(answered.open({ tenantId, callId: skipped.callId, attemptId: skipped.attemptId, dialled: [MARIA.phone] })), 'skipped_attempt');

      const decided = await dueAttempt();
      await tx((trx) => recordAttemptOutcome(trx, { attemptId: decided.attemptId, outcome: 'confirmed' }));
      assert.equal(await refusal(answered.open({ tenantId, callId: decided.callId, attemptId: decided.attemptId, dialled: [MARIA.phone] })), 'outcome_recorded');

      const first = await dueAttempt();
      await answered.open({ tenantId, callId: first.callId, attemptId: first.attemptId, dialled: [MARIA.phone] });
      const [otherCall] = await tx((trx) => trx('calls').insert({ call_sid: callSid(), direction: 'outbound' }).returning('id')) as { id: string }[];
      assert.equal(await refusal(answered.open({ tenantId, callId: otherCall!.id, attemptId: first.attemptId, dialled: [MARIA.phone] })), 'other_call');

      const cancelled = await dueAttempt();
      await tp.p.scheduler.cancel({ tenantId, appointmentId: cancelled.appointmentId });
      assert.equal(await refusal(answered.open({ tenantId, callId: cancelled.callId, attemptId: cancelled.attemptId, dialled: [MARIA.phone] })), 'appointment_not_booked');
    });
  });

  describe('tools on a reminder call', () => {
    it('offers an unconfirmed callee no appointment or account tool; the inbound tools are refused as unknown', async () => {
      const { identity, attemptId } = await opened();
      assert.deepEqual(tp.p.toolbox.offeredTools(identity), ['verify_callee', 'callee_not_available', 'opt_out_of_reminders', 'transfer_to_human', 'end_call']);
      for (const [name, args] of [['confirm_reminder_appointment', {}], ['get_upcoming_appointments', {}], ['lookup_customer', {}], ['get_available_slots', { date: '2030-01-02', service_type: 'oil_change' }]] as const) {
        const r = await run(identity, name, args);
        assert.equal(r.code, 'VOI_ERR_TOOL_UNKNOWN', name);
      }
      assert.equal((await attempt(attemptId)).outcome_at, null);
    });

    it('hostile verify_callee arguments are VOI_ERR_TOOL_ARGS and cost no attempt', async () => {
      const { identity } = await opened();
      for (const args of [
        { last_name: 'Garcia', zip: null, vehicle_make: null },
        { last_name: 'Garcia', zip: MARIA.zip, vehicle_make: null, customer_id: 'someone-else' },
        { last_name: 'Garcia', zip: "95050' or 1=1", vehicle_make: null },
        '{"last_name": "Garcia", "zip": ',
      ]) {
        const r = await run(identity, 'verify_callee', args);
        assert.equal(r.code, 'VOI_ERR_TOOL_ARGS', JSON.stringify(args));
        assert.equal(r.identity.reminder!.calleeAttempts, 0);
        assert.equal(r.identity.verifiedCustomerId, null);
      }
    });

    it('two wrong answers (right name, wrong ZIP; right ZIP, wrong car) and verify_callee is gone: nothing disclosed, nothing verified', async () => {
      let { identity } = await opened();
      const miss1 = await run(identity, 'verify_callee', { last_name: 'Garcia', zip: '94087', vehicle_make: null });
      assert.equal(body(miss1).verified, false);
      identity = miss1.identity;
      const miss2 = await run(identity, 'verify_callee', { last_name: 'Garcia', zip: MARIA.zip, vehicle_make: 'Honda' });
      assert.equal(body(miss2).verified, false);
      identity = miss2.identity;
      for (const r of [miss1, miss2]) assert.deepEqual(Object.keys(body(r)).sort(), ['next_step', 'verified'], 'a miss says nothing about the account');
      assert.equal(identity.reminder!.calleeAttempts, 2);
      assert.equal((await run(identity, 'verify_callee', { last_name: 'Garcia', zip: MARIA.zip, vehicle_make: null })).code, 'VOI_ERR_TOOL_UNKNOWN');
      assert.equal(identity.verifiedCustomerId, null);
    });

    it('a confirmed callee cancels: appointment cancelled with its reminders, outcome cancelled written once, an opt-out afterwards keeps it', async () => {
      const { identity: id0, attemptId, appointmentId, facts } = await opened();
      const v = await run(id0, 'verify_callee', { last_name: 'garcía', zip: null, vehicle_make: 'toyota' });
      assert.equal(body(v).verified, true, v.content);
      const appt = body(v).appointment as { appointment_id: string; service: string; vehicle: string };
      assert.equal(appt.appointment_id, appointmentId);
      assert.match(appt.vehicle, /Toyota Camry/);
      let identity = v.identity;
      assert.equal(identity.verifiedCustomerId, facts.customerId);
      assert.deepEqual(tp.p.toolbox.offeredTools(identity), [
        'get_available_slots', 'confirm_reminder_appointment', 'reschedule_reminder_appointment', 'cancel_reminder_appointment', 'opt_out_of_reminders', 'transfer_to_human', 'end_call',
      ]);
      // The id-taking tool of inbound calls does not exist here, and the reminder one takes no id.
      assert.equal((await run(identity, 'cancel_appointment', { appointment_id: appointmentId, reason: null })).code, 'VOI_ERR_TOOL_UNKNOWN');
      assert.equal((await run(identity, 'cancel_reminder_appointment', { appointment_id: appointmentId, reason: null })).code, 'VOI_ERR_TOOL_ARGS');
      assert.equal((await attempt(attemptId)).outcome_at, null);

      const counted = async (): Promise<number> => (await metrics.reminderCallOutcomes.get()).values.find((v) => v.labels.outcome === 'cancelled')?.value ?? 0;
      const before = await counted();
      const c = await run(identity, 'cancel_reminder_appointment', { reason: 'sold the car' });
      assert.equal(c.ok, true, c.content);
      identity = c.identity;
      const row = await tx((trx) => trx('appointments').where({ id: appointmentId }).first('status', 'cancel_reason'));
      assert.deepEqual(row, { status: 'cancelled', cancel_reason: 'sold the car' });
      const live = await tx((trx) => trx('reminders').where({ appointment_id: appointmentId, status: 'scheduled' }).count<{ n: string }[]>('* as n'));
      assert.equal(Number(live[0]!.n), 0, 'no reminder left to ring');
      assert.equal((await attempt(attemptId)).outcome, 'cancelled');
      assert.equal(await counted(), before + 1, 'the outcome is counted once it committed');

      // Once: the decision tools are gone, a second write is refused, and an opt-out adds the number only.
      assert.equal((await run(identity, 'confirm_reminder_appointment', {})).code, 'VOI_ERR_TOOL_UNKNOWN');
      assert.equal(await tx((trx) => recordAttemptOutcome(trx, { attemptId, outcome: 'confirmed' })), false);
      const o = await run(identity, 'opt_out_of_reminders', {});
      assert.equal(o.ok, true, o.content);
      const after = await attempt(attemptId);
      assert.equal(after.outcome, 'cancelled');
      assert.ok(await tx((trx) => trx('reminder_opt_outs').where({ phone: MARIA.phone, source: 'voice' }).first('phone')));
      // finish() after such a call writes nothing more.
      await answered.finish({ tenantId, identity: o.identity });
      assert.deepEqual(await attempt(attemptId), after);
      await tx((trx) => trx('reminder_opt_outs').where({ phone: MARIA.phone }).del());
    });

    it('a call that decided nothing: identity_unconfirmed when the callee never proved who they are', async () => {
      const { identity, attemptId } = await opened();
      await answered.finish({ tenantId, identity });
      assert.equal((await attempt(attemptId)).outcome, 'identity_unconfirmed');
    });
  });

  it('(d) the reminder\'s outcome follows its attempt\'s: a call settled `answered` by its final status, then `identity_unconfirmed` when the stream ends', async () => {
    const { attemptId } = await dueAttempt();
    // What the completed status callback leaves when no conversation outcome was written yet (outbound-calls.ts applyOutcome).
    const reminderId = await tx(async (trx) => {
      const a = await trx('reminder_attempts').where({ id: attemptId }).update({ outcome: 'answered', ended_at: trx.fn.now() }).returning('reminder_id') as { reminder_id: string }[];
      await trx('reminders').where({ id: a[0]!.reminder_id }).update({ outcome: 'answered' });
      return a[0]!.reminder_id;
    });
    // Then the voice session ends without the callee proving who they are.
    assert.equal(await tx((trx) => recordAttemptOutcome(trx, { attemptId, outcome: 'identity_unconfirmed' })), true);
    const rows = await tx(async (trx) => ({
      attempt: (await trx('reminder_attempts').where({ id: attemptId }).first('outcome')).outcome as string,
      reminder: (await trx('reminders').where({ id: reminderId }).first('outcome')).outcome as string,
    }));
    assert.deepEqual(rows, { attempt: 'identity_unconfirmed', reminder: 'identity_unconfirmed' });
  });

  it('(d) a reminder waiting for a retry keeps no outcome when an attempt\'s outcome is written', async () => {
    const { attemptId } = await dueAttempt();
    assert.equal(await tx((trx) => recordAttemptOutcome(trx, { attemptId, outcome: 'confirmed' })), true);
    const r = await tx((trx) => trx('reminders as r').join('reminder_attempts as a', 'a.reminder_id', 'r.id').where('a.id', attemptId).first('r.outcome'));
    assert.equal(r.outcome, null, 'the final status callback settles the reminder (it copies the attempt outcome)');
  });
});
