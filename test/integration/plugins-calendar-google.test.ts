import assert from 'node:assert/strict';
import fs from 'node:fs';
import manifest, { eventIdFor } from '../../plugins/calendar-google/index.js';
import type { AppointmentDto, CalendarProvider, PluginError } from '../../core/sdk/index.js';
import { createTestContext, expectPluginError } from '../../core/sdk/testing/index.js';
import { parseDealershipConfig } from '../../core/tenancy/config.js';
import { startFakeGoogle, type FakeGoogle } from '../fakes/google.js';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.js';

const demo = JSON.parse(fs.readFileSync(new URL('../../tenants/examples/demo-dealership.json', import.meta.url), 'utf8')) as Record<string, unknown>;
const CREDS = { clientId: 'client-1', clientSecret: 'secret-1', refreshToken: 'fake-refresh-token' };

function appointment(over: Partial<AppointmentDto> = {}): AppointmentDto {
  return {
    id: '6f1d2c3b-1a2b-4c3d-8e9f-0a1b2c3d4e5f', resourceId: 'bay-2', serviceType: 'oil_change',
    start: '2027-03-10T09:00:00-08:00', end: '2027-03-10T09:45:00-08:00', timezone: 'America/Los_Angeles',
    customer: { id: 'cust-1', name: 'Ana Lopez', phone: '+14085550111' }, notes: 'rattle', ...over,
  };
}

describe('calendar-google plugin against the fake Google Calendar', function () {
  this.timeout(20_000);
  let fake: FakeGoogle;
  let cal: CalendarProvider;
  const settings = { calendarId: 'service@dealer.test', timeZone: 'America/Los_Angeles' };

  beforeEach(async () => {
    fake = await startFakeGoogle();
    const ctx = createTestContext({ pluginId: manifest.id });
    cal = await manifest.create(ctx, { settings: { ...settings, tokenUrl: `${fake.url}/token`, apiRootUrl: fake.url }, credentials: CREDS });
  });
  afterEach(async () => { await fake.close(); });

  const day = { from: '2027-03-10T00:00:00-08:00', to: '2027-03-11T00:00:00-08:00' };

  it('reports the dealership\'s own events shop-wide and our bookings per resource', async () => {
    fake.seedEvent(settings.calendarId, { summary: 'Staff meeting', start: { dateTime: '2027-03-10T12:00:00-08:00' }, end: { dateTime: '2027-03-10T13:00:00-08:00' } });
    fake.seedEvent(settings.calendarId, { summary: 'FYI', transparency: 'transparent', start: { dateTime: '2027-03-10T14:00:00-08:00' }, end: { dateTime: '2027-03-10T15:00:00-08:00' } });
    fake.seedEvent(settings.calendarId, { summary: 'Called off', status: 'cancelled', start: { dateTime: '2027-03-10T16:00:00-08:00' }, end: { dateTime: '2027-03-10T17:00:00-08:00' } });
    await cal.createAppointment({ appointment: appointment(), idempotencyKey: 'k1' });
    const busy = await cal.getBusy(day);
    assert.deepEqual(busy, [
      { start: '2027-03-10T20:00:00.000Z', end: '2027-03-10T21:00:00.000Z' },
      { start: '2027-03-10T17:00:00.000Z', end: '2027-03-10T17:45:00.000Z', resourceId: 'bay-2' },
    ]);
    const fb = fake.requests.find((r) => r.path === '/calendar/v3/freeBusy');
    assert.deepEqual((fb?.body as { items: unknown; timeZone: string }).items, [{ id: settings.calendarId }]);
    assert.equal((fb?.body as { timeZone: string }).timeZone, 'America/Los_Angeles');
  });

  it('creates one event per booking, with an id derived from the idempotency key, even when retried', async () => {
    const a = appointment();
    const first = await cal.createAppointment({ appointment: a, idempotencyKey: a.id });
    const again = await cal.createAppointment({ appointment: a, idempotencyKey: a.id });
    assert.equal(first.externalId, eventIdFor(a.id));
    assert.match(first.externalId, /^[a-v0-9]{5,1024}$/);
    assert.equal(again.externalId, first.externalId);
    const events = fake.eventsIn(settings.calendarId);
    assert.equal(events.length, 1);
    const ev = events[0]!;
    assert.equal(ev.status, 'confirmed');
    assert.equal(ev.transparency, 'transparent');
    assert.deepEqual(ev.start, { dateTime: '2027-03-10T09:00:00-08:00', timeZone: 'America/Los_Angeles' });
    assert.equal(ev.extendedProperties?.private?.servicelaneAppointmentId, a.id);
    assert.equal(ev.extendedProperties?.private?.servicelaneResourceId, 'bay-2');
    assert.match(ev.description ?? '', /Ana Lopez/);
  });

  it('revives its own deleted event when the same booking is created again', async () => {
    const a = appointment();
    const { externalId } = await cal.createAppointment({ appointment: a, idempotencyKey: a.id });
    await cal.cancelAppointment({ externalId });
    assert.equal(fake.eventsIn(settings.calendarId)[0]!.status, 'cancelled');
    await cal.createAppointment({ appointment: a, idempotencyKey: a.id });
    const events = fake.eventsIn(settings.calendarId);
    assert.equal(events.length, 1);
    assert.equal(events[0]!.status, 'confirmed');
  });

  it('moves an event with patch and removes it with delete, treating an already-gone event as done', async () => {
    const a = appointment();
    const { externalId } = await cal.createAppointment({ appointment: a, idempotencyKey: a.id });
    await cal.updateAppointment({ externalId, appointment: appointment({ start: '2027-03-10T11:00:00-08:00', end: '2027-03-10T11:45:00-08:00', resourceId: 'bay-3' }) });
    const moved = fake.eventsIn(settings.calendarId)[0]!;
    assert.equal(moved.start.dateTime, '2027-03-10T11:00:00-08:00');
    assert.equal(moved.extendedProperties?.private?.servicelaneResourceId, 'bay-3');
    assert.ok(fake.requests.some((r) => r.method === 'PATCH'));
    await cal.cancelAppointment({ externalId, reason: 'sold the car' });
    await cal.cancelAppointment({ externalId }); // 410 deleted
    await cal.cancelAppointment({ externalId: 'abcdef0123456789' }); // 404 never existed
    assert.equal(fake.eventsIn(settings.calendarId)[0]!.status, 'cancelled');
    assert.deepEqual(await cal.getBusy(day), []);
  });

  it('refreshes a stale access token once and carries on', async () => {
    await cal.getBusy(day);
    fake.expireTokens();
    await cal.getBusy(day);
    assert.equal(fake.requests.filter((r) => r.path === '/token').length, 2);
  });

  describe('maps vendor failures to PluginError categories', () => {
    const expectCategory = async (p: Promise<unknown>, category: PluginError['category'], retryable: boolean): Promise<void> => {
      const e = await expectPluginError(p, category);
      assert.equal(e.category, category, e.message);
      assert.equal(e.retryable, retryable);
      assert.equal(e.provider, 'google');
    };

    it('a revoked refresh token is auth (not retryable)', async () => {
      fake.revokeRefreshToken(CREDS.refreshToken);
      await expectCategory(cal.getBusy(day), 'auth', false);
    });
    it('429 and 403 rateLimitExceeded are rate_limit (retryable)', async () => {
      fake.failNext(1, 429, { match: { path: '/calendar/v3/freeBusy' } });
      await expectCategory(cal.getBusy(day), 'rate_limit', true);
      // A 403 gets one token refresh and retry (forceRefreshOnFailure), so it must fail twice to surface.
      fake.failNext(2, 403, { match: { method: 'POST' } });
      await expectCategory(cal.createAppointment({ appointment: appointment(), idempotencyKey: 'x' }), 'rate_limit', true);
    });
    it('a plain 403 is forbidden and a 404 on update is not_found (neither retryable)', async () => {
      fake.failNext(2, 403, { match: { method: 'POST' }, body: { error: { code: 403, message: 'Forbidden', errors: [{ domain: 'global', reason: 'forbidden', message: 'Forbidden' }] } } });
      await expectCategory(cal.createAppointment({ appointment: appointment(), idempotencyKey: 'y' }), 'forbidden', false);
      await expectCategory(cal.updateAppointment({ externalId: 'abcdef0123456789', appointment: appointment() }), 'not_found', false);
    });
    it('5xx is upstream and a refused connection is connectivity (retryable)', async () => {
      fake.failNext(1, 500, { match: { method: 'POST' } });
      await expectCategory(cal.createAppointment({ appointment: appointment(), idempotencyKey: 'z' }), 'upstream', true);
      await cal.getBusy(day); // token cached
      await fake.close();
      await expectCategory(cal.getBusy(day), 'connectivity', true);
      fake = await startFakeGoogle(); // for afterEach
    });
    it('a hung call aborted by its signal is timeout (retryable)', async () => {
      fake.setDown(true, 'timeout');
      await expectCategory(cal.getBusy({ ...day, signal: AbortSignal.timeout(300) }), 'timeout', true);
    });
    it('a malformed freeBusy calendar entry is not silently empty', async () => {
      fake.failNext(1, 200, { match: { path: '/calendar/v3/freeBusy' }, body: { kind: 'calendar#freeBusy', calendars: { [settings.calendarId]: { errors: [{ domain: 'global', reason: 'notFound' }] } } } });
      await expectCategory(cal.getBusy(day), 'not_found', false);
    });
  });
});

describe('calendar-google through the plugin registry', function () {
  this.timeout(30_000);
  let fake: FakeGoogle;
  let t: TestPlatform;

  before(async () => {
    fake = await startFakeGoogle();
    t = await startTestPlatform({ env: { GOOGLE_TOKEN_URL: `${fake.url}/token`, GOOGLE_API_ROOT_URL: fake.url } });
  });
  after(async () => { await t.close(); await fake.close(); });

  const withCalendar = (calendar: Record<string, unknown>): Record<string, unknown> => ({ ...demo, plugins: { ...(demo.plugins as object), calendar } });

  it('refuses settings that fail the schema or validate(), and a missing credential reference', () => {
    const issues = (calendar: Record<string, unknown>) => t.p.registry.validateConfig(parseDealershipConfig(withCalendar(calendar)))
      .map((i) => [i.code, i.details.path]);
    assert.deepEqual(issues({ plugin: 'calendar-google', credentialsRef: 'google', settings: { calendarId: 5 } }), [['PLG_ERR_CONFIG_INVALID', '/plugins/calendar/settings/calendarId']]);
    assert.deepEqual(issues({ plugin: 'calendar-google', credentialsRef: 'google', settings: { timeZone: 'Mars/Olympus_Mons' } }), [['PLG_ERR_CONFIG_INVALID', '/plugins/calendar/settings']]);
    assert.deepEqual(issues({ plugin: 'calendar-google', credentialsRef: 'google', settings: { colour: 'red' } }), [['PLG_ERR_CONFIG_INVALID', '/plugins/calendar/settings']]);
    assert.deepEqual(issues({ plugin: 'calendar-google' }), [['PLG_ERR_CREDENTIALS_MISSING', '/plugins/calendar/credentialsRef']]);
    assert.deepEqual(issues({ plugin: 'calendar-google', credentialsRef: 'google' }), []);
  });

  it('tests the connection with the stored credential, and reports a revoked one', async () => {
    const tenant = await t.p.tenants.create({ name: 'Google Motors', config: withCalendar({ plugin: 'calendar-google', credentialsRef: 'google' }) });
    await t.p.tenants.putCredential(tenant.id, 'google', CREDS);
    const ok = await t.p.registry.testConnection(tenant.id, 'calendar');
    assert.equal(ok.ok, true, JSON.stringify(ok));
    await t.p.tenants.putCredential(tenant.id, 'google', { ...CREDS, refreshToken: 'revoked-token' });
    const bad = await t.p.registry.testConnection(tenant.id, 'calendar');
    assert.equal(bad.ok, false);
    assert.match(bad.detail ?? '', /^auth:/);
  });
});
