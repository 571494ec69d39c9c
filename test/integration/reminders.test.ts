// Issue 10, the foundation: reminders are scheduled in the booking's own transaction, a move or cancellation
// never leaves one behind, and the run re-checks everything and records each outcome (no call is placed yet).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import type { Knex } from 'knex';
import request from 'supertest';
import { createHttpApp } from '../../core/app.js';
import { signDevToken } from '../../core/admin-api/auth.js';
import { isServiceLaneError } from '../../core/errors.js';
import { insertCallbackTask } from '../../core/tools/callback-tasks.js';
import { reminderJobId } from '../../core/outbound/reminder-job.js';
import { recordReminderOptOut } from '../../core/outbound/reminder-schedule.js';
import { registry as metricsRegistry } from '../../core/observability/metrics.js';
import { createAppointmentRepository } from '../../core/repos/index.js';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.js';

const demo = JSON.parse(fs.readFileSync(new URL('../../tenants/examples/demo-dealership.json', import.meta.url), 'utf8')) as Record<string, unknown>;
/** Monday 1 March 2027, 04:00 in Los Angeles (the demo dealership's zone; PST, before the DST switch). */
const NOW = new Date('2027-03-01T12:00:00Z');
const config = (reminders: Record<string, unknown>) => ({ ...demo, reminders: { enabled: true, hoursBefore: [48, 24], callWindow: { start: '09:00', end: '19:00' }, ...reminders } });

interface ReminderRow { queued_until?: Date | null; id: string; appointment_id: string; hours_before: number; starts_at: Date; due_at: Date; status: string; skip_reason: string | null; window_deferrals: number }
interface AttemptRow { reminder_id: string; attempt: number; outcome: string; call_sid: string | null; amd_result: string | null; scheduled_at: Date; started_at: Date }

async function metricValue(name: string, labels: Record<string, string>): Promise<number> {
  const m = (await metricsRegistry.getMetricsAsJSON()).find((x) => x.name === name);
  const v = (m?.values ?? []).find((x) => Object.entries(labels).every(([k, val]) => (x.labels as Record<string, string>)[k] === val));
  return Number(v?.value ?? 0);
}

/** A run that passed every check: queued for the dialer (`due`), or already settled by it (`failed`: no caller id here). */
const handedToDialer = (outcome: string) => outcome === 'due' || outcome === 'failed';

describe('reminders: scheduled from appointments, re-checked at run time (issue 10)', function () {
  this.timeout(60_000);
  let t: TestPlatform;
  let clock = NOW;
  let tenantId: string;
  let n = 0;

  const reminders = (appointmentId: string) => t.p.tenants.withTenant(tenantId, (trx: Knex.Transaction) =>
    trx('reminders').where({ appointment_id: appointmentId }).orderBy([{ column: 'created_at' }, { column: 'hours_before', order: 'desc' }]).select('*')) as Promise<ReminderRow[]>;
  const attempts = (appointmentId: string) => t.p.tenants.withTenant(tenantId, (trx: Knex.Transaction) =>
    trx('reminder_attempts').where({ appointment_id: appointmentId }).orderBy('created_at').select('*')) as Promise<AttemptRow[]>;
  const book = (start: string, o: { phone?: string | null; tenant?: string } = {}) => t.p.scheduler.book({
    tenantId: o.tenant ?? tenantId, serviceType: 'oil_change', start, now: NOW,
    customer: { id: `cust-${++n}`, name: `Customer ${n}`, ...(o.phone === null ? {} : { phone: o.phone ?? `+1408555${String(1000 + n)}` }) },
  });
  const run = (r: ReminderRow, tenant = tenantId) => t.p.reminders.runner.run({ tenantId: tenant, reminderId: r.id, dueAtMs: r.due_at.getTime() });

  before(async () => {
    // A long poll: the tests drive the drain themselves, one pass at a time, with the clock where they put it.
    t = await startTestPlatform({ build: { reminders: { clock: () => clock, timings: { pollMs: 3_600_000 } } } });
    tenantId = (await t.p.tenants.create({ name: 'Reminder Motors', config: config({}) })).id;
  });
  after(async () => { await t?.close(); });
  beforeEach(() => { clock = NOW; });

  describe('scheduling (in the booking transaction)', () => {
    it('books an appointment with one scheduled reminder per hoursBefore, due exactly that long before it', async () => {
      const before = await metricValue('sl_reminders_total', { event: 'scheduled' });
      const a = await book('2027-03-03T10:00:00-08:00');
      const rows = await reminders(a.id);
      assert.deepEqual(rows.map((r) => [r.hours_before, r.status, r.starts_at.toISOString(), r.due_at.toISOString()]), [
        [48, 'scheduled', '2027-03-03T18:00:00.000Z', '2027-03-01T18:00:00.000Z'],
        [24, 'scheduled', '2027-03-03T18:00:00.000Z', '2027-03-02T18:00:00.000Z'],
      ]);
      assert.equal(await metricValue('sl_reminders_total', { event: 'scheduled' }) - before, 2);
    });

    it('moves an appointment: the old reminders are superseded and only the new time has scheduled ones', async () => {
      const a = await book('2027-03-04T10:00:00-08:00');
      await t.p.scheduler.reschedule({ tenantId, appointmentId: a.id, newStart: '2027-03-05T13:00:00-08:00', now: NOW });
      const rows = await reminders(a.id);
      assert.deepEqual(rows.filter((r) => r.status === 'scheduled').map((r) => [r.hours_before, r.starts_at.toISOString(), r.due_at.toISOString()]), [
        [48, '2027-03-05T21:00:00.000Z', '2027-03-03T21:00:00.000Z'],
        [24, '2027-03-05T21:00:00.000Z', '2027-03-04T21:00:00.000Z'],
      ]);
      assert.deepEqual(rows.filter((r) => r.starts_at.toISOString() === '2027-03-04T18:00:00.000Z').map((r) => r.status), ['superseded', 'superseded']);
      // Moved back to the first time: new rows again (the superseded history stays beside them).
      await t.p.scheduler.reschedule({ tenantId, appointmentId: a.id, newStart: '2027-03-04T10:00:00-08:00', now: NOW });
      const back = await reminders(a.id);
      assert.equal(back.length, 6);
      assert.deepEqual(back.filter((r) => r.status === 'scheduled').map((r) => r.starts_at.toISOString()), ['2027-03-04T18:00:00.000Z', '2027-03-04T18:00:00.000Z']);
    });

    it('cancels an appointment: none of its reminders stays scheduled', async () => {
      const a = await book('2027-03-04T11:00:00-08:00');
      await t.p.scheduler.cancel({ tenantId, appointmentId: a.id, reason: 'sold the car' });
      assert.deepEqual((await reminders(a.id)).map((r) => r.status), ['cancelled', 'cancelled']);
    });

    it('does not create a reminder whose time has already passed at booking, and keeps the later one', async () => {
      // Booked on Monday 04:00 for Tuesday 10:00: the 48 h reminder would have been due on Sunday.
      const a = await book('2027-03-02T10:00:00-08:00');
      assert.deepEqual((await reminders(a.id)).map((r) => r.hours_before), [24]);
    });

    it('schedules nothing for a dealership with reminders disabled, and a refused booking writes no reminder', async () => {
      const off = (await t.p.tenants.create({ name: 'Quiet Motors', config: config({ enabled: false }) })).id;
      const a = await book('2027-03-03T10:00:00-08:00', { tenant: off });
      const count = (tid: string) => t.p.tenants.withTenant(tid, async (trx: Knex.Transaction) => Number(((await trx('reminders').count('* as c')) as { c: string }[])[0]!.c));
      assert.ok(a.id);
      assert.equal(await count(off), 0);
      const before = await count(tenantId);
      await assert.rejects(book('2027-03-03T10:07:00-08:00'), (e: unknown) => isServiceLaneError(e) && e.code === 'VOI_ERR_BOOKING_INVALID');
      assert.equal(await count(tenantId), before, 'no reminder row for a booking that was refused');
    });
  });

  describe('the run (re-check, window, attempts)', () => {
    it('records a due reminder as attempt 1 with outcome "due" and no call SID, exactly once across repeated runs', async () => {
      const a = await book('2027-03-03T11:00:00-08:00');
      const [r48] = await reminders(a.id);
      clock = r48!.due_at; // Monday 11:00 PST: inside 09:00–19:00
      const res = await run(r48!);
      assert.equal(res.outcome, 'due');
      assert.equal((await run(r48!)).outcome, 'stale', 'a second run of the same job does nothing');
      const at = await attempts(a.id);
      assert.deepEqual(at.map((x) => [x.attempt, x.outcome, x.call_sid, x.amd_result, x.scheduled_at.toISOString(), x.started_at.toISOString()]),
        [[1, 'due', null, null, '2027-03-01T19:00:00.000Z', '2027-03-01T19:00:00.000Z']]);
      assert.equal((await reminders(a.id))[0]!.status, 'due');
    });

    it('runs through the real queue: the drain queues a due row under its deterministic id and the worker records it', async () => {
      const a = await book('2027-03-03T12:00:00-08:00');
      const [r48] = await reminders(a.id);
      const leased = async () => (await reminders(a.id)).find((r) => r.id === r48!.id)!.queued_until as Date | null;
      clock = new Date(r48!.due_at.getTime() - 6 * 60_000); // six minutes early: outside the 5 min lookahead
      await t.p.reminders.drain.drainOnce();
      assert.equal(await leased(), null);
      clock = r48!.due_at;
      await t.p.reminders.drain.drainOnce();
      const lease = await leased();
      assert.ok(lease, 'claimed once due');
      await t.p.reminders.drain.drainOnce();
      assert.equal((await leased())!.getTime(), lease!.getTime(), 'a leased row is not claimed again');
      const jobId = reminderJobId({ tenantId, reminderId: r48!.id, dueAtMs: r48!.due_at.getTime() });
      assert.doesNotMatch(jobId, /:/);
      const job = await t.p.jobs.waitForJob('reminders', jobId);
      assert.equal(job.state, 'completed');
      assert.equal((job.returnValue as { outcome: string }).outcome, 'due');
      // Handed to the dialer: `due` until it runs, then `failed` here (this tenant has no number to call from).
      assert.deepEqual((await attempts(a.id)).map((x) => handedToDialer(x.outcome)), [true]);
    });

    it('moves a reminder due before the window opens to the window\'s start, then runs it there under a new job id', async () => {
      // 08:15 appointment Wednesday: the 24 h reminder is due Tuesday 08:15 PST, before the 09:00 window.
      const a = await book('2027-03-03T08:15:00-08:00');
      const r24 = (await reminders(a.id)).find((r) => r.hours_before === 24)!;
      clock = r24.due_at;
      const res = await run(r24);
      assert.deepEqual(res, { outcome: 'deferred', dueAt: '2027-03-02T17:00:00.000Z' });
      const moved = (await reminders(a.id)).find((r) => r.id === r24.id)!;
      assert.deepEqual([moved.status, moved.due_at.toISOString(), moved.window_deferrals], ['scheduled', '2027-03-02T17:00:00.000Z', 1]);
      assert.equal((await run(r24)).outcome, 'stale', 'the job for the old due time does nothing');
      assert.deepEqual(await attempts(a.id), [], 'a deferral is not an attempt');
      clock = moved.due_at;
      await t.p.reminders.drain.drainOnce();
      const job = await t.p.jobs.waitForJob('reminders', reminderJobId({ tenantId, reminderId: r24.id, dueAtMs: moved.due_at.getTime() }));
      assert.equal((job.returnValue as { outcome: string }).outcome, 'due');
      assert.deepEqual((await attempts(a.id)).filter((x) => x.reminder_id === r24.id).map((x) => [handedToDialer(x.outcome), x.started_at.toISOString()]), [[true, '2027-03-02T17:00:00.000Z']]);
      // The 48 h reminder, never run (say the workers were down on Monday), is overtaken, not rung a day late beside it.
      // The same drain pass queued it (due Monday, still scheduled).
      const r48 = (await reminders(a.id)).find((r) => r.hours_before === 48)!;
      await t.p.jobs.waitForJob('reminders', reminderJobId({ tenantId, reminderId: r48.id, dueAtMs: r48.due_at.getTime() }));
      assert.deepEqual((await attempts(a.id)).filter((x) => x.reminder_id === r48.id).map((x) => x.outcome), ['skipped_overtaken']);
    });

    it('never rings for an appointment moved or cancelled after its job was queued', async () => {
      const a = await book('2027-03-03T13:00:00-08:00');
      const [old48] = await reminders(a.id);
      await t.p.scheduler.reschedule({ tenantId, appointmentId: a.id, newStart: '2027-03-05T13:00:00-08:00', now: NOW });
      clock = old48!.due_at;
      assert.equal((await run(old48!)).outcome, 'stale');
      const b = await book('2027-03-03T14:00:00-08:00');
      const [b48] = await reminders(b.id);
      await t.p.scheduler.cancel({ tenantId, appointmentId: b.id });
      clock = b48!.due_at;
      assert.equal((await run(b48!)).outcome, 'stale');
      assert.deepEqual([...await attempts(a.id), ...await attempts(b.id)], []);
    });

    it('skips, with a recorded reason, what a writer other than the scheduler changed', async () => {
      const scope = <T>(fn: (trx: Knex.Transaction) => Promise<T>) => t.p.tenants.withTenant(tenantId, fn);
      const repo = createAppointmentRepository(scope);
      const a = await book('2027-03-03T15:00:00-08:00');
      const b = await book('2027-03-03T15:15:00-08:00');
      await repo.cancel({ id: a.id, reason: 'cancelled in the calendar' });
      await repo.move({ id: b.id, start: new Date('2027-03-04T15:15:00-08:00'), end: new Date('2027-03-04T16:00:00-08:00'), resourceId: 'bay-1' });
      const [a48] = await reminders(a.id);
      const [b48] = await reminders(b.id);
      clock = a48!.due_at;
      const before = await metricValue('sl_reminder_skips_total', { reason: 'appointment_cancelled' });
      assert.deepEqual(await run(a48!), { outcome: 'skipped', reason: 'appointment_cancelled', attempt: 1 });
      assert.equal(await metricValue('sl_reminder_skips_total', { reason: 'appointment_cancelled' }) - before, 1);
      assert.deepEqual(await run(b48!), { outcome: 'skipped', reason: 'appointment_moved', attempt: 1 });
      assert.deepEqual((await attempts(a.id)).map((x) => [x.outcome, x.call_sid]), [['skipped_appointment_cancelled', null]]);
      assert.deepEqual((await reminders(a.id)).map((r) => [r.status, r.skip_reason]), [['skipped', 'appointment_cancelled'], ['scheduled', null]]);
    });

    it('skips an opted-out number, an appointment without a phone, and one confirmed on an earlier reminder', async () => {
      const a = await book('2027-03-03T16:00:00-08:00', { phone: '+14085559999' });
      await t.p.tenants.withTenant(tenantId, (trx: Knex.Transaction) => recordReminderOptOut(trx, { phone: '+14085559999', source: 'admin' }));
      const [a48] = await reminders(a.id);
      clock = a48!.due_at;
      assert.deepEqual(await run(a48!), { outcome: 'skipped', reason: 'opted_out', attempt: 1 });

      const b = await book('2027-03-03T16:15:00-08:00', { phone: null });
      const [b48] = await reminders(b.id);
      clock = b48!.due_at;
      assert.deepEqual(await run(b48!), { outcome: 'skipped', reason: 'no_phone', attempt: 1 });

      const c = await book('2027-03-03T16:30:00-08:00');
      const [c48, c24] = await reminders(c.id);
      clock = c48!.due_at;
      assert.equal((await run(c48!)).outcome, 'due');
      // What the outbound call will write when the customer confirms (not built yet): the later reminder must not ring.
      await t.p.tenants.withTenant(tenantId, (trx: Knex.Transaction) => trx('reminder_attempts').where({ reminder_id: c48!.id }).update({ outcome: 'confirmed' }));
      clock = c24!.due_at;
      assert.deepEqual(await run(c24!), { outcome: 'skipped', reason: 'already_confirmed', attempt: 1 });
    });

    it('skips when reminders were switched off after scheduling, and when the tenant is offboarded', async () => {
      const tid = (await t.p.tenants.create({ name: 'Fickle Motors', config: config({}) })).id;
      const a = await book('2027-03-03T10:00:00-08:00', { tenant: tid });
      const rows = await t.p.tenants.withTenant(tid, (trx: Knex.Transaction) => trx('reminders').where({ appointment_id: a.id }).orderBy('hours_before', 'desc').select('*')) as ReminderRow[];
      await t.p.tenants.updateConfig(tid, config({ enabled: false }));
      clock = rows[0]!.due_at;
      assert.deepEqual(await run(rows[0]!, tid), { outcome: 'skipped', reason: 'reminders_disabled', attempt: 1 });
      await t.p.tenants.offboard(tid);
      clock = rows[1]!.due_at;
      assert.deepEqual(await run(rows[1]!, tid), { outcome: 'skipped', reason: 'tenant_inactive', attempt: 1 });
    });

    it('skips a reminder whose next allowed time is after the appointment starts', async () => {
      // Thursday 07:30 appointment, 24 h reminder due Wednesday 07:30; moved by the window to Wednesday 09:00 —
      // still before the appointment, so it is deferred; but run at Wednesday 19:30 it can only ring Thursday 09:00.
      const a = await book('2027-03-04T07:30:00-08:00');
      const r24 = (await reminders(a.id)).find((r) => r.hours_before === 24)!;
      await t.p.tenants.withTenant(tenantId, (trx: Knex.Transaction) => trx('reminders').where({ id: r24.id }).update({ due_at: new Date('2027-03-04T03:30:00Z') }));
      clock = new Date('2027-03-04T03:30:00Z');
      assert.deepEqual(await run({ ...r24, due_at: clock }), { outcome: 'skipped', reason: 'window_after_appointment', attempt: 1 });
    });
  });

  describe('admin API', () => {
    it('lists a tenant\'s reminders by status with their attempts, and refuses another tenant\'s admin (403)', async () => {
      const app = createHttpApp(t.p);
      const tok = (tenant: string) => signDevToken({ secret: t.cfg.jwt.secret!, role: 'tenant_admin', tenant, sub: 'test-admin' });
      const a = await book('2027-03-05T09:00:00-08:00');
      await t.p.scheduler.cancel({ tenantId, appointmentId: a.id });
      const res = await request(app).get(`/admin/v1/tenants/${tenantId}/reminders?status=skipped&limit=100`).set('Authorization', `Bearer ${tok(tenantId)}`);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.ok(res.body.items.length >= 1);
      assert.ok(res.body.items.every((r: { status: string; attempts: { outcome: string }[] }) => r.status === 'skipped' && r.attempts.length === 1 && r.attempts[0]!.outcome.startsWith('skipped_')));
      const cancelled = await request(app).get(`/admin/v1/tenants/${tenantId}/reminders?status=cancelled&from=2027-03-03&to=2027-03-03&limit=100`).set('Authorization', `Bearer ${tok(tenantId)}`);
      assert.deepEqual(cancelled.body.items.filter((r: { appointmentId: string }) => r.appointmentId === a.id).map((r: { hoursBefore: number; dueAt: string }) => [r.hoursBefore, r.dueAt]),
        [[48, '2027-03-03T17:00:00.000Z']], 'only the reminder due on 3 March (dealership time)');
      const other = (await t.p.tenants.create({ name: 'Other Motors', config: config({}) })).id;
      const denied = await request(app).get(`/admin/v1/tenants/${tenantId}/reminders`).set('Authorization', `Bearer ${tok(other)}`);
      assert.equal(denied.status, 403);
      assert.equal(denied.body.error.code, 'ADM_ERR_FORBIDDEN');
      const bad = await request(app).get(`/admin/v1/tenants/${tenantId}/reminders?status=ringing`).set('Authorization', `Bearer ${tok(tenantId)}`);
      assert.equal(bad.status, 400);
      assert.equal(bad.body.error.code, 'ADM_ERR_VALIDATION');
    });

    it('lists callback tasks, filtered by status', async () => {
      const app = createHttpApp(t.p);
      const tok = signDevToken({ secret: t.cfg.jwt.secret!, role: 'tenant_admin', tenant: tenantId, sub: 'test-admin' });
      await t.p.tenants.withTenant(tenantId, (trx: Knex.Transaction) => insertCallbackTask(trx, { callSid: 'CA' + '0'.repeat(32), phone: '+14085550123', reason: 'voicemail' }));
      const res = await request(app).get(`/admin/v1/tenants/${tenantId}/callbacks?status=open`).set('Authorization', `Bearer ${tok}`);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.deepEqual(res.body.items.map((c: { phone: string; reason: string; status: string; callSid: string | null }) => [c.phone, c.reason, c.status, c.callSid]), [['+14085550123', 'voicemail', 'open', null]]);
      const done = await request(app).get(`/admin/v1/tenants/${tenantId}/callbacks?status=done`).set('Authorization', `Bearer ${tok}`);
      assert.deepEqual(done.body.items, []);
    });
  });
});
