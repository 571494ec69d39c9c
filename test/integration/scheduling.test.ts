import assert from 'node:assert/strict';
import fs from 'node:fs';
import type { Knex } from 'knex';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.js';
import { isServiceLaneError, type ErrorCode } from '../../core/errors.js';
import type { BookInput, Scheduler, Slot } from '../../core/scheduling/scheduler.js';
import { metrics } from '../../core/observability/metrics.js';
import { loadMigrations } from '../../core/db/migrate.js';

const demo = JSON.parse(fs.readFileSync(new URL('../../tenants/examples/demo-dealership.json', import.meta.url), 'utf8')) as Record<string, unknown>;

/** "Now" for every test: 04:00 on Monday 1 March 2027 in Los Angeles. Bookings go to the following days. */
const NOW = new Date('2027-03-01T12:00:00Z');
const WED = '2027-03-03';

async function rejectsWith(p: Promise<unknown>, code: ErrorCode, reason?: string): Promise<ServiceLaneErrorLike> {
  let caught: unknown;
  await assert.rejects(p, (e: unknown) => { caught = e; return true; });
  assert.ok(isServiceLaneError(caught), `expected a ServiceLaneError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  if (reason) assert.equal((caught.details as { reason?: string }).reason, reason);
  return caught as unknown as ServiceLaneErrorLike;
}
interface ServiceLaneErrorLike { code: string; details: { alternatives?: Slot[]; reason?: string } }

describe('Scheduler (built-in calendar)', function () {
  this.timeout(60_000);
  let t: TestPlatform;
  let s: Scheduler;
  let tenantId: string;
  let oneBay: string;
  let night: string;
  let arizona: string;

  const rows = (tid: string, where: Record<string, unknown> = {}): Promise<number> =>
    t.p.tenants.withTenant(tid, async (trx: Knex.Transaction) => Number((await trx('appointments').where(where).count<{ count: string }[]>('* as count'))[0]!.count));
  const customer = { id: 'cust-1', name: 'Ana Lopez', phone: '+14085550111' };
  const deadlockRetries = async (): Promise<number> =>
    (await metrics.bookings.get()).values.filter((v) => v.labels.outcome === 'retry_deadlock').reduce((a, v) => a + v.value, 0);

  before(async () => {
    t = await startTestPlatform();
    s = t.p.scheduler;
    tenantId = (await t.p.tenants.create({ name: 'Demo', config: demo })).id;
    oneBay = (await t.p.tenants.create({ name: 'One bay', config: { ...demo, resources: [{ id: 'bay-1', name: 'Bay 1', kind: 'bay' }] } })).id;
    const nightHours = [{ open: '00:00', close: '06:00' }];
    const allWeek = { mon: nightHours, tue: nightHours, wed: nightHours, thu: nightHours, fri: nightHours, sat: nightHours, sun: nightHours };
    const nightCfg = { ...demo, businessHours: allWeek, slotGranularityMin: 30, bookingHorizonDays: 365, serviceTypes: [{ id: 'quick', name: 'Quick check', durationMin: 30 }] };
    night = (await t.p.tenants.create({ name: 'Night', config: nightCfg })).id;
    arizona = (await t.p.tenants.create({ name: 'Phoenix', config: { ...nightCfg, timezone: 'America/Phoenix' } })).id;
  });
  after(async () => { await t.close(); });

  describe('availableSlots', () => {
    it('lists the open grid for a free day in the dealership zone', async () => {
      const slots = await s.availableSlots({ tenantId, date: WED, serviceType: 'oil_change', now: NOW });
      assert.equal(slots.length, 40);
      assert.deepEqual(slots[0], { start: '2027-03-03T07:30:00-08:00', end: '2027-03-03T08:15:00-08:00', resourceId: 'bay-1' });
    });

    it('moves a booked time to the next bay and drops it when every bay is taken', async () => {
      const start = '2027-03-04T10:00:00-08:00';
      for (const [i, bay] of ['bay-1', 'bay-2', 'bay-3'].entries()) {
        const before = (await s.availableSlots({ tenantId, date: '2027-03-04', serviceType: 'oil_change', now: NOW })).find((x) => x.start === start);
        assert.equal(before?.resourceId, bay, `slot offered on ${bay} before booking ${i + 1}`);
        // Three customers: one customer can't hold two bays at once (VOI_ERR_BOOKING_OVERLAP, tested below).
        const a = await s.book({ tenantId, customer: { ...customer, id: `cust-bay-${i}` }, serviceType: 'oil_change', start, now: NOW });
        assert.equal(a.resourceId, bay);
      }
      const after = await s.availableSlots({ tenantId, date: '2027-03-04', serviceType: 'oil_change', now: NOW });
      assert.ok(!after.some((x) => x.start === start));
      assert.ok(!after.some((x) => x.start === '2027-03-04T09:30:00-08:00'), '09:30 + 45 min overlaps 10:00 on every bay');
      assert.ok(after.some((x) => x.start === '2027-03-04T10:45:00-08:00'), 'back-to-back after 10:45 is free');
    });

    it('has no 02:xx slot on the spring-forward day and no repeated time on the fall-back day', async () => {
      const spring = await s.availableSlots({ tenantId: night, date: '2027-03-14', serviceType: 'quick', now: NOW });
      assert.ok(spring.length > 0 && !spring.some((x) => x.start.slice(11, 13) === '02'));
      const fall = await s.availableSlots({ tenantId: night, date: '2027-11-07', serviceType: 'quick', now: NOW });
      const walls = fall.map((x) => x.start.slice(11, 16));
      assert.equal(new Set(walls).size, walls.length);
      assert.equal(fall.find((x) => x.start.slice(11, 16) === '01:30')?.start, '2027-11-07T01:30:00-07:00');
    });

    it('keeps Arizona on one offset with a 02:30 slot on both switch days', async () => {
      for (const date of ['2027-03-14', '2027-11-07']) {
        const slots = await s.availableSlots({ tenantId: arizona, date, serviceType: 'quick', now: NOW });
        assert.equal(slots.length, 12);
        assert.ok(slots.every((x) => x.start.endsWith('-07:00')));
        assert.ok(slots.some((x) => x.start === `${date}T02:30:00-07:00`));
      }
    });

    it('returns nothing on a holiday and only future slots today', async () => {
      assert.deepEqual(await s.availableSlots({ tenantId, date: '2026-12-25', serviceType: 'oil_change', now: new Date('2026-12-01T12:00:00Z') }), []);
      const today = await s.availableSlots({ tenantId, date: WED, serviceType: 'oil_change', now: new Date('2027-03-03T13:10:00-08:00') });
      assert.equal(today[0]!.start, '2027-03-03T13:15:00-08:00');
    });

    it('refuses hostile or impossible arguments before any query', async () => {
      const queries: string[] = [];
      const onQuery = (q: { sql: string }): void => { queries.push(q.sql); };
      t.p.db.on('query', onQuery);
      try {
        await rejectsWith(s.availableSlots({ tenantId, date: '2099-02-30', serviceType: 'oil_change', now: NOW }), 'VOI_ERR_BOOKING_INVALID', 'date');
        await rejectsWith(s.availableSlots({ tenantId, date: "2027-03-03' OR 1=1 --", serviceType: 'oil_change', now: NOW }), 'VOI_ERR_BOOKING_INVALID', 'date');
        await rejectsWith(s.availableSlots({ tenantId, date: WED, serviceType: 'x'.repeat(10_000), now: NOW }), 'VOI_ERR_BOOKING_INVALID', 'service_type');
        await rejectsWith(s.availableSlots({ tenantId, date: '2027-02-20', serviceType: 'oil_change', now: NOW }), 'VOI_ERR_BOOKING_INVALID', 'past');
        await rejectsWith(s.availableSlots({ tenantId, date: '2027-09-01', serviceType: 'oil_change', now: NOW }), 'VOI_ERR_BOOKING_INVALID', 'beyond_horizon');
      } finally {
        t.p.db.off('query', onQuery);
      }
      assert.ok(!queries.some((q) => /appointments/.test(q)), queries.join('\n'));
    });
  });

  describe('book', () => {
    it('books a slot and returns the appointment in the dealership zone', async () => {
      const a = await s.book({ tenantId, customer, vehicleId: 'veh-9', serviceType: 'brake_inspection', start: '2027-03-05T09:00:00-08:00', callSid: 'CA123', notes: 'squeaks', now: NOW });
      assert.match(a.id, /^[0-9a-f-]{36}$/);
      assert.deepEqual({ ...a, id: 'x' }, {
        id: 'x', customerId: 'cust-1', vehicleId: 'veh-9', resourceId: 'bay-1', serviceType: 'brake_inspection', serviceName: 'Brake inspection',
        start: '2027-03-05T09:00:00-08:00', end: '2027-03-05T10:00:00-08:00', status: 'booked', syncState: 'none',
      });
      assert.deepEqual(await s.get({ tenantId, appointmentId: a.id }), a);
      // The built-in calendar needs no mirroring job.
      const counts = await t.p.jobs.counts('calendar-sync');
      assert.equal(Object.values(counts).reduce((x, y) => x + y, 0), 0);
    });

    it('lets exactly one of 50 concurrent bookings of a one-bay slot win; the rest get alternatives', async () => {
      const start = '2027-03-08T11:00:00-08:00';
      const results = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => s.book({
        tenantId: oneBay, customer: { id: `c${i}`, name: `Caller ${i}` }, serviceType: 'oil_change', start, now: NOW,
      })));
      const ok = results.filter((r) => r.status === 'fulfilled');
      const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      assert.equal(ok.length, 1);
      assert.equal(failed.length, 49);
      for (const f of failed) {
        assert.ok(isServiceLaneError(f.reason), String(f.reason));
        assert.equal(f.reason.code, 'VOI_ERR_SLOT_TAKEN');
        const alts = (f.reason.details as { alternatives: Slot[] }).alternatives;
        assert.equal(alts.length, 3);
        assert.deepEqual(alts.map((x) => x.start), ['2027-03-08T11:45:00-08:00', '2027-03-08T12:00:00-08:00', '2027-03-08T12:15:00-08:00']);
      }
      assert.equal(await rows(oneBay, { starts_at: new Date(start) }), 1);
    });

    it('fills all three bays when ten callers race for each of six slots, with no other error', async () => {
      // Overlapping inserts into one gist exclusion constraint would deadlock or time out without the
      // per-resource ordering; every caller must get a booking or a clean "slot taken".
      const deadlocksBefore = await deadlockRetries();
      const starts = ['09', '10', '11', '12', '13', '14'].map((h) => `2027-03-09T${h}:00:00-08:00`);
      const results = await Promise.allSettled(starts.flatMap((start) => Array.from({ length: 10 }, (_, i) => s.book({
        tenantId, customer: { id: `r${i}`, name: `Racer ${i}` }, serviceType: 'tire_rotation', start, now: NOW,
      }).then((a) => ({ start, bay: a.resourceId })))));
      const errors = results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as { code?: string }).code ?? String(r.reason)] : []));
      assert.deepEqual([...new Set(errors)], ['VOI_ERR_SLOT_TAKEN']);
      for (const start of starts) {
        const won = results.flatMap((r) => (r.status === 'fulfilled' && r.value.start === start ? [r.value.bay] : []));
        assert.deepEqual(won.sort(), ['bay-1', 'bay-2', 'bay-3'], start);
        assert.equal(await rows(tenantId, { starts_at: new Date(start) }), 3);
      }
      assert.equal(await deadlockRetries(), deadlocksBefore, 'no booking transaction deadlocked');
    });

    it('returns the first booking when retried with the same idempotency key, also concurrently', async () => {
      const input = { tenantId, customer, serviceType: 'oil_change', start: '2027-03-10T08:00:00-08:00', idempotencyKey: 'CA777-book-1', now: NOW };
      const first = await s.book(input);
      const again = await s.book(input);
      assert.equal(again.id, first.id);
      // Also when the retry arrives after the slot has started (the start no longer validates).
      const late = await s.book({ ...input, now: new Date('2027-03-10T08:05:00-08:00') });
      assert.equal(late.id, first.id);
      const burst = await Promise.all(Array.from({ length: 5 }, () => s.book({ ...input, idempotencyKey: 'CA777-book-2', start: '2027-03-10T09:00:00-08:00' })));
      assert.equal(new Set(burst.map((b) => b.id)).size, 1);
      assert.equal(await rows(tenantId, { idempotency_key: 'CA777-book-1' }), 1);
      assert.equal(await rows(tenantId, { idempotency_key: 'CA777-book-2' }), 1);
    });

    it('refuses every bad booking with a coded reason and writes nothing', async () => {
      const before = await rows(tenantId);
      const ok: BookInput = { tenantId, customer, serviceType: 'oil_change', start: '2027-03-11T09:00:00-08:00', now: NOW };
      const cases: [Partial<BookInput>, string][] = [
        [{ start: '2027-03-11T09:07:00-08:00' }, 'not_a_slot'],
        [{ start: '2027-03-11T17:30:00-08:00' }, 'not_a_slot'],
        [{ start: '2027-03-07T09:00:00-08:00' }, 'closed'],
        [{ start: '2027-02-26T09:00:00-08:00' }, 'past'],
        [{ start: '2027-09-01T09:00:00-07:00' }, 'beyond_horizon'],
        [{ start: '2027-03-11T09:00:00' }, 'start'],
        [{ start: "2027-03-11T09:00:00-08:00'; drop table appointments; --" }, 'start'],
        [{ start: '2099-02-30T09:00:00-08:00' }, 'start'],
        [{ serviceType: 'teleport' }, 'service_type'],
        [{ customer: { id: 'c', name: 'x'.repeat(10_000) } }, 'field'],
        [{ customer: { id: 'c', name: 'Bo', phone: '555-1234' } }, 'field'],
        [{ customer: { id: '', name: 'Bo' } }, 'field'],
        [{ notes: 'n'.repeat(2001) }, 'field'],
        [{ callSid: 'CA1; rm -rf /' }, 'field'],
      ];
      for (const [over, reason] of cases) {
        await rejectsWith(s.book({ ...ok, ...over }), 'VOI_ERR_BOOKING_INVALID', reason);
      }
      assert.equal(await rows(tenantId), before);
    });

    it('books the earlier 01:30 on the fall-back day and refuses the repeated one', async () => {
      const a = await s.book({ tenantId: night, customer, serviceType: 'quick', start: '2027-11-07T01:30:00-07:00', now: NOW });
      assert.equal(a.start, '2027-11-07T01:30:00-07:00');
      assert.equal(a.end, '2027-11-07T01:00:00-08:00');
      await rejectsWith(s.book({ tenantId: night, customer, serviceType: 'quick', start: '2027-11-07T01:30:00-08:00', now: NOW }), 'VOI_ERR_BOOKING_INVALID', 'not_a_slot');
    });

    it('refuses an offboarded tenant', async () => {
      const gone = (await t.p.tenants.create({ name: 'Gone', config: demo })).id;
      await t.p.tenants.offboard(gone);
      await rejectsWith(s.book({ tenantId: gone, customer, serviceType: 'oil_change', start: '2027-03-11T09:00:00-08:00', now: NOW }), 'TEN_ERR_OFFBOARDED');
      await rejectsWith(s.availableSlots({ tenantId: gone, date: WED, serviceType: 'oil_change', now: NOW }), 'TEN_ERR_OFFBOARDED');
    });
  });

  describe('one vehicle or customer, one appointment at a time (migration 045)', () => {
    const bookedRows = (tid: string, where: Record<string, unknown>): Promise<{ id: string; resource_id: string }[]> =>
      t.p.tenants.withTenant(tid, (trx) => trx('appointments').where(where).whereNot('status', 'cancelled').select('id', 'resource_id'));

    it('refuses the same vehicle in a second bay at an overlapping time, concurrently, with VOI_ERR_BOOKING_OVERLAP and one row', async () => {
      const start = '2027-03-22T09:00:00-07:00';
      const who = (i: number) => ({ id: `fleet-${i}`, name: `Fleet ${i}` });
      // Five calls, five different customer records (a fleet's drivers), one car: the bay rule alone would let three win.
      const results = await Promise.allSettled([0, 1, 2, 3, 4].map((i) => s.book({ tenantId, customer: who(i), vehicleId: 'veh-overlap-1', serviceType: 'oil_change', start, now: NOW })));
      const ok = results.filter((r) => r.status === 'fulfilled');
      const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      assert.equal(ok.length, 1, results.map((r) => r.status === 'rejected' ? String(r.reason) : 'ok').join('\n'));
      for (const r of refused) {
        assert.ok(isServiceLaneError(r.reason), String(r.reason));
        assert.equal(r.reason.code, 'VOI_ERR_BOOKING_OVERLAP');
        assert.equal((r.reason.details as { subject?: string }).subject, 'vehicle');
      }
      assert.equal((await bookedRows(tenantId, { vehicle_id: 'veh-overlap-1' })).length, 1);
      // 45 minutes later (back to back, half-open ranges) the same car books fine; another car books the same time.
      await s.book({ tenantId, customer: who(0), vehicleId: 'veh-overlap-1', serviceType: 'oil_change', start: '2027-03-22T09:45:00-07:00', now: NOW });
      await s.book({ tenantId, customer: who(0), vehicleId: 'veh-overlap-2', serviceType: 'oil_change', start, now: NOW });
    });

    it('refuses a customer without a vehicle a second overlapping booking, but a cancelled one frees the time', async () => {
      const who = { id: 'cust-overlap', name: 'Overlap Person' };
      const first = await s.book({ tenantId, customer: who, serviceType: 'oil_change', start: '2027-03-23T09:00:00-07:00', now: NOW });
      const e = await rejectsWith(s.book({ tenantId, customer: who, serviceType: 'tire_rotation', start: '2027-03-23T09:30:00-07:00', now: NOW }), 'VOI_ERR_BOOKING_OVERLAP');
      assert.equal(e.details.reason, undefined);
      assert.equal((await bookedRows(tenantId, { customer_id: who.id })).length, 1, 'nothing half-written');
      await s.cancel({ tenantId, appointmentId: first.id });
      await s.book({ tenantId, customer: who, serviceType: 'tire_rotation', start: '2027-03-23T09:30:00-07:00', now: NOW });
    });

    it('refuses to reschedule a vehicle into an overlap with its other appointment, and changes nothing', async () => {
      const who = { id: 'cust-move', name: 'Mover' };
      const a = await s.book({ tenantId, customer: who, vehicleId: 'veh-move', serviceType: 'oil_change', start: '2027-03-24T09:00:00-07:00', now: NOW });
      const b = await s.book({ tenantId, customer: who, vehicleId: 'veh-move', serviceType: 'oil_change', start: '2027-03-24T13:00:00-07:00', now: NOW });
      await rejectsWith(s.reschedule({ tenantId, appointmentId: b.id, newStart: '2027-03-24T09:30:00-07:00', now: NOW }), 'VOI_ERR_BOOKING_OVERLAP');
      assert.equal((await s.get({ tenantId, appointmentId: b.id }))?.start, '2027-03-24T13:00:00-07:00');
      assert.equal((await s.get({ tenantId, appointmentId: a.id }))?.start, '2027-03-24T09:00:00-07:00');
    });

    it('migrates a tenant that already holds overlapping bookings: keeps the earliest under the rule, marks the rest, cancels nothing', async () => {
      const tid = (await t.p.tenants.create({ name: 'Legacy overlaps', config: demo })).id;
      const m045 = loadMigrations('tenant').find((m) => m.name.startsWith('045_'))!;
      // Back to the schema before 045, then the data a tenant could have had then.
      await t.p.tenants.withTenant(tid, (trx) => trx.raw('alter table appointments drop constraint appointments_vehicle_no_overlap, drop constraint appointments_customer_no_overlap, drop column overlap_exempt'));
      const at = (hhmm: string) => new Date(`2027-03-25T${hhmm}:00-07:00`);
      const row = (o: { customer: string; vehicle: string | null; bay: string; from: string; to: string; created: string; status?: string }) => ({
        customer_id: o.customer, vehicle_id: o.vehicle, resource_id: o.bay, service_type: 'oil_change',
        starts_at: at(o.from), ends_at: at(o.to), created_at: new Date(`2027-02-0${o.created}T00:00:00Z`), status: o.status ?? 'booked',
      });
      const ids = await t.p.tenants.withTenant(tid, async (trx) => (await trx('appointments').insert([
        row({ customer: 'c1', vehicle: 'v1', bay: 'bay-1', from: '09:00', to: '10:00', created: '1' }),
        row({ customer: 'c1', vehicle: 'v1', bay: 'bay-2', from: '09:30', to: '10:30', created: '2' }),
        row({ customer: 'c1', vehicle: 'v1', bay: 'bay-3', from: '09:45', to: '10:15', created: '3', status: 'cancelled' }),
        row({ customer: 'c2', vehicle: null, bay: 'bay-1', from: '11:00', to: '12:00', created: '2' }),
        row({ customer: 'c2', vehicle: null, bay: 'bay-2', from: '11:00', to: '12:00', created: '1' }),
        row({ customer: 'c3', vehicle: 'v3', bay: 'bay-3', from: '11:00', to: '12:00', created: '1' }),
      ]).returning('id')).map((r: { id: string }) => r.id));
      await t.p.tenants.withTenant(tid, (trx) => trx.raw(m045.sql));
      const after = await t.p.tenants.withTenant(tid, (trx) => trx('appointments').select('id', 'status', 'overlap_exempt'));
      const flag = (i: number) => after.find((r: { id: string }) => r.id === ids[i])!;
      assert.equal(after.length, 6);
      assert.deepEqual([0, 1, 2, 3, 4, 5].map((i) => flag(i).overlap_exempt), [false, true, false, true, false, false]);
      assert.deepEqual([0, 1, 2, 3, 4, 5].map((i) => flag(i).status), ['booked', 'booked', 'cancelled', 'booked', 'booked', 'booked']);
      // The kept rows are under the rule from now on.
      await assert.rejects(t.p.tenants.withTenant(tid, (trx) => trx('appointments').insert(row({ customer: 'c9', vehicle: 'v1', bay: 'bay-3', from: '09:15', to: '09:45', created: '4' }))),
        (e: { code?: string; constraint?: string }) => e.code === '23P01' && e.constraint === 'appointments_vehicle_no_overlap');
    });
  });

  describe('cancel, reschedule and queries', () => {
    it('cancels (idempotently) and frees the slot for another booking', async () => {
      const start = '2027-03-12T08:00:00-08:00';
      const a = await s.book({ tenantId: oneBay, customer, serviceType: 'oil_change', start, now: NOW });
      await rejectsWith(s.book({ tenantId: oneBay, customer, serviceType: 'oil_change', start, now: NOW }), 'VOI_ERR_SLOT_TAKEN');
      const c = await s.cancel({ tenantId: oneBay, appointmentId: a.id, reason: 'car sold' });
      assert.equal(c.status, 'cancelled');
      assert.equal((await s.cancel({ tenantId: oneBay, appointmentId: a.id })).status, 'cancelled');
      assert.ok((await s.availableSlots({ tenantId: oneBay, date: '2027-03-12', serviceType: 'oil_change', now: NOW })).some((x) => x.start === start));
      const b = await s.book({ tenantId: oneBay, customer, serviceType: 'oil_change', start, now: NOW });
      assert.notEqual(b.id, a.id);
    });

    it('refuses unknown or malformed appointment ids', async () => {
      await rejectsWith(s.cancel({ tenantId, appointmentId: '00000000-0000-4000-8000-000000000000' }), 'VOI_ERR_APPOINTMENT_NOT_FOUND');
      await rejectsWith(s.cancel({ tenantId, appointmentId: "1' or '1'='1" }), 'VOI_ERR_APPOINTMENT_NOT_FOUND');
      await rejectsWith(s.reschedule({ tenantId, appointmentId: 'nope', newStart: '2027-03-12T09:00:00-08:00', now: NOW }), 'VOI_ERR_APPOINTMENT_NOT_FOUND');
      assert.equal(await s.get({ tenantId, appointmentId: 'nope' }), null);
    });

    it('does not let one tenant cancel another tenant\'s appointment', async () => {
      const a = await s.book({ tenantId, customer, serviceType: 'oil_change', start: '2027-03-12T15:00:00-08:00', now: NOW });
      await rejectsWith(s.cancel({ tenantId: oneBay, appointmentId: a.id }), 'VOI_ERR_APPOINTMENT_NOT_FOUND');
      assert.equal((await s.get({ tenantId, appointmentId: a.id }))?.status, 'booked');
    });

    it('reschedules atomically, keeping the bay when free', async () => {
      const a = await s.book({ tenantId, customer, serviceType: 'oil_change', start: '2027-03-15T08:00:00-07:00', now: NOW });
      const moved = await s.reschedule({ tenantId, appointmentId: a.id, newStart: '2027-03-15T13:00:00-07:00', now: NOW });
      assert.equal(moved.id, a.id);
      assert.equal(moved.start, '2027-03-15T13:00:00-07:00');
      assert.equal(moved.resourceId, a.resourceId);
      assert.ok((await s.availableSlots({ tenantId: tenantId, date: '2027-03-15', serviceType: 'oil_change', now: NOW })).find((x) => x.start === '2027-03-15T08:00:00-07:00')?.resourceId === 'bay-1');
    });

    it('leaves the appointment untouched when the new time is taken, and offers alternatives', async () => {
      const a = await s.book({ tenantId: oneBay, customer, serviceType: 'oil_change', start: '2027-03-16T08:00:00-07:00', now: NOW });
      await s.book({ tenantId: oneBay, customer: { id: 'other', name: 'Other' }, serviceType: 'oil_change', start: '2027-03-16T10:00:00-07:00', now: NOW });
      const e = await rejectsWith(s.reschedule({ tenantId: oneBay, appointmentId: a.id, newStart: '2027-03-16T10:00:00-07:00', now: NOW }), 'VOI_ERR_SLOT_TAKEN');
      assert.equal(e.details.alternatives?.[0]?.start, '2027-03-16T10:45:00-07:00');
      const still = await s.get({ tenantId: oneBay, appointmentId: a.id });
      assert.equal(still?.start, '2027-03-16T08:00:00-07:00');
      // Moving within its own time (overlapping itself) is allowed: the row never conflicts with itself.
      const shifted = await s.reschedule({ tenantId: oneBay, appointmentId: a.id, newStart: '2027-03-16T08:15:00-07:00', now: NOW });
      assert.equal(shifted.start, '2027-03-16T08:15:00-07:00');
      await rejectsWith(s.reschedule({ tenantId: oneBay, appointmentId: a.id, newStart: '2027-03-16T08:20:00-07:00', now: NOW }), 'VOI_ERR_BOOKING_INVALID', 'not_a_slot');
      assert.equal((await s.get({ tenantId: oneBay, appointmentId: a.id }))?.start, '2027-03-16T08:15:00-07:00');
    });

    it('refuses to reschedule a cancelled appointment', async () => {
      const a = await s.book({ tenantId, customer, serviceType: 'oil_change', start: '2027-03-17T08:00:00-07:00', now: NOW });
      await s.cancel({ tenantId, appointmentId: a.id });
      await rejectsWith(s.reschedule({ tenantId, appointmentId: a.id, newStart: '2027-03-17T09:00:00-07:00', now: NOW }), 'VOI_ERR_APPOINTMENT_STATE');
    });

    it('lists a customer\'s upcoming bookings and a date range', async () => {
      const who = { id: 'cust-up', name: 'Upcoming Person' };
      const later = await s.book({ tenantId, customer: who, serviceType: 'oil_change', start: '2027-03-19T09:00:00-07:00', now: NOW });
      const sooner = await s.book({ tenantId, customer: who, serviceType: 'oil_change', start: '2027-03-18T09:00:00-07:00', now: NOW });
      const gone = await s.book({ tenantId, customer: who, serviceType: 'oil_change', start: '2027-03-18T11:00:00-07:00', now: NOW });
      await s.cancel({ tenantId, appointmentId: gone.id });
      const up = await s.upcoming({ tenantId, customerId: 'cust-up', now: NOW });
      assert.deepEqual(up.map((x) => x.id), [sooner.id, later.id]);
      assert.deepEqual(await s.upcoming({ tenantId, customerId: 'cust-up', now: new Date('2027-03-20T00:00:00Z') }), []);
      const listed = await s.list({ tenantId, from: '2027-03-18T00:00:00-07:00', to: '2027-03-19T00:00:00-07:00' });
      assert.deepEqual(listed.map((x) => [x.id, x.status]), [[sooner.id, 'booked'], [gone.id, 'cancelled']]);
      await rejectsWith(s.list({ tenantId, from: 'yesterday', to: '2027-03-19T00:00:00-07:00' }), 'VOI_ERR_BOOKING_INVALID', 'field');
    });
  });

  describe('with 1,000 existing appointments', () => {
    let busyTenant: string;
    before(async () => {
      busyTenant = (await t.p.tenants.create({ name: 'Busy', config: demo })).id;
      // 1,000 bookings spread over the next weeks, inserted directly (setup, not the code under test).
      await t.p.tenants.withTenant(busyTenant, async (trx) => {
        const base = Date.parse('2027-03-02T08:00:00-08:00');
        const rowsToInsert = Array.from({ length: 1000 }, (_, i) => {
          const day = Math.floor(i / 24);
          const slot = i % 24;
          const start = base + day * 86_400_000 + Math.floor(slot / 3) * 3_600_000;
          return { customer_id: `seed-${i}`, resource_id: `bay-${(slot % 3) + 1}`, service_type: 'oil_change', starts_at: new Date(start), ends_at: new Date(start + 45 * 60_000) };
        });
        await trx.batchInsert('appointments', rowsToInsert, 250);
      });
    });

    it('reads booked time with one range query per availableSlots and one per book attempt (no N+1)', async () => {
      const sql: string[] = [];
      const onQuery = (q: { sql: string }): void => { if (/appointments/.test(q.sql)) sql.push(q.sql); };
      t.p.db.on('query', onQuery);
      try {
        const slots = await s.availableSlots({ tenantId: busyTenant, date: '2027-03-10', serviceType: 'oil_change', now: NOW });
        assert.equal(sql.length, 1, sql.join('\n'));
        assert.ok(!slots.some((x) => x.start === '2027-03-10T08:00:00-08:00'), 'fully booked hour is not offered');
        sql.length = 0;
        await s.book({ tenantId: busyTenant, customer, serviceType: 'oil_change', start: slots[0]!.start, now: NOW });
        assert.deepEqual(sql.map((q) => q.split(' ')[0]), ['select', 'insert'], sql.join('\n'));
      } finally {
        t.p.db.off('query', onQuery);
      }
    });

    it('serves the range query from an index', async () => {
      const plan = await t.p.tenants.withTenant(busyTenant, async (trx) => {
        await trx.raw('set local enable_seqscan = off');
        const r = await trx.raw(`explain select resource_id, starts_at, ends_at from appointments where status <> 'cancelled'
          and starts_at < ? and starts_at > ? and ends_at > ?`, [new Date('2027-03-11T08:00:00Z'), new Date('2027-03-09T08:00:00Z'), new Date('2027-03-10T08:00:00Z')]);
        return (r.rows as { 'QUERY PLAN': string }[]).map((x) => x['QUERY PLAN']).join('\n');
      });
      assert.match(plan, /Index|Bitmap/);
    });
  });
});
