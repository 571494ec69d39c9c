/**
 * `npm run bench -- emails [--runs 200] [--state redis|postgres]`
 *
 * Confirmation emails (docs/email.md) on a fresh database of the machine's Postgres, the real SES v2 SDK against
 * the loopback SES fake (test/fakes/ses.ts):
 *  - Scheduler.book latency for a dealership with emails on (notify-ses: the outbox row in the booking's
 *    transaction plus the fast-path enqueue) against the same booking for a dealership with emails off
 *    (no notify plugin), interleaved one for one in the same process: the off figures are the baseline;
 *  - booking → SES fake received: from the start of `book` to the fake accepting the message (outbox, queue,
 *    worker, CRM lookup, .ics, SDK request), p50/p99;
 *  - duplicates: messages received beyond one per booking (must be 0).
 * Last stdout line: one JSON object.
 */
import { DateTime } from 'luxon';
import { buildPlatform } from '../core/app.js';
import { loadConfig } from '../core/config.js';
import { silentLogger } from '../core/observability/logger.js';
import { demoConfig } from '../core/tenancy/seed.js';
import type { DealershipConfig, Weekday } from '../core/tenancy/config.js';
import { createTestDatabase, TEST_REDIS_URL, uniquePrefix } from '../test/helpers/db.js';
import { startFakeSes } from '../test/fakes/ses.js';
import { requireServices } from './lib/needs.js';
import { flag, pct, r2, stats } from './lib/figures.js';

const RUNS = Number(flag('runs', '200'));
const STATE = flag('state', 'redis');
if (!Number.isInteger(RUNS) || RUNS < 20 || !['redis', 'postgres'].includes(STATE)) {
  process.stderr.write('usage: npm run bench -- emails [--runs N>=20] [--state redis|postgres]\n');
  process.exit(64);
}
await requireServices({ bench: 'emails', postgres: true, redis: STATE === 'redis', hint: { redis: 'or run with --state postgres' } });

const log = (s: string) => process.stdout.write(`${s}\n`);

let seed = 0x5eed;
const rand = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x7fffffff; };
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
const WEEKDAYS: readonly Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

function openDates(config: DealershipConfig, now: Date): string[] {
  const today = DateTime.fromJSDate(now, { zone: config.timezone }).startOf('day');
  const out: string[] = [];
  for (let i = 1; i <= config.bookingHorizonDays; i++) {
    const d = today.plus({ days: i });
    if (!config.holidays.includes(d.toISODate()!) && (config.businessHours[WEEKDAYS[d.weekday - 1]!] ?? []).length > 0) out.push(d.toISODate()!);
  }
  return out;
}

const ses = await startFakeSes({ accessKeyId: 'AKIABENCHEMAIL00001' });
const tdb = await createTestDatabase('bench');
const cfg = loadConfig({
  ROLE: 'all', PORT: '0', LOG_LEVEL: 'silent', DATABASE_URL: tdb.url, REDIS_URL: STATE === 'redis' ? TEST_REDIS_URL : undefined,
  ADMIN_JWT_SECRET: 'bench-secret-bench-secret-bench-secret-00', CREDENTIALS_KEY: Buffer.alloc(32, 9).toString('base64'),
  PUBLIC_BASE_URL: 'https://bench.servicelane.test', PLUGIN_EGRESS_ALLOW: '127.0.0.0/8',
});
const p = await buildPlatform(cfg, { logger: silentLogger, statePrefix: uniquePrefix() });

try {
  const base = demoConfig() as Record<string, unknown> & { plugins: Record<string, unknown> };
  const off = (await p.tenants.create({ name: 'Bench Off Motors', config: base })).id;
  const on = (await p.tenants.create({ name: 'Bench On Motors', config: {
    ...base, emails: { replyTo: 'service@bench.example' },
    plugins: { ...base.plugins, notify: { plugin: 'notify-ses', credentialsRef: 'ses', settings: { region: 'us-east-1', from: 'Bench Motors <service@bench.example>', endpoint: ses.url } } },
  } })).id;
  await p.tenants.putCredential(on, 'ses', { accessKeyId: 'AKIABENCHEMAIL00001', secretAccessKey: 'bench-secret-key-0123456789abcdef' });
  const config = (await p.tenants.get(on)).config!;
  const now = new Date();
  const dates = openDates(config, now);
  log(`emails bench: state ${STATE}, ${RUNS} bookings per tenant over ${dates.length} open days, SES fake at ${ses.url}`);

  /** One customer per booking (a customer holds one appointment at a time), with a unique address. */
  let n = 0;
  async function customer(tenantId: string): Promise<{ id: string; name: string; email: string }> {
    const i = ++n;
    const email = `bench.${i}@example.com`;
    const [row] = await p.tenants.withTenant(tenantId, (trx) => trx('customers').insert({ first_name: 'Bench', last_name: `Customer${i}`, email }).returning('id'));
    return { id: (row as { id: string }).id, name: `Bench Customer${i}`, email };
  }
  async function freeSlot(tenantId: string): Promise<{ start: string; serviceType: string }> {
    for (let tries = 0; tries < 50; tries++) {
      const serviceType = pick(config.serviceTypes).id;
      const open = await p.scheduler.availableSlots({ tenantId, date: pick(dates), serviceType, now, limit: 50 });
      if (open.length) return { start: pick(open).start, serviceType };
    }
    throw new Error('no free slot left to book');
  }
  async function timedBook(tenantId: string): Promise<{ ms: number; t0: number; email: string }> {
    const c = await customer(tenantId);
    const s = await freeSlot(tenantId);
    const t0 = performance.now();
    await p.scheduler.book({ tenantId, customer: { id: c.id, name: c.name }, serviceType: s.serviceType, start: s.start, now });
    return { ms: performance.now() - t0, t0: performance.timeOrigin + t0, email: c.email };
  }

  const offMs: number[] = [];
  const onMs: number[] = [];
  const sentAt = new Map<string, number>();
  for (let i = -20; i < RUNS; i++) {
    // Alternate which goes first, so neither side always books on a warmer cache or a quieter moment.
    const [a, b] = i % 2 === 0 ? [await timedBook(off), await timedBook(on)] : await (async () => { const y = await timedBook(on); return [await timedBook(off), y]; })();
    if (i >= 0) { offMs.push(a.ms); onMs.push(b.ms); sentAt.set(b.email, b.t0); }
  }
  const expected = RUNS + 20;
  await ses.waitFor(expected, 120_000);
  await p.jobs.waitIdle({ queues: ['email'], timeoutMs: 60_000 });
  const e2e: number[] = [];
  const perAddress = new Map<string, number>();
  for (const m of ses.received) {
    const to = m.to[0]!;
    perAddress.set(to, (perAddress.get(to) ?? 0) + 1);
    const t0 = sentAt.get(to);
    if (t0 !== undefined) e2e.push(m.at - t0);
  }
  const duplicates = [...perAddress.values()].reduce((a, v) => a + (v - 1), 0);
  const offStats = stats(offMs);
  const onStats = stats(onMs);
  log(`booking, emails off (baseline): p50 ${offStats.p50} ms, p99 ${offStats.p99} ms`);
  log(`booking, emails on:             p50 ${onStats.p50} ms, p99 ${onStats.p99} ms`);
  log(`booking → SES received:         p50 ${r2(pct(e2e, 0.5))} ms, p99 ${r2(pct(e2e, 0.99))} ms (${e2e.length} messages, ${duplicates} duplicates)`);
  process.stdout.write(`${JSON.stringify({
    bench: 'emails', state: STATE, runs: RUNS,
    bookingEmailsOffMs: offStats, bookingEmailsOnMs: onStats,
    overheadP50Ms: r2(onStats.p50 - offStats.p50), overheadRatioP50: r2(onStats.p50 / offStats.p50),
    bookingToSesReceivedMs: stats(e2e), received: ses.received.length, duplicates,
  })}\n`);
} finally {
  await p.close();
  await tdb.drop();
  await ses.close();
}
