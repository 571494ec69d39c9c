import assert from 'node:assert/strict';
import fs from 'node:fs';
import type { Knex } from 'knex';
import { Jobs } from '../../core/jobs/jobs.js';
import { calendarSyncJobId, registerCalendarSync } from '../../core/scheduling/calendar-sync.js';
import { silentLogger } from '../../core/observability/logger.js';
import { metrics } from '../../core/observability/metrics.js';
import { Scheduler } from '../../core/scheduling/scheduler.js';
import type { AppointmentRow } from '../../core/scheduling/appointments.js';
import { eventIdFor } from '../../plugins/calendar-google/index.js';
import { startFakeGoogle, type FakeGoogle } from '../fakes/google.js';
import { uniquePrefix } from '../helpers/db.js';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.js';
import { testRegistry } from '../helpers/registry.js';

const demo = JSON.parse(fs.readFileSync(new URL('../../tenants/examples/demo-dealership.json', import.meta.url), 'utf8')) as Record<string, unknown>;
const NOW = new Date('2027-03-01T12:00:00Z');
const CREDS = { clientId: 'client-1', clientSecret: 'secret-1', refreshToken: 'fake-refresh-token' };
const customer = { id: 'cust-1', name: 'Ana Lopez', phone: '+14085550111' };

async function until(cond: () => Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function counterTotal(c: { get(): Promise<{ values: { value: number }[] }> }): Promise<number> {
  return (await c.get()).values.reduce((a, v) => a + v.value, 0);
}

/**
 * The real components, built like core/app.ts does, with test-sized retry and breaker timings: a 30 s breaker
 * and 5 s backoff (production values) would make every "Google recovers" test wait half a minute.
 */
async function buildStack(t: TestPlatform, o: { attempts?: number } = {}) {
  // The platform's own worker shares the Postgres backend's queue; stop it so only this stack consumes.
  await t.p.jobs.close();
  const registry = testRegistry(t, {
    resilience: { retry: false, breaker: { errorThresholdPercentage: 50, resetTimeoutMs: 200, volumeThreshold: 2 } },
  });
  const jobs = new Jobs({ cfg: t.cfg, databaseUrl: t.p.databaseUrl, logger: silentLogger, prefix: uniquePrefix() });
  await jobs.start();
  registerCalendarSync({ jobs, tenants: t.p.tenants, registry, logger: silentLogger });
  const scheduler = new Scheduler({ tenants: t.p.tenants, registry, jobs, logger: silentLogger, sync: { attempts: o.attempts ?? 30, backoffMs: 100 }, busyTimeoutMs: 1000 });
  return { registry, jobs, scheduler, close: async () => { await jobs.close({ timeoutMs: 2000 }); await registry.close(); } };
}

for (const backend of ['redis', 'postgres'] as const) {
  describe(`calendar sync to Google with BullMQ on ${backend}`, function () {
    this.timeout(60_000);
    let fake: FakeGoogle;
    let t: TestPlatform;
    let stack: Awaited<ReturnType<typeof buildStack>>;

    before(async () => {
      fake = await startFakeGoogle();
      t = await startTestPlatform({ state: backend, env: { GOOGLE_TOKEN_URL: `${fake.url}/token`, GOOGLE_API_ROOT_URL: fake.url } });
      stack = await buildStack(t);
    });
    afterEach(() => { fake.faults.reset(); });
    after(async () => { await stack.close(); await t.close(); await fake.close(); });

    async function googleTenant(): Promise<string> {
      const tenant = await t.p.tenants.create({ name: 'Google Motors', config: { ...demo, plugins: { ...(demo.plugins as object), calendar: { plugin: 'calendar-google', credentialsRef: 'google' } } } });
      await t.p.tenants.putCredential(tenant.id, 'google', CREDS);
      return tenant.id;
    }
    const row = (tenantId: string, id: string): Promise<AppointmentRow> =>
      t.p.tenants.withTenant(tenantId, (trx: Knex.Transaction) => trx('appointments').where({ id }).first() as Promise<AppointmentRow>);
    const eventsFor = (appointmentId: string) => fake.eventsIn('primary').filter((e) => e.extendedProperties?.private?.servicelaneAppointmentId === appointmentId);

    it('holds a booking made while Google is down and mirrors it exactly once when Google recovers', async () => {
      const tenantId = await googleTenant();
      fake.setDown(true);
      const degradedBefore = await counterTotal(metrics.calendarDegraded);
      const a = await stack.scheduler.book({ tenantId, customer, serviceType: 'oil_change', start: '2027-03-03T09:00:00-08:00', idempotencyKey: 'CA1-book', now: NOW });
      assert.equal(a.syncState, 'pending');
      assert.ok(await counterTotal(metrics.calendarDegraded) > degradedBefore, 'availability fell back to Postgres and said so');
      const jobId = calendarSyncJobId({ tenantId, appointmentId: a.id, action: 'create', revision: 1 });
      await until(async () => ((await stack.jobs.getJob('calendar-sync', jobId))?.attemptsMade ?? 0) >= 2, 'two failed sync attempts');
      assert.equal(fake.events.length, 0);
      assert.equal((await row(tenantId, a.id)).sync_state, 'pending');

      fake.setDown(false);
      const done = await stack.jobs.waitForJob('calendar-sync', jobId);
      assert.equal(done.state, 'completed', done.failedReason);
      assert.deepEqual(done.returnValue, { outcome: 'created' });
      const events = eventsFor(a.id);
      assert.equal(events.length, 1, 'exactly one event');
      assert.equal(fake.eventsIn('primary').length, 1);
      assert.equal(events[0]!.id, eventIdFor(a.id));
      assert.equal(events[0]!.status, 'confirmed');
      assert.equal(events[0]!.start.dateTime, '2027-03-03T09:00:00-08:00');
      const r = await row(tenantId, a.id);
      assert.equal(r.sync_state, 'synced');
      assert.equal(r.external_event_id, eventIdFor(a.id));
      assert.equal((await stack.scheduler.get({ tenantId, appointmentId: a.id }))?.syncState, 'synced');
      // The same booking retried by the caller is the same appointment, and no second event appears.
      const again = await stack.scheduler.book({ tenantId, customer, serviceType: 'oil_change', start: '2027-03-03T09:00:00-08:00', idempotencyKey: 'CA1-book', now: NOW });
      assert.equal(again.id, a.id);
      await stack.jobs.waitIdle({ queues: ['calendar-sync'] });
      assert.equal(fake.eventsIn('primary').length, 1);
    });

    if (backend === 'postgres') return;

    it('mirrors a reschedule as a patch and a cancellation as a delete', async () => {
      const tenantId = await googleTenant();
      const a = await stack.scheduler.book({ tenantId, customer, serviceType: 'oil_change', start: '2027-03-04T09:00:00-08:00', now: NOW });
      await stack.jobs.waitForJob('calendar-sync', calendarSyncJobId({ tenantId, appointmentId: a.id, action: 'create', revision: 1 }));
      const moved = await stack.scheduler.reschedule({ tenantId, appointmentId: a.id, newStart: '2027-03-04T13:00:00-08:00', now: NOW });
      assert.equal(moved.syncState, 'pending');
      const upd = await stack.jobs.waitForJob('calendar-sync', calendarSyncJobId({ tenantId, appointmentId: a.id, action: 'update', revision: 2 }));
      assert.deepEqual(upd.returnValue, { outcome: 'updated' });
      assert.equal(eventsFor(a.id)[0]!.start.dateTime, '2027-03-04T13:00:00-08:00');
      await stack.scheduler.cancel({ tenantId, appointmentId: a.id, reason: 'sold the car' });
      const del = await stack.jobs.waitForJob('calendar-sync', calendarSyncJobId({ tenantId, appointmentId: a.id, action: 'cancel', revision: 3 }));
      assert.deepEqual(del.returnValue, { outcome: 'cancelled' });
      const events = eventsFor(a.id);
      assert.equal(events.length, 1);
      assert.equal(events[0]!.status, 'cancelled');
      assert.equal((await row(tenantId, a.id)).sync_state, 'synced');
    });

    it('leaves no live event for a booking cancelled before Google ever saw it', async () => {
      const tenantId = await googleTenant();
      fake.setDown(true);
      const a = await stack.scheduler.book({ tenantId, customer, serviceType: 'oil_change', start: '2027-03-05T09:00:00-08:00', now: NOW });
      await stack.scheduler.cancel({ tenantId, appointmentId: a.id });
      await new Promise((r) => setTimeout(r, 200));
      fake.setDown(false);
      await stack.jobs.waitIdle({ queues: ['calendar-sync'] });
      assert.ok(eventsFor(a.id).every((e) => e.status === 'cancelled'), 'no confirmed event');
      const r = await row(tenantId, a.id);
      assert.equal(r.status, 'cancelled');
      assert.equal(r.sync_state, 'synced');
    });

    it('lets Google busy time block the whole shop while our own bookings block only their bay', async () => {
      const tenantId = await googleTenant();
      fake.seedEvent('primary', { summary: 'Shop closed for training', start: { dateTime: '2027-03-08T10:00:00-08:00' }, end: { dateTime: '2027-03-08T11:00:00-08:00' } });
      const a = await stack.scheduler.book({ tenantId, customer, serviceType: 'oil_change', start: '2027-03-08T08:00:00-08:00', now: NOW });
      await stack.jobs.waitForJob('calendar-sync', calendarSyncJobId({ tenantId, appointmentId: a.id, action: 'create', revision: 1 }));
      const slots = await stack.scheduler.availableSlots({ tenantId, date: '2027-03-08', serviceType: 'oil_change', now: NOW });
      const at = (hhmm: string) => slots.find((x) => x.start === `2027-03-08T${hhmm}:00-08:00`);
      assert.equal(at('08:00')?.resourceId, 'bay-2', 'the mirrored booking holds bay-1 only');
      assert.equal(at('10:00'), undefined);
      assert.equal(at('09:30'), undefined, '09:30 + 45 min runs into the block');
      assert.equal(at('11:00')?.resourceId, 'bay-1');
      await assertSlotTakenAt(tenantId, '2027-03-08T10:15:00-08:00');
    });

    async function assertSlotTakenAt(tenantId: string, start: string): Promise<void> {
      await assert.rejects(stack.scheduler.book({ tenantId, customer, serviceType: 'oil_change', start, now: NOW }), (e: { code?: string }) => e.code === 'VOI_ERR_SLOT_TAKEN');
    }

    it('marks a booking failed after its last attempt, and resync pushes it once Google is back', async () => {
      const tenantId = await googleTenant();
      const short = new Scheduler({ tenants: t.p.tenants, registry: stack.registry, jobs: stack.jobs, logger: silentLogger, sync: { attempts: 2, backoffMs: 50 }, busyTimeoutMs: 500 });
      fake.setDown(true);
      const a = await short.book({ tenantId, customer, serviceType: 'oil_change', start: '2027-03-09T09:00:00-08:00', now: NOW });
      const failed = await stack.jobs.waitForJob('calendar-sync', calendarSyncJobId({ tenantId, appointmentId: a.id, action: 'create', revision: 1 }));
      assert.equal(failed.state, 'failed');
      assert.equal(failed.attemptsMade, 2);
      const r = await row(tenantId, a.id);
      assert.equal(r.sync_state, 'failed');
      assert.match(r.sync_error ?? '', /^calendar-google: /);
      assert.ok(!/Ana|Lopez|\+1408/.test(r.sync_error ?? ''), 'no PII in the stored error');
      fake.setDown(false);
      await new Promise((res) => setTimeout(res, 250)); // let the test breaker half-open
      assert.equal(await short.resync({ tenantId, olderThanMs: 0 }), 1);
      await stack.jobs.waitIdle({ queues: ['calendar-sync'] });
      assert.equal((await row(tenantId, a.id)).sync_state, 'synced');
      assert.equal(eventsFor(a.id).length, 1);
    });

    it('never counts a write taken by a configured built-in fallback as mirrored to Google', async () => {
      const tenant = await t.p.tenants.create({ name: 'Fallback Motors', config: { ...demo, plugins: { ...(demo.plugins as object), calendar: { plugin: 'calendar-google', credentialsRef: 'google', fallback: 'calendar-builtin' } } } });
      await t.p.tenants.putCredential(tenant.id, 'google', CREDS);
      fake.setDown(true);
      const a = await stack.scheduler.book({ tenantId: tenant.id, customer, serviceType: 'oil_change', start: '2027-03-11T09:00:00-08:00', now: NOW });
      const jobId = calendarSyncJobId({ tenantId: tenant.id, appointmentId: a.id, action: 'create', revision: 1 });
      await until(async () => ((await stack.jobs.getJob('calendar-sync', jobId))?.attemptsMade ?? 0) >= 2, 'two sync attempts answered by the fallback');
      const r = await row(tenant.id, a.id);
      assert.equal(r.sync_state, 'pending');
      assert.equal(r.external_event_id, null);
      fake.setDown(false);
      await stack.jobs.waitForJob('calendar-sync', jobId);
      assert.equal((await row(tenant.id, a.id)).external_event_id, eventIdFor(a.id));
      assert.equal(eventsFor(a.id).length, 1);
    });

    it('fails the sync at once when Google refuses the grant (not retryable)', async () => {
      const tenantId = await googleTenant();
      fake.revokeRefreshToken(CREDS.refreshToken);
      fake.expireTokens();
      try {
        const a = await stack.scheduler.book({ tenantId, customer, serviceType: 'oil_change', start: '2027-03-10T09:00:00-08:00', now: NOW });
        const job = await stack.jobs.waitForJob('calendar-sync', calendarSyncJobId({ tenantId, appointmentId: a.id, action: 'create', revision: 1 }));
        assert.equal(job.state, 'failed');
        assert.equal(job.attemptsMade, 1);
        const r = await row(tenantId, a.id);
        assert.equal(r.sync_state, 'failed');
        assert.equal(r.sync_error, 'calendar-google: auth 400');
        assert.equal(r.status, 'booked', 'the booking itself stands');
      } finally {
        fake.addRefreshToken(CREDS.refreshToken);
      }
    });
  });
}
