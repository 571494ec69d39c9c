// Issue 9.4: a booking's calendar-sync intent is written in the booking's own transaction (the outbox) and a
// worker loop drains it, so a Redis outage — enqueue failing, queued jobs lost with the server — delays the
// dealership's calendar but loses nothing. The queue's Redis here is a real redis-server of our own that the
// test kills for a window (its data gone, like a crashed cache node) and restarts empty.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import type { Knex } from 'knex';
import { Jobs } from '../../core/jobs/jobs.js';
import { SYNC_OUTBOX_TABLE } from '../../core/scheduling/sync-outbox.js';
import { silentLogger } from '../../core/observability/logger.js';
import { Scheduler } from '../../core/scheduling/scheduler.js';
import { startFakeGoogle, type FakeGoogle } from '../fakes/google.js';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.js';
import { startThrowawayRedis, type ThrowawayRedis } from '../helpers/throwaway-redis.js';

const demo = JSON.parse(fs.readFileSync(new URL('../../tenants/examples/demo-dealership.json', import.meta.url), 'utf8')) as Record<string, unknown>;
const NOW = new Date('2027-03-01T12:00:00Z');
const CREDS = { clientId: 'client-1', clientSecret: 'secret-1', refreshToken: 'fake-refresh-token' };
const DAYS = ['2027-03-02', '2027-03-03', '2027-03-04', '2027-03-05', '2027-03-08', '2027-03-09'];
const HOURS = ['08:00', '09:00', '10:00', '11:00', '13:00', '14:00'];
/** 36 distinct slots (PST, before the DST switch). */
const SLOTS = DAYS.flatMap((d) => HOURS.map((h) => `${d}T${h}:00-08:00`));

describe('calendar sync outbox: bookings survive a Redis outage (issue 9.4)', function () {
  this.timeout(180_000);
  let redis: ThrowawayRedis;
  let google: FakeGoogle;
  let t: TestPlatform;

  before(async () => {
    redis = await startThrowawayRedis();
    google = await startFakeGoogle();
    t = await startTestPlatform({
      state: 'redis',
      env: { REDIS_URL: redis.url, GOOGLE_TOKEN_URL: `${google.url}/token`, GOOGLE_API_ROOT_URL: google.url },
      // Test-sized loop timings: a row is re-queued 3 s after its job was handed to a queue that then lost it.
      build: { syncOutbox: { pollMs: 200, leaseMs: 3000 } },
    });
  });
  after(async () => {
    if (redis && !redis.running) await redis.start();
    await t?.close();
    await google?.close();
    await redis?.close();
  });

  it('books 36 appointments around a Redis outage (12 before, 12 during, 12 after) and every one reaches the Google calendar', async () => {
    const tenant = await t.p.tenants.create({ name: 'Outage Motors', config: { ...demo, plugins: { ...(demo.plugins as object), calendar: { plugin: 'calendar-google', credentialsRef: 'google' } } } });
    await t.p.tenants.putCredential(tenant.id, 'google', CREDS);
    const book = (start: string, i: number) => t.p.scheduler.book({
      tenantId: tenant.id, customer: { id: `cust-${i}`, name: `Customer ${i}` }, serviceType: 'oil_change', start, now: NOW,
    });
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) ids.push((await book(SLOTS[i]!, i)).id);
    await redis.stop();
    const outageStart = Date.now();
    for (let i = 12; i < 24; i++) ids.push((await book(SLOTS[i]!, i)).id);
    // A 10 s outage, as in the issue: bookings keep succeeding (Postgres is the authority) while no job can be queued.
    const left = 10_000 - (Date.now() - outageStart);
    if (left > 0) await new Promise((r) => setTimeout(r, left));
    await redis.start();
    for (let i = 24; i < 36; i++) ids.push((await book(SLOTS[i]!, i)).id);
    assert.equal(new Set(ids).size, 36, '36 bookings made');

    const mirrored = (): Set<string> => new Set(google.eventsIn('primary').filter((e) => e.status !== 'cancelled')
      .map((e) => e.extendedProperties?.private?.servicelaneAppointmentId ?? ''));
    // Recovery is asynchronous; give it a generous bound and then count what never arrived.
    const deadline = Date.now() + 60_000;
    while (ids.some((id) => !mirrored().has(id)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const lost = ids.filter((id) => !mirrored().has(id));
    process.stdout.write(`      bookings that never reached the calendar after a 10 s Redis outage: ${lost.length} of ${ids.length}\n`);
    assert.equal(lost.length, 0, `${lost.length} of 36 bookings never reached the dealership's calendar`);
    // The job creates the event first and records `synced` in its own transaction after: wait for that write too.
    const syncStates = async () => new Set((await t.p.tenants.withTenant(tenant.id, (trx: Knex.Transaction) => trx('appointments').whereIn('id', ids).select('sync_state')) as { sync_state: string }[]).map((s) => s.sync_state));
    let states = await syncStates();
    while ((states.size !== 1 || !states.has('synced')) && Date.now() < deadline + 10_000) {
      await new Promise((r) => setTimeout(r, 100));
      states = await syncStates();
    }
    assert.deepEqual([...states], ['synced']);
    assert.equal(google.eventsIn('primary').length, 36, 'exactly one event per booking');
  });
});

describe('calendar sync outbox on the Postgres queue backend', function () {
  this.timeout(120_000);
  let google: FakeGoogle;
  let t: TestPlatform;
  let deadQueue: Jobs;
  let dead: ThrowawayRedis;

  before(async () => {
    google = await startFakeGoogle();
    t = await startTestPlatform({
      state: 'postgres',
      env: { GOOGLE_TOKEN_URL: `${google.url}/token`, GOOGLE_API_ROOT_URL: google.url },
      build: { syncOutbox: { pollMs: 100, leaseMs: 500, resyncIntervalMs: 500 } },
    });
    // A scheduler whose own queue is a Redis that is gone: every fast-path enqueue fails, as in an outage.
    dead = await startThrowawayRedis();
    await dead.stop();
    deadQueue = new Jobs({ cfg: { ...t.cfg, redisUrl: dead.url, role: 'api' }, databaseUrl: t.p.databaseUrl, logger: silentLogger, enqueueTimeoutMs: 500 });
  });
  after(async () => {
    await deadQueue?.close({ timeoutMs: 500 });
    await t?.close();
    await google?.close();
    await dead?.close();
  });

  it('writes one intent per change in the change\'s transaction, and the platform\'s worker delivers book, move and cancel', async () => {
    assert.equal(t.p.jobs.backend, 'postgres');
    const tenant = await t.p.tenants.create({ name: 'Queue Outage Motors', config: { ...demo, plugins: { ...(demo.plugins as object), calendar: { plugin: 'calendar-google', credentialsRef: 'google' } } } });
    await t.p.tenants.putCredential(tenant.id, 'google', CREDS);
    const scheduler = new Scheduler({ tenants: t.p.tenants, registry: t.p.registry, jobs: deadQueue, logger: silentLogger, outboxLeaseMs: 500 });
    const customer = { id: 'cust-x', name: 'Ana Lopez' };
    const a = await scheduler.book({ tenantId: tenant.id, customer, serviceType: 'oil_change', start: '2027-03-02T08:00:00-08:00', now: NOW });
    const b = await scheduler.book({ tenantId: tenant.id, customer, serviceType: 'oil_change', start: '2027-03-02T09:00:00-08:00', now: NOW });
    const c = await scheduler.book({ tenantId: tenant.id, customer, serviceType: 'oil_change', start: '2027-03-02T10:00:00-08:00', now: NOW });
    await scheduler.reschedule({ tenantId: tenant.id, appointmentId: b.id, newStart: '2027-03-02T13:00:00-08:00', now: NOW });
    await scheduler.cancel({ tenantId: tenant.id, appointmentId: c.id });
    // Refused changes write nothing: a slot already taken in every bay, and a move of a cancelled booking.
    for (let i = 0; i < 3; i++) await scheduler.book({ tenantId: tenant.id, customer: { id: `busy-${i}`, name: 'Busy' }, serviceType: 'oil_change', start: '2027-03-03T08:00:00-08:00', now: NOW });
    await assert.rejects(scheduler.book({ tenantId: tenant.id, customer, serviceType: 'oil_change', start: '2027-03-03T08:00:00-08:00', now: NOW }), (e: { code?: string }) => e.code === 'VOI_ERR_SLOT_TAKEN');
    await assert.rejects(scheduler.reschedule({ tenantId: tenant.id, appointmentId: c.id, newStart: '2027-03-04T08:00:00-08:00', now: NOW }), (e: { code?: string }) => e.code === 'VOI_ERR_APPOINTMENT_STATE');
    const intents = await t.p.db(SYNC_OUTBOX_TABLE).where({ tenant_id: tenant.id }).orderBy('id').select('appointment_id', 'action', 'revision') as { appointment_id: string; action: string; revision: number }[];
    assert.deepEqual(intents.filter((r) => [a.id, b.id, c.id].includes(r.appointment_id)).map((r) => [r.appointment_id, r.action, r.revision]), [
      [a.id, 'create', 1], [b.id, 'create', 1], [c.id, 'create', 1], [b.id, 'update', 2], [c.id, 'cancel', 2],
    ]);
    assert.equal(intents.length, 8, 'five changes above plus the three bookings that filled 08:00; nothing for the refused ones');

    const byAppt = (id: string) => google.eventsIn('primary').filter((e) => e.extendedProperties?.private?.servicelaneAppointmentId === id);
    const deadline = Date.now() + 30_000;
    const open = async () => Number(((await t.p.db(SYNC_OUTBOX_TABLE).where({ tenant_id: tenant.id }).whereNull('done_at').count('* as n')) as { n: number }[])[0]!.n);
    while ((await open()) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.equal(await open(), 0, 'every intent was delivered and marked done');
    assert.equal(byAppt(a.id)[0]?.status, 'confirmed');
    assert.equal(byAppt(b.id)[0]?.start.dateTime, '2027-03-02T13:00:00-08:00', 'the move reached the calendar');
    assert.ok(byAppt(c.id).every((e) => e.status === 'cancelled'), 'the cancelled booking shows no live event');
    const states = await t.p.tenants.withTenant(tenant.id, (trx: Knex.Transaction) => trx('appointments').select('sync_state')) as { sync_state: string }[];
    assert.deepEqual([...new Set(states.map((s) => s.sync_state))], ['synced']);
  });

  it('runs the periodic resync from the worker loop: a booking whose retries ran out reaches the calendar once Google is back', async () => {
    const tenant = await t.p.tenants.create({ name: 'Resync Motors', config: { ...demo, plugins: { ...(demo.plugins as object), calendar: { plugin: 'calendar-google', credentialsRef: 'google' } } } });
    await t.p.tenants.putCredential(tenant.id, 'google', CREDS);
    // One attempt only, on the platform's own queue, so the booking is `failed` at once while Google is down.
    const scheduler = new Scheduler({ tenants: t.p.tenants, registry: t.p.registry, jobs: t.p.jobs, logger: silentLogger, sync: { attempts: 1 }, busyTimeoutMs: 300 });
    google.setDown(true);
    let a;
    try {
      a = await scheduler.book({ tenantId: tenant.id, customer: { id: 'cust-r', name: 'Rita' }, serviceType: 'oil_change', start: '2027-03-05T08:00:00-08:00', now: NOW });
      const syncState = () => t.p.tenants.withTenant(tenant.id, (trx: Knex.Transaction) => trx('appointments').where({ id: a!.id }).first('sync_state')) as Promise<{ sync_state: string }>;
      const deadline = Date.now() + 20_000;
      while ((await syncState()).sync_state !== 'failed' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.equal((await syncState()).sync_state, 'failed', 'retries ran out while Google was down');
    } finally { google.setDown(false); }
    const id = a.id;
    const deadline = Date.now() + 40_000;
    const live = () => google.eventsIn('primary').filter((e) => e.extendedProperties?.private?.servicelaneAppointmentId === id && e.status === 'confirmed');
    while (live().length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.equal(live().length, 1, 'the sweep, not any caller, pushed it');
    // The job records `synced` after Google answered, so the fake sees the event a moment before the row says so.
    const state = async () => (await t.p.tenants.withTenant(tenant.id, (trx: Knex.Transaction) => trx('appointments').where({ id }).first('sync_state'))).sync_state as string;
    while ((await state()) !== 'synced' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(await state(), 'synced');
  });
});
