/**
 * `npm run bench -- google-sync [--runs 20] [--google-latency-ms 0] [--state redis|postgres]`
 *
 * How fast a change staff make in the dealership's Google Calendar reaches availability, and what the mirror
 * costs per availability query, on the machine's Postgres (and Redis), with the real googleapis client against
 * the loopback fake Google (test/fakes/google.ts), which POSTs push notifications to the app like Google does.
 *  - blocked: an event is added in Google → push → `calendar-changes` job → incremental list → mirror → the slot
 *    disappears from Scheduler.availableSlots (polled every 2 ms);
 *  - freed: the event is deleted in Google → the slot comes back;
 *  - availability from the mirror (a connected tenant) vs live (baseline: a calendar-google tenant without a
 *    connection, whose every query asks Google's freeBusy + events.list through the plugin). `--google-latency-ms`
 *    adds a delay to every fake Calendar answer; loopback with 0 flatters the live path (real Google is tens of ms).
 * Last stdout line: one JSON object (ms).
 */
import type { AddressInfo } from 'node:net';
import { buildPlatform, createHttpApp, listen } from '../core/app.js';
import { loadConfig } from '../core/config.js';
import { silentLogger } from '../core/observability/logger.js';
import { demoConfig } from '../core/tenancy/seed.js';
import { startFakeGoogle } from '../test/fakes/google.js';
import { createTestDatabase, TEST_REDIS_URL, uniquePrefix } from '../test/helpers/db.js';
import { requireServices } from './lib/needs.js';
import { flag } from './lib/figures.js';

const RUNS = Number(flag('runs', '20'));
const LATENCY = Number(flag('google-latency-ms', '0'));
const STATE = flag('state', 'redis');
if (!Number.isInteger(RUNS) || RUNS < 1 || !Number.isFinite(LATENCY) || LATENCY < 0 || !['redis', 'postgres'].includes(STATE)) {
  process.stderr.write('usage: npm run bench -- google-sync [--runs N>=1] [--google-latency-ms N>=0] [--state redis|postgres]\n');
  process.exit(64);
}
await requireServices({ bench: 'google-sync', postgres: true, redis: STATE === 'redis', hint: { redis: 'or run with --state postgres' } });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (s: string) => process.stdout.write(`${s}\n`);
const pct = (xs: number[], p: number) => { const s = [...xs].sort((a, b) => a - b); return Math.round(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! * 10) / 10; };
const summary = (xs: number[]) => ({ p50: pct(xs, 50), p99: pct(xs, 99), n: xs.length });

const DAY = '2027-03-03';
const NOW = new Date('2027-03-01T12:00:00Z');
const NINE = Date.parse('2027-03-03T09:00:00-08:00');
const OWNER = 'owner@fake-dealer.test';

const fake = await startFakeGoogle({ clients: { 'client-1': 'secret-1' } });
const db = await createTestDatabase();
const cfg = loadConfig({
  ROLE: 'all', PORT: '0', LOG_LEVEL: 'silent', DATABASE_URL: db.url, REDIS_URL: STATE === 'redis' ? TEST_REDIS_URL : undefined,
  ADMIN_JWT_SECRET: 'bench-secret-bench-secret-bench-secret-0', CREDENTIALS_KEY: Buffer.alloc(32, 9).toString('base64'),
  PUBLIC_BASE_URL: 'https://servicelane.test', PLUGIN_EGRESS_ALLOW: '127.0.0.0/8',
  GOOGLE_CLIENT_ID: 'client-1', GOOGLE_CLIENT_SECRET: 'secret-1',
  GOOGLE_AUTH_URL: `${fake.url}/o/oauth2/v2/auth`, GOOGLE_TOKEN_URL: `${fake.url}/token`, GOOGLE_REVOKE_URL: `${fake.url}/revoke`, GOOGLE_API_ROOT_URL: fake.url,
});
const p = await buildPlatform(cfg, { logger: silentLogger, statePrefix: uniquePrefix(), google: { renewIntervalMs: 0 } });
const server = await listen(p, createHttpApp(p));
fake.setPushTarget(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
log(`google-sync bench: ${RUNS} runs, state ${STATE}, fake Google latency ${LATENCY} ms`);

const figures: Record<string, unknown> = { runs: RUNS, state: STATE, googleLatencyMs: LATENCY };
try {
  // The mirrored tenant: connected through the real OAuth flow against the fake.
  const mirrored = (await p.tenants.create({ name: 'Mirror Motors', config: demoConfig() })).id;
  const { url } = await p.google.connect.authorize({ tenantId: mirrored, actor: 'bench' });
  const back = new URL(fake.consent(url));
  await p.google.connect.complete({ state: back.searchParams.get('state'), code: back.searchParams.get('code') });
  await p.google.connect.chooseCalendar({ tenantId: mirrored, calendarId: OWNER });
  while (!(await p.google.sync.connections.get(mirrored))?.lastSyncedAt) await sleep(5);

  // The baseline tenant: the same calendar through the plugin, no mirror (every query asks Google).
  const cred = await p.tenants.getCredential(mirrored, 'google-oauth');
  const base = demoConfig() as { plugins: Record<string, unknown> };
  const live = (await p.tenants.create({ name: 'Live Motors', config: { ...base, plugins: { ...base.plugins, calendar: { plugin: 'calendar-google', credentialsRef: 'google' } } } })).id;
  await p.tenants.putCredential(live, 'google', cred);

  const atNine = async (tenantId: string) => (await p.scheduler.availableSlots({ tenantId, date: DAY, serviceType: 'oil_change', now: NOW }))
    .filter((s) => Date.parse(s.start) === NINE).length;
  fake.setLatency(LATENCY);

  const blocked: number[] = [];
  const freed: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    const ev = fake.seedEvent('primary', { summary: `Staff ${i}`, start: { dateTime: '2027-03-03T09:00:00-08:00' }, end: { dateTime: '2027-03-03T10:00:00-08:00' } });
    while ((await atNine(mirrored)) > 0) await sleep(2);
    blocked.push(performance.now() - t0);
    const t1 = performance.now();
    fake.deleteEvent('primary', ev.id);
    while ((await atNine(mirrored)) === 0) await sleep(2);
    freed.push(performance.now() - t1);
  }
  figures.changeToBlockedMs = summary(blocked);
  figures.deleteToFreeMs = summary(freed);

  const time = async (tenantId: string) => {
    const xs: number[] = [];
    for (let i = 0; i < Math.max(50, RUNS * 5); i++) {
      const t0 = performance.now();
      await atNine(tenantId);
      xs.push(performance.now() - t0);
    }
    return xs;
  };
  await time(live); // warm the plugin instance and its token
  const fromMirror = summary(await time(mirrored));
  const liveGoogle = summary(await time(live));
  figures.availabilityFromMirrorMs = fromMirror;
  figures.availabilityLiveBaselineMs = liveGoogle;
  figures.mirrorSpeedupP50 = Math.round((liveGoogle.p50 / Math.max(0.1, fromMirror.p50)) * 100) / 100;
} finally {
  await p.close();
  await db.drop();
  await fake.close();
}
log(JSON.stringify(figures));
process.exit(0);
