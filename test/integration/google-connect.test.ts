import assert from 'node:assert/strict';
import fs from 'node:fs';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { signDevToken, type AdminRole } from '../../core/admin-api/auth.js';
import { createHttpApp, listen } from '../../core/app.js';
import { CREDENTIAL_NAME } from '../../core/integrations/google/connections.js';
import { startFakeGoogle, type FakeGoogle } from '../fakes/google.js';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.js';

const demo = JSON.parse(fs.readFileSync(new URL('../../tenants/examples/demo-dealership.json', import.meta.url), 'utf8')) as Record<string, unknown>;
const OWNER = 'owner@fake-dealer.test';
const DAY = '2027-03-03';
const NOW = new Date('2027-03-01T12:00:00Z');
const NINE = Date.parse('2027-03-03T09:00:00-08:00');

async function until<T>(fn: () => Promise<T | undefined | null | false>, what: string, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 30));
  }
}

describe('Google Calendar connect (OAuth with PKCE) and push-driven sync, through the fake Google', function () {
  this.timeout(90_000);
  let fake: FakeGoogle;
  let t: TestPlatform;
  let server: http.Server;
  let base: string;

  before(async () => {
    fake = await startFakeGoogle({ clients: { 'client-1': 'secret-1' }, calendars: ['primary', 'service@fake-dealer.test'] });
    t = await startTestPlatform({
      env: {
        GOOGLE_CLIENT_ID: 'client-1', GOOGLE_CLIENT_SECRET: 'secret-1',
        GOOGLE_AUTH_URL: `${fake.url}/o/oauth2/v2/auth`, GOOGLE_TOKEN_URL: `${fake.url}/token`, GOOGLE_REVOKE_URL: `${fake.url}/revoke`, GOOGLE_API_ROOT_URL: fake.url,
      },
      // No background renewal pass: the renewal test runs one itself.
      build: { google: { renewIntervalMs: 0, renewBeforeMs: 24 * 3600_000 } },
    });
    server = await listen(t.p, createHttpApp(t.p));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    // Google POSTs notifications to PUBLIC_BASE_URL/google/push; here that is the app on loopback.
    fake.setPushTarget(base);
  });
  after(async () => { await t.close(); await fake.close(); });

  const token = (role: AdminRole, tenant?: string, sub = `test-${role}-${tenant ?? 'all'}`) => signDevToken({ secret: t.cfg.jwt.secret!, role, tenant, sub });
  async function api(method: string, path: string, o: { token?: string; body?: unknown } = {}) {
    const res = await fetch(`${base}/admin/v1${path}`, {
      method, headers: { authorization: `Bearer ${o.token ?? token('platform_admin')}`, ...(o.body ? { 'content-type': 'application/json' } : {}) },
      ...(o.body ? { body: JSON.stringify(o.body) } : {}),
    });
    const text = await res.text();
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are asserted field by field
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as Record<string, any> };
  }
  /** Follows Google's redirect back to us (PUBLIC_BASE_URL is https://servicelane.test; the app listens on loopback). */
  async function followRedirect(redirect: string): Promise<{ status: number; body: string }> {
    const u = new URL(redirect);
    const res = await fetch(`${base}${u.pathname}${u.search}`);
    return { status: res.status, body: await res.text() };
  }
  const newTenant = async (name: string) => (await t.p.tenants.create({ name, config: demo })).id;
  const tokenRequests = () => fake.requests.filter((r) => r.path === '/token' && (r.body as Record<string, string> | undefined)?.grant_type === 'authorization_code');
  const credentialNames = (tenantId: string) => t.p.tenants.listCredentialNames(tenantId);
  const slotsAtNine = async (tenantId: string) => (await t.p.scheduler.availableSlots({ tenantId, date: DAY, serviceType: 'oil_change', now: NOW }))
    .filter((s) => Date.parse(s.start) === NINE).length;

  async function connect(tenantId: string, o: { calendarId?: string } = {}): Promise<void> {
    const auth = await api('POST', `/tenants/${tenantId}/integrations/google/authorize`, { token: token('tenant_admin', tenantId) });
    assert.equal(auth.status, 200, JSON.stringify(auth.body));
    const back = await followRedirect(fake.consent(auth.body.url as string));
    assert.equal(back.status, 200, back.body);
    const chosen = await api('PUT', `/tenants/${tenantId}/integrations/google`, { body: { calendarId: o.calendarId ?? OWNER } });
    assert.equal(chosen.status, 200, JSON.stringify(chosen.body));
    await until(async () => (await t.p.google.sync.connections.get(tenantId))?.lastSyncedAt, 'first sync');
  }

  it('connects in one flow: consent URL with offline access, calendar scopes and PKCE; the code exchange carries the verifier; the refresh token is stored encrypted; the chosen calendar becomes the slot and is watched', async () => {
    const tenantId = await newTenant('Connect Motors');
    const auth = await api('POST', `/tenants/${tenantId}/integrations/google/authorize`, { token: token('tenant_admin', tenantId) });
    assert.equal(auth.status, 200);
    const url = new URL(auth.body.url as string);
    assert.equal(`${url.origin}${url.pathname}`, `${fake.url}/o/oauth2/v2/auth`);
    assert.equal(url.searchParams.get('access_type'), 'offline');
    assert.equal(url.searchParams.get('prompt'), 'consent');
    assert.equal(url.searchParams.get('client_id'), 'client-1');
    assert.equal(url.searchParams.get('redirect_uri'), 'https://servicelane.test/oauth/google/callback');
    assert.equal(url.searchParams.get('code_challenge_method'), 'S256');
    assert.match(url.searchParams.get('code_challenge') ?? '', /^[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(url.searchParams.get('scope')!.split(' ').every((s) => s.startsWith('https://www.googleapis.com/auth/calendar')), true);

    const redirect = fake.consent(url.toString());
    const before = tokenRequests().length;
    const back = await followRedirect(redirect);
    assert.equal(back.status, 200, back.body);
    const exchange = tokenRequests().slice(before);
    assert.equal(exchange.length, 1);
    assert.match((exchange[0]!.body as Record<string, string>).code_verifier ?? '', /^[A-Za-z0-9._~-]{43,128}$/);

    const stored = await t.p.tenants.getCredential(tenantId, CREDENTIAL_NAME) as { clientId: string; refreshToken: string };
    assert.equal(stored.clientId, 'client-1');
    assert.ok(fake.liveRefreshTokens.includes(stored.refreshToken), 'the refresh token Google issued');
    const raw = await t.p.db('platform.credentials').where({ tenant_id: tenantId, name: CREDENTIAL_NAME }).first('ciphertext');
    assert.equal((raw.ciphertext as Buffer).includes(Buffer.from(stored.refreshToken)), false, 'encrypted at rest');
    const audit = await t.p.db('platform.audit_log').where({ tenant_id: tenantId, action: 'google.connect' }).first('actor');
    assert.equal(audit.actor, `test-tenant_admin-${tenantId}`, 'the admin who started the flow');

    const view = await api('GET', `/tenants/${tenantId}/integrations/google`, { token: token('tenant_admin', tenantId) });
    assert.equal(view.body.status, 'connected');
    const cals = await api('GET', `/tenants/${tenantId}/integrations/google/calendars`);
    assert.deepEqual((cals.body.items as { id: string }[]).map((c) => c.id).sort(), [OWNER, 'service@fake-dealer.test'].sort());

    const chosen = await api('PUT', `/tenants/${tenantId}/integrations/google`, { body: { calendarId: 'service@fake-dealer.test' } });
    assert.equal(chosen.status, 200, JSON.stringify(chosen.body));
    const tenant = await t.p.tenants.get(tenantId);
    assert.deepEqual(tenant.config!.plugins.calendar, { plugin: 'calendar-google', credentialsRef: CREDENTIAL_NAME, settings: { calendarId: 'service@fake-dealer.test' }, fallback: 'calendar-builtin' });
    const channels = fake.channels.filter((c) => c.calendarId === 'service@fake-dealer.test' && !c.stopped);
    assert.equal(channels.length, 1);
    assert.equal(channels[0]!.address, 'https://servicelane.test/google/push');
    const conn = await until(async () => { const c = await t.p.google.sync.connections.get(tenantId); return c?.lastSyncedAt ? c : null; }, 'first sync');
    assert.equal(conn.channelId, channels[0]!.id);
  });

  it('refuses a replayed, forged or expired state, and Google code reuse: 403 ADM_ERR_OAUTH_STATE, no token exchange, nothing stored', async () => {
    const tenantId = await newTenant('Replay Motors');
    const url = (await api('POST', `/tenants/${tenantId}/integrations/google/authorize`)).body.url as string;
    const redirect = fake.consent(url);
    const state = new URL(redirect).searchParams.get('state')!;

    // forged: a state whose signature does not match, and one that is not even shaped like ours
    for (const forged of [`${state.split('.')[0]}.AAAA${state.split('.')[1]!.slice(4)}`, 'hello', `${'x'.repeat(24)}.${'y'.repeat(43)}`]) {
      const u = new URL(redirect);
      u.searchParams.set('state', forged);
      const before = tokenRequests().length;
      const res = await followRedirect(u.toString());
      assert.equal(res.status, 403);
      assert.equal(JSON.parse(res.body).error.code, 'ADM_ERR_OAUTH_STATE');
      assert.equal(tokenRequests().length, before, 'no code exchange');
    }
    assert.deepEqual(await credentialNames(tenantId), []);

    // expired: the same genuine state, 10 minutes later
    await t.p.db('platform.google_oauth_states').where({ id: state.split('.')[0] }).update({ expires_at: new Date(Date.now() - 1000) });
    const before = tokenRequests().length;
    const expired = await followRedirect(redirect);
    assert.equal(expired.status, 403);
    assert.equal(JSON.parse(expired.body).error.code, 'ADM_ERR_OAUTH_STATE');
    assert.equal(tokenRequests().length, before);
    assert.deepEqual(await credentialNames(tenantId), []);
    assert.equal(await t.p.google.sync.connections.get(tenantId), null);

    // replay: a fresh, completed flow cannot be completed again
    const url2 = (await api('POST', `/tenants/${tenantId}/integrations/google/authorize`)).body.url as string;
    const redirect2 = fake.consent(url2);
    assert.equal((await followRedirect(redirect2)).status, 200);
    const firstToken = (await t.p.tenants.getCredential(tenantId, CREDENTIAL_NAME) as { refreshToken: string }).refreshToken;
    const n = tokenRequests().length;
    const replay = await followRedirect(redirect2);
    assert.equal(replay.status, 403);
    assert.equal(JSON.parse(replay.body).error.code, 'ADM_ERR_OAUTH_STATE');
    assert.equal(tokenRequests().length, n);
    assert.equal((await t.p.tenants.getCredential(tenantId, CREDENTIAL_NAME) as { refreshToken: string }).refreshToken, firstToken, 'the stored grant is unchanged');
  });

  it("a tenant's state cannot complete another tenant: 403, the state is burnt, nothing stored for either", async () => {
    const a = await newTenant('Alpha Motors');
    const b = await newTenant('Beta Motors');
    const urlA = (await api('POST', `/tenants/${a}/integrations/google/authorize`, { token: token('tenant_admin', a) })).body.url as string;
    const redirect = new URL(fake.consent(urlA));
    const before = tokenRequests().length;
    const res = await api('POST', `/tenants/${b}/integrations/google/callback`, {
      token: token('tenant_admin', b), body: { state: redirect.searchParams.get('state'), code: redirect.searchParams.get('code') },
    });
    assert.equal(res.status, 403);
    assert.equal(res.body.error.code, 'ADM_ERR_OAUTH_STATE');
    assert.equal(tokenRequests().length, before);
    assert.deepEqual(await credentialNames(a), []);
    assert.deepEqual(await credentialNames(b), []);
    // burnt: A can no longer use it either
    assert.equal((await followRedirect(redirect.toString())).status, 403);
    // and A's admin cannot start a flow for B at all
    const cross = await api('POST', `/tenants/${b}/integrations/google/authorize`, { token: token('tenant_admin', a) });
    assert.equal(cross.status, 403);
    assert.equal(cross.body.error.code, 'ADM_ERR_FORBIDDEN');
  });

  it('binds the authorization code to the PKCE verifier: an intercepted code alone is refused by Google', async () => {
    const tenantId = await newTenant('Pkce Motors');
    const url = (await api('POST', `/tenants/${tenantId}/integrations/google/authorize`)).body.url as string;
    const code = new URL(fake.consent(url)).searchParams.get('code')!;
    const res = await fetch(`${fake.url}/token`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code, client_id: 'client-1', client_secret: 'secret-1', redirect_uri: 'https://servicelane.test/oauth/google/callback', code_verifier: 'a'.repeat(43) }),
    });
    assert.equal(res.status, 400);
    assert.equal((await res.json() as { error: string }).error, 'invalid_grant');
  });

  it('a staff event added in Google blocks its slot once the push arrives (availability reads the mirror, no live freeBusy), and deleting it frees the slot', async () => {
    const tenantId = await newTenant('Push Motors');
    await connect(tenantId);
    assert.ok(await slotsAtNine(tenantId) > 0, 'free before');
    const freeBusyBefore = fake.requests.filter((r) => r.path.endsWith('/freeBusy')).length;

    const ev = fake.seedEvent('primary', { summary: 'Staff training', start: { dateTime: '2027-03-03T09:00:00-08:00' }, end: { dateTime: '2027-03-03T11:00:00-08:00' } });
    await until(async () => (await slotsAtNine(tenantId)) === 0, 'slot blocked by the mirrored staff event');
    const row = await t.p.tenants.withTenant(tenantId, (trx) => trx('external_busy').where({ event_id: ev.id }).first());
    assert.equal(new Date(row.starts_at).getTime(), NINE);
    assert.equal(fake.requests.filter((r) => r.path.endsWith('/freeBusy')).length, freeBusyBefore, 'availability never asked Google live');

    fake.deleteEvent('primary', ev.id);
    await until(async () => (await slotsAtNine(tenantId)) > 0, 'slot freed after the deletion');
    assert.equal((await t.p.tenants.withTenant(tenantId, (trx) => trx('external_busy').where({ event_id: ev.id }))).length, 0);
    // Google's `sync` message for the channel was acknowledged, not queued
    assert.ok(fake.pushes.some((p) => p.state === 'sync' && p.status === 200));
  });

  it('a 410 on the sync token leads to a full resync that replaces the mirror', async () => {
    const tenantId = await newTenant('Gone Motors');
    await connect(tenantId);
    // a row the mirror should no longer have (as if its deletion had been missed)
    await t.p.tenants.withTenant(tenantId, (trx) => trx('external_busy').insert({ source: 'google', event_id: 'ghost', starts_at: new Date(NINE), ends_at: new Date(NINE + 3600_000) }));
    assert.equal(await slotsAtNine(tenantId), 0);
    fake.invalidateSyncTokens();
    const r = await t.p.google.sync.syncTenant(tenantId);
    assert.equal(r.outcome, 'full_resync');
    assert.equal((await t.p.tenants.withTenant(tenantId, (trx) => trx('external_busy').where({ event_id: 'ghost' }))).length, 0);
    assert.ok(await slotsAtNine(tenantId) > 0);
    const lists = fake.requests.filter((q) => q.method === 'GET' && q.path.endsWith('/events'));
    assert.ok(lists.slice(-2).some((q) => q.query.syncToken !== undefined) && lists.at(-1)!.query.syncToken === undefined, 'incremental refused, then a full listing');
  });

  it('refuses a forged push (wrong token, unknown channel): 403 ADM_ERR_PUSH_FORGED and nothing queued', async () => {
    const tenantId = await newTenant('Forged Motors');
    await connect(tenantId);
    const channelId = (await t.p.google.sync.connections.get(tenantId))!.channelId;
    const ch = fake.channels.find((c) => c.id === channelId)!;
    const push = (h: Record<string, string>) => fetch(`${base}/google/push`, { method: 'POST', headers: { 'x-goog-resource-state': 'exists', 'x-goog-message-number': '777', ...h } });
    const attempts: Record<string, string>[] = [
      { 'x-goog-channel-id': ch.id, 'x-goog-resource-id': ch.resourceId, 'x-goog-channel-token': 'not-the-token' },
      { 'x-goog-channel-id': ch.id, 'x-goog-resource-id': ch.resourceId },
      { 'x-goog-channel-id': 'unknown-channel', 'x-goog-resource-id': ch.resourceId, 'x-goog-channel-token': ch.token! },
      { 'x-goog-channel-id': ch.id, 'x-goog-resource-id': 'other-resource', 'x-goog-channel-token': ch.token! },
    ];
    for (const h of attempts) {
      const res = await push(h);
      assert.equal(res.status, 403);
      assert.equal((await res.json() as { error: { code: string } }).error.code, 'ADM_ERR_PUSH_FORGED');
    }
    assert.equal(await t.p.jobs.getJob('calendar-changes', `gcal-${tenantId}-push-${ch.id}-777`), null, 'nothing queued');
    // the genuine one is queued under Google's message number
    const ok = await push({ 'x-goog-channel-id': ch.id, 'x-goog-resource-id': ch.resourceId, 'x-goog-channel-token': ch.token! });
    assert.equal(ok.status, 200);
    assert.ok(await t.p.jobs.getJob('calendar-changes', `gcal-${tenantId}-push-${ch.id}-777`));
  });

  it('a revoked grant (invalid_grant) marks the connection needs_reconnect in the admin API; availability keeps the last mirror', async () => {
    const tenantId = await newTenant('Revoked Motors');
    await connect(tenantId);
    const ev = fake.seedEvent('primary', { summary: 'Lunch', start: { dateTime: '2027-03-03T09:00:00-08:00' }, end: { dateTime: '2027-03-03T10:00:00-08:00' } });
    await until(async () => (await slotsAtNine(tenantId)) === 0, 'mirrored');
    const rt = (await t.p.tenants.getCredential(tenantId, CREDENTIAL_NAME) as { refreshToken: string }).refreshToken;
    fake.revokeRefreshToken(rt);
    const r = await t.p.google.sync.syncTenant(tenantId);
    assert.equal(r.outcome, 'needs_reconnect');
    const view = await api('GET', `/tenants/${tenantId}/integrations/google`);
    assert.equal(view.body.status, 'needs_reconnect');
    assert.match(view.body.lastError as string, /invalid_grant/);
    const cals = await api('GET', `/tenants/${tenantId}/integrations/google/calendars`);
    assert.equal(cals.status, 409);
    assert.equal(cals.body.error.code, 'ADM_ERR_GOOGLE_NEEDS_RECONNECT');
    const plugins = await api('GET', `/tenants/${tenantId}/plugins`);
    const cal = (plugins.body.slots as { slot: string; needsReconnect?: boolean; error?: { code: string } }[]).find((s) => s.slot === 'calendar')!;
    assert.equal(cal.needsReconnect, true, 'the plugin status says the calendar needs a reconnect');
    assert.equal(cal.error?.code, 'ADM_ERR_GOOGLE_NEEDS_RECONNECT');
    const tenantView = await api('GET', `/tenants/${tenantId}`);
    assert.equal((tenantView.body.plugins as { slot: string; needsReconnect?: boolean }[]).find((s) => s.slot === 'calendar')!.needsReconnect, true, 'the tenant view (console home) says so too');
    assert.equal(await slotsAtNine(tenantId), 0, 'the last known staff event still blocks');
    fake.deleteEvent('primary', ev.id);
    await fake.pushesSettled();
    // reconnecting brings it back
    await connect(tenantId);
    assert.equal((await api('GET', `/tenants/${tenantId}/integrations/google`)).body.status, 'connected');
    const after = (await api('GET', `/tenants/${tenantId}/plugins`)).body.slots as { slot: string; needsReconnect?: boolean }[];
    assert.equal(after.find((s) => s.slot === 'calendar')!.needsReconnect, undefined);
    await until(async () => (await slotsAtNine(tenantId)) > 0, 'resynced after reconnect');
  });

  it('renews a channel before it expires: a new channel is watched, the old one stopped and its notifications refused', async () => {
    const tenantId = await newTenant('Renew Motors');
    await connect(tenantId);
    const old = (await t.p.google.sync.connections.get(tenantId))!;
    // Due for renewal: expiring within renewBeforeMs (24 h)
    await t.p.db('platform.google_connections').where({ tenant_id: tenantId }).update({ channel_expires_at: new Date(Date.now() + 3600_000) });
    assert.ok(await t.p.google.sync.renewDueChannels() >= 1);
    const now = (await t.p.google.sync.connections.get(tenantId))!;
    assert.notEqual(now.channelId, old.channelId);
    assert.ok(now.channelExpiresAt!.getTime() > Date.now() + 6 * 24 * 3600_000);
    assert.equal(fake.channels.find((c) => c.id === old.channelId)!.stopped, true);
    assert.equal(fake.channels.find((c) => c.id === now.channelId)!.stopped, false);
    const oldCh = fake.channels.find((c) => c.id === old.channelId)!;
    const res = await fetch(`${base}/google/push`, { method: 'POST', headers: { 'x-goog-channel-id': oldCh.id, 'x-goog-resource-id': oldCh.resourceId, 'x-goog-channel-token': oldCh.token!, 'x-goog-resource-state': 'exists' } });
    assert.equal(res.status, 403);
  });

  it('disconnects: revokes at Google, stops the channel, deletes the credential and mirror, and the slot goes back to the built-in calendar', async () => {
    const tenantId = await newTenant('Bye Motors');
    await connect(tenantId);
    fake.seedEvent('primary', { summary: 'Blocked', start: { dateTime: '2027-03-03T09:00:00-08:00' }, end: { dateTime: '2027-03-03T10:00:00-08:00' } });
    await until(async () => (await slotsAtNine(tenantId)) === 0, 'mirrored');
    const rt = (await t.p.tenants.getCredential(tenantId, CREDENTIAL_NAME) as { refreshToken: string }).refreshToken;
    const channelId = (await t.p.google.sync.connections.get(tenantId))!.channelId;
    const res = await api('DELETE', `/tenants/${tenantId}/integrations/google`, { token: token('tenant_admin', tenantId) });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.revoked, true);
    assert.equal(fake.liveRefreshTokens.includes(rt), false);
    assert.equal(fake.channels.find((c) => c.id === channelId)!.stopped, true);
    assert.deepEqual(await credentialNames(tenantId), []);
    assert.equal((await t.p.tenants.get(tenantId)).config!.plugins.calendar.plugin, 'calendar-builtin');
    assert.equal((await t.p.tenants.withTenant(tenantId, (trx) => trx('external_busy'))).length, 0);
    assert.ok(await slotsAtNine(tenantId) > 0);
    assert.equal((await api('GET', `/tenants/${tenantId}/integrations/google`)).body.status, 'not_connected');
    assert.equal((await api('DELETE', `/tenants/${tenantId}/integrations/google`)).body.error.code, 'ADM_ERR_GOOGLE_NOT_CONNECTED');
  });

  it('offboarding a connected dealership stops its push channel; later notifications on it are refused and it is never renewed', async () => {
    const tenantId = await newTenant('Gone Forever Motors');
    await connect(tenantId);
    const channelId = (await t.p.google.sync.connections.get(tenantId))!.channelId!;
    const live = fake.channels.find((c) => c.id === channelId)!;
    assert.equal((await api('DELETE', `/tenants/${tenantId}`)).status, 200);
    assert.equal(fake.channels.find((c) => c.id === channelId)!.stopped, true);
    const res = await fetch(`${base}/google/push`, { method: 'POST', headers: { 'x-goog-channel-id': live.id, 'x-goog-resource-id': live.resourceId, 'x-goog-channel-token': live.token!, 'x-goog-resource-state': 'exists' } });
    assert.equal(res.status, 403);
    await t.p.google.sync.renewDueChannels();
    assert.equal((await t.p.google.sync.connections.get(tenantId))!.channelId, null, 'not re-watched');
  });
});
