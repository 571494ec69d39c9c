import assert from 'node:assert/strict';
import fs from 'node:fs';
import type { Knex } from 'knex';
import type { CalendarProvider } from '../../core/sdk/index.js';
import { expectPluginError } from '../../core/sdk/testing/index.js';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.js';

const demo = JSON.parse(fs.readFileSync(new URL('../../tenants/examples/demo-dealership.json', import.meta.url), 'utf8')) as Record<string, unknown>;
const NOW = new Date('2027-03-01T12:00:00Z');

describe('calendar-builtin through the plugin registry', function () {
  this.timeout(30_000);
  let t: TestPlatform;
  let tenantId: string;
  let cal: CalendarProvider;
  const count = (): Promise<number> => t.p.tenants.withTenant(tenantId, async (trx: Knex.Transaction) => Number((await trx('appointments').count<{ c: string }[]>('* as c'))[0]!.c));

  before(async () => {
    t = await startTestPlatform();
    tenantId = (await t.p.tenants.create({ name: 'Builtin Motors', config: demo })).id;
    cal = await t.p.registry.get(tenantId, 'calendar');
  });
  after(async () => { await t.close(); });

  it('declares itself the built-in calendar, so core neither asks it for busy time nor queues a sync', async () => {
    const m = t.p.registry.manifest('calendar-builtin');
    assert.deepEqual(m?.capabilities, { busy: true, write: true, perResource: true, builtin: true });
    assert.equal(t.p.scheduler.isExternalCalendar((await t.p.tenants.get(tenantId)).config!), false);
  });

  it('reads busy time per resource from booked appointments, skipping cancelled ones', async () => {
    const s = t.p.scheduler;
    const customer = { id: 'c1', name: 'Ana Lopez' };
    const a = await s.book({ tenantId, customer, serviceType: 'oil_change', start: '2027-03-03T09:00:00-08:00', now: NOW });
    // Another customer: one customer can't hold two bays at once (VOI_ERR_BOOKING_OVERLAP).
    const b = await s.book({ tenantId, customer: { id: 'c1b', name: 'Bo Kim' }, serviceType: 'oil_change', start: '2027-03-03T09:00:00-08:00', now: NOW });
    const c = await s.book({ tenantId, customer, serviceType: 'tire_rotation', start: '2027-03-03T11:00:00-08:00', now: NOW });
    await s.cancel({ tenantId, appointmentId: c.id });
    const busy = await cal.getBusy({ from: '2027-03-03T00:00:00-08:00', to: '2027-03-04T00:00:00-08:00' });
    assert.deepEqual(busy, [
      { start: '2027-03-03T17:00:00.000Z', end: '2027-03-03T17:45:00.000Z', resourceId: a.resourceId },
      { start: '2027-03-03T17:00:00.000Z', end: '2027-03-03T17:45:00.000Z', resourceId: b.resourceId },
    ]);
    assert.deepEqual(await cal.getBusy({ from: '2027-03-03T00:00:00-08:00', to: '2027-03-04T00:00:00-08:00', resourceIds: ['bay-2'] }), [busy[1]]);
    assert.deepEqual(await cal.getBusy({ from: '2027-03-03T09:45:00-08:00', to: '2027-03-03T10:00:00-08:00' }), [], 'half-open: an interval ending at `from` is not busy');
  });

  it('treats a booking core already wrote as its own record: create returns its id and writes nothing', async () => {
    const a = await t.p.scheduler.book({ tenantId, customer: { id: 'c2', name: 'Bo Kim' }, serviceType: 'oil_change', start: '2027-03-04T09:00:00-08:00', now: NOW });
    const before = await count();
    const dto = { id: a.id, resourceId: a.resourceId, serviceType: a.serviceType, start: a.start, end: a.end, timezone: 'America/Los_Angeles', customer: { id: 'c2', name: 'Bo Kim' } };
    assert.deepEqual(await cal.createAppointment({ appointment: dto, idempotencyKey: a.id }), { externalId: a.id });
    assert.equal(await count(), before);
  });

  it('moves and cancels an appointment row: the row changes and getBusy follows it', async () => {
    const a = await t.p.scheduler.book({ tenantId, customer: { id: 'c3', name: 'Cy Dunn' }, serviceType: 'oil_change', start: '2027-03-05T09:00:00-08:00', now: NOW });
    const window = { from: '2027-03-05T00:00:00-08:00', to: '2027-03-06T00:00:00-08:00', resourceIds: [a.resourceId] };
    const row = () => t.p.tenants.withTenant(tenantId, (trx: Knex.Transaction) => trx('appointments').where({ id: a.id }).first('starts_at', 'ends_at', 'status', 'cancel_reason'));
    const dto = { id: a.id, resourceId: a.resourceId, serviceType: a.serviceType, start: '2027-03-05T13:00:00-08:00', end: '2027-03-05T13:45:00-08:00', timezone: 'America/Los_Angeles', customer: { id: 'c3', name: 'Cy Dunn' } };

    await cal.updateAppointment({ externalId: a.id, appointment: dto });
    const moved = await row();
    assert.deepEqual([moved.starts_at.toISOString(), moved.ends_at.toISOString(), moved.status], ['2027-03-05T21:00:00.000Z', '2027-03-05T21:45:00.000Z', 'booked']);
    assert.deepEqual(await cal.getBusy(window), [{ start: '2027-03-05T21:00:00.000Z', end: '2027-03-05T21:45:00.000Z', resourceId: a.resourceId }]);

    await cal.cancelAppointment({ externalId: a.id, reason: 'customer called' });
    const cancelled = await row();
    assert.deepEqual([cancelled.status, cancelled.cancel_reason], ['cancelled', 'customer called']);
    assert.deepEqual(await cal.getBusy(window), [], 'a cancelled appointment is not busy');
    await expectPluginError(cal.updateAppointment({ externalId: a.id, appointment: dto }), 'moving a cancelled appointment').then((e) => assert.equal(e.category, 'not_found'));
  });

  it('refuses malformed busy queries with invalid_request and reads nothing', async () => {
    const bad: [Record<string, unknown>, string][] = [
      [{ from: '2027-03-04T00:00:00Z', to: '2027-03-03T00:00:00Z' }, 'to before from'],
      [{ from: '2027-03-04', to: '2027-03-05T00:00:00Z' }, 'no offset'],
      [{ from: '2027-01-01T00:00:00Z', to: '2029-01-01T00:00:00Z' }, 'range too long'],
      [{ from: '2027-03-04T00:00:00Z', to: '2027-03-05T00:00:00Z', resourceIds: ["bay-1' or 1=1 --"] }, 'hostile resource id'],
    ];
    const sql: string[] = [];
    const onQuery = (q: { sql: string }): void => { sql.push(q.sql); };
    t.p.db.on('query', onQuery);
    try {
      for (const [args, label] of bad) {
        const e = await expectPluginError(cal.getBusy(args as { from: string; to: string }), label);
        assert.equal(e.category, 'invalid_request', label);
      }
    } finally {
      t.p.db.off('query', onQuery);
    }
    assert.ok(!sql.some((q) => /appointments/.test(q)));
  });

  it('passes its connection test', async () => {
    const r = await t.p.registry.testConnection(tenantId, 'calendar');
    assert.equal(r.ok, true);
  });
});
