/**
 * `npm run bench -- tools [--runs 300] [--appointments 1000] [--state redis|postgres]`
 *
 * On a fresh database of the machine's Postgres, the demo tenant with the built-in CRM and calendar and
 * --appointments existing bookings spread over the booking horizon, through Toolbox.execute (validation,
 * tenant lookup, plugins, Scheduler, metrics, logging — the path a live call takes):
 *  - get_available_slots for random open dates and service types (target p99 < 20 ms);
 *  - book_appointment at distinct slots free at that moment (target p99 < 20 ms);
 *  - lookup_customer by caller ID, warm (target p99 < 2 ms), and the same with the caller-ID cache off.
 * Baselines in the same process: `select 1` through withTenant (one tenant-scoped transaction), a bare
 * insert + commit through withTenant (what any write pays for the WAL flush), and Scheduler.book called
 * directly (what the tool layer adds on top). Ratios are p50 over the select-1 p50 unless named otherwise.
 * Last stdout line: one JSON object.
 */
import crypto from 'node:crypto';
import { DateTime } from 'luxon';
import { buildPlatform } from '../core/app.js';
import { loadConfig } from '../core/config.js';
import { silentLogger } from '../core/observability/logger.js';
import { DEMO_CUSTOMERS, seedDemo } from '../core/tenancy/seed.js';
import type { DealershipConfig, Weekday } from '../core/tenancy/config.js';
import { newCallIdentity, type CallIdentity } from '../core/tools/identity.js';
import { Toolbox, type ToolOutcome } from '../core/tools/toolbox.js';
import { createTestDatabase, TEST_REDIS_URL, uniquePrefix } from '../test/helpers/db.js';
import { requireServices } from './lib/needs.js';
import { flag, pct, r2, stats } from './lib/figures.js';

const RUNS = Number(flag('runs', '300'));
const APPOINTMENTS = Number(flag('appointments', '1000'));
const STATE = flag('state', 'redis');
if (!Number.isInteger(RUNS) || RUNS < 20 || !Number.isInteger(APPOINTMENTS) || APPOINTMENTS < 0 || !['redis', 'postgres'].includes(STATE)) {
  process.stderr.write('usage: npm run bench -- tools [--runs N>=20] [--appointments N>=0] [--state redis|postgres]\n');
  process.exit(64);
}
await requireServices({ bench: 'tools', postgres: true, redis: STATE === 'redis', hint: { redis: 'or run with --state postgres' } });

const log = (s: string) => process.stdout.write(`${s}\n`);

/** Deterministic pseudo-random numbers, so two runs book the same layout. */
let seed = 0x5eed;
const rand = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x7fffffff; };
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;

async function time<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = performance.now();
  const v = await fn();
  return [performance.now() - t0, v];
}

const WEEKDAYS: readonly Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

/** Open local dates from tomorrow to the end of the horizon. */
function openDates(config: DealershipConfig, now: Date): DateTime[] {
  const out: DateTime[] = [];
  const today = DateTime.fromJSDate(now, { zone: config.timezone }).startOf('day');
  for (let i = 1; i <= config.bookingHorizonDays; i++) {
    const d = today.plus({ days: i });
    if (config.holidays.includes(d.toISODate()!)) continue;
    if ((config.businessHours[WEEKDAYS[d.weekday - 1]!] ?? []).length === 0) continue;
    out.push(d);
  }
  return out;
}

/**
 * Existing bookings spread over every open day and bay, on the slot grid, never overlapping on a bay (the
 * exclusion constraint would refuse them): a dense non-overlapping layout is generated, then exactly
 * --appointments of its rows are sampled uniformly, so the load is spread over the whole horizon with gaps left to book.
 */
function layout(o: { config: DealershipConfig; dates: DateTime[]; taken: { resource_id: string; starts_at: Date; ends_at: Date }[] }): Record<string, unknown>[] {
  const { config, dates } = o;
  const clashes = (bay: string, s: DateTime, e: DateTime) => o.taken.some((t) => t.resource_id === bay && t.starts_at.getTime() < e.toMillis() && t.ends_at.getTime() > s.toMillis());
  const dense: Record<string, unknown>[] = [];
  for (const day of dates) {
    for (const bay of config.resources) {
      for (const iv of config.businessHours[WEEKDAYS[day.weekday - 1]!] ?? []) {
        let at = day.set({ hour: Number(iv.open.slice(0, 2)), minute: Number(iv.open.slice(3)) });
        const close = day.set({ hour: Number(iv.close.slice(0, 2)), minute: Number(iv.close.slice(3)) });
        for (;;) {
          const svc = pick(config.serviceTypes);
          const end = at.plus({ minutes: svc.durationMin });
          if (end > close) break;
          if (!clashes(bay.id, at, end)) {
            dense.push({
              customer_name: 'Bench Customer', resource_id: bay.id, service_type: svc.id,
              service_name: svc.name, starts_at: at.toJSDate(), ends_at: end.toJSDate(), status: 'booked', source: 'bench',
            });
          }
          at = end.plus({ minutes: 15 * Math.floor(rand() * 3) });
        }
      }
    }
  }
  if (dense.length < APPOINTMENTS) throw new Error(`the horizon holds only ${dense.length} non-overlapping bookings`);
  for (let i = dense.length - 1; i > 0; i--) { const j = Math.floor(rand() * (i + 1)); [dense[i], dense[j]] = [dense[j]!, dense[i]!]; }
  // One synthetic customer per row: a customer (or car) holds one appointment at a time (migration 045), and
  // the bench caller's own bookings must only ever meet bays, not their own earlier rows.
  return dense.slice(0, APPOINTMENTS).map((r, i) => ({ ...r, customer_id: `bench-${i}`, idempotency_key: `bench:${i}` }));
}

const tdb = await createTestDatabase('bench');
const cfg = loadConfig({
  ROLE: 'all', PORT: '0', LOG_LEVEL: 'silent', DATABASE_URL: tdb.url, REDIS_URL: STATE === 'redis' ? TEST_REDIS_URL : undefined,
  ADMIN_JWT_SECRET: 'bench-secret-bench-secret-bench-secret-00', CREDENTIALS_KEY: Buffer.alloc(32, 9).toString('base64'),
  PUBLIC_BASE_URL: 'https://bench.servicelane.test',
});
const p = await buildPlatform(cfg, { logger: silentLogger, statePrefix: uniquePrefix() });

try {
  const pgVersion = String((await p.db.raw('show server_version')).rows[0].server_version);
  const { tenantId } = await seedDemo(p);
  const tenant = await p.tenants.get(tenantId);
  const config = tenant.config!;
  const now = new Date();
  const dates = openDates(config, now);
  const taken = await p.tenants.withTenant(tenantId, (trx) => trx('appointments').where('status', 'booked').select('resource_id', 'starts_at', 'ends_at'));
  const rows = layout({ config, dates, taken });
  await p.tenants.withTenant(tenantId, async (trx) => { for (let i = 0; i < rows.length; i += 500) await trx('appointments').insert(rows.slice(i, i + 500)); });
  await p.db.raw('analyze');
  const existing = await p.tenants.withTenant(tenantId, async (trx) => Number((await trx('appointments').count<{ n: string }[]>('* as n'))[0]!.n));
  log(`tools bench: Postgres ${pgVersion}, state ${STATE}, ${existing} appointments over ${dates.length} open days, ${RUNS} runs each`);

  const callSid = () => `CA${crypto.randomBytes(16).toString('hex')}`;
  const exec = async (tb: Toolbox, id: CallIdentity, name: string, args: unknown): Promise<[number, ToolOutcome]> =>
    time(() => tb.execute(id, { name, arguments: JSON.stringify(args) }, { now }));
  const expectOk = (o: ToolOutcome, what: string) => { if (!o.ok) throw new Error(`${what} failed: ${o.content}`); return o; };

  // ---- baseline: one tenant-scoped transaction doing nothing ----
  const baseline: number[] = [];
  for (let i = -30; i < RUNS; i++) {
    const [ms] = await time(() => p.tenants.withTenant(tenantId, (trx) => trx.raw('select 1')));
    if (i >= 0) baseline.push(ms);
  }

  // ---- baseline for writes: one tenant-scoped insert + commit (the WAL flush every booking pays) ----
  const writeBaseline: number[] = [];
  for (let i = -30; i < RUNS; i++) {
    const [ms] = await time(() => p.tenants.withTenant(tenantId, (trx) => trx('plugin_kv').insert({ plugin_id: 'bench', key: `w${i}`, value: '{}' })));
    if (i >= 0) writeBaseline.push(ms);
  }

  // ---- get_available_slots ----
  const caller = DEMO_CUSTOMERS[0]!;
  const anon = newCallIdentity({ tenantId, callSid: callSid(), callerPhone: null });
  const slotsMs: number[] = [];
  let slotsOffered = 0;
  for (let i = -20; i < RUNS; i++) {
    const [ms, out] = await exec(p.toolbox, anon, 'get_available_slots', { date: pick(dates).toISODate(), service_type: pick(config.serviceTypes).id });
    expectOk(out, 'get_available_slots');
    if (i >= 0) { slotsMs.push(ms); slotsOffered += (JSON.parse(out.content) as { slots: unknown[] }).slots.length; }
  }

  // ---- book_appointment at distinct free slots (a verified caller, as in a call) ----
  let id = newCallIdentity({ tenantId, callSid: callSid(), callerPhone: caller.phone });
  id = expectOk((await exec(p.toolbox, id, 'lookup_customer', {}))[1], 'lookup').identity;
  id = expectOk((await exec(p.toolbox, id, 'verify_customer', { first_name: null, last_name: caller.lastName, vin_last4: caller.vehicles[0]!.vin.slice(-4), zip: null }))[1], 'verify').identity;
  const bookMs: number[] = [];
  const directMs: number[] = [];
  /** This caller's bookings (start → end ms): one car can't be in two bays at once (VOI_ERR_BOOKING_OVERLAP). */
  const booked = new Map<string, [number, number]>();
  const clashes = (s: { start: string; end: string }): boolean => {
    const [a, b] = [Date.parse(s.start), Date.parse(s.end)];
    return [...booked.values()].some(([x, y]) => a < y && x < b);
  };
  /** Untimed: a slot that is free right now (earlier bookings may have used up its neighbours). */
  const freeSlot = async (): Promise<{ start: string; serviceType: string }> => {
    for (let tries = 0; tries < 50; tries++) {
      const serviceType = pick(config.serviceTypes).id;
      const open = (await p.scheduler.availableSlots({ tenantId, date: pick(dates).toISODate()!, serviceType, now })).filter((s) => !clashes(s));
      if (open.length) {
        const slot = pick(open);
        booked.set(slot.start, [Date.parse(slot.start), Date.parse(slot.end)]);
        return { start: slot.start, serviceType };
      }
    }
    throw new Error('no free slot left to book');
  };
  const customerId = id.verifiedCustomerId!;
  for (let i = -20; i < RUNS; i++) {
    // A fresh call every ten bookings keeps the idempotency keys and the per-call state realistic.
    if (i % 10 === 0) id = { ...id, callSid: callSid() };
    const t = await freeSlot();
    const [ms, out] = await exec(p.toolbox, id, 'book_appointment', { start: t.start, service_type: t.serviceType, vehicle_id: null });
    expectOk(out, 'book_appointment');
    // Interleaved on the same database state: the Scheduler alone, to show what the tool layer adds.
    const d = await freeSlot();
    const [dms, appt] = await time(() => p.scheduler.book({
      tenantId, customer: { id: customerId, name: `${caller.firstName} ${caller.lastName}`, phone: caller.phone }, serviceType: d.serviceType,
      start: d.start, callSid: id.callSid, idempotencyKey: `direct:${i}`, now,
    }));
    // Untimed: give that capacity back, so the comparison doesn't fill the horizon.
    await p.scheduler.cancel({ tenantId, appointmentId: appt.id });
    booked.delete(d.start);
    if (i >= 0) { bookMs.push(ms); directMs.push(dms); }
  }

  // ---- lookup_customer by caller ID: warm cache, and with the cache off ----
  const lookupCached: number[] = [];
  const uncachedBox = new Toolbox({ tenants: p.tenants, registry: p.registry, scheduler: p.scheduler, logger: silentLogger, state: p.state, phoneCacheTtlMs: 0 });
  const lookupUncached: number[] = [];
  for (let i = -50; i < RUNS * 3; i++) {
    const who = newCallIdentity({ tenantId, callSid: callSid(), callerPhone: caller.phone });
    const [a, oa] = await exec(p.toolbox, who, 'lookup_customer', {});
    const [b, ob] = await exec(uncachedBox, who, 'lookup_customer', {});
    expectOk(oa, 'lookup_customer');
    expectOk(ob, 'lookup_customer (uncached)');
    if (i >= 0) { lookupCached.push(a); lookupUncached.push(b); }
  }

  const base = pct(baseline, 0.5);
  const result = {
    bench: 'tools',
    postgres: pgVersion,
    state: STATE,
    appointments: existing,
    runs: RUNS,
    baseline_with_tenant_select1_ms: stats(baseline),
    get_available_slots_ms: { ...stats(slotsMs), ratio_p50: r2(pct(slotsMs, 0.5) / base), avg_slots_offered: r2(slotsOffered / RUNS) },
    baseline_with_tenant_insert_commit_ms: stats(writeBaseline),
    book_appointment_ms: { ...stats(bookMs), ratio_p50: r2(pct(bookMs, 0.5) / base), ratio_p50_vs_insert_commit: r2(pct(bookMs, 0.5) / pct(writeBaseline, 0.5)) },
    scheduler_book_direct_ms: stats(directMs),
    lookup_customer_cached_ms: { ...stats(lookupCached), ratio_p50: r2(pct(lookupCached, 0.5) / base) },
    lookup_customer_uncached_ms: { ...stats(lookupUncached), ratio_p50: r2(pct(lookupUncached, 0.5) / base) },
    targets: { slots_p99_ms: 20, book_p99_ms: 20, cached_lookup_p99_ms: 2 },
    pass: {
      slots: pct(slotsMs, 0.99) < 20,
      book: pct(bookMs, 0.99) < 20,
      cached_lookup: pct(lookupCached, 0.99) < 2,
    },
  };
  log(`baseline withTenant select 1: p50 ${result.baseline_with_tenant_select1_ms.p50} ms`);
  log(`get_available_slots: p50 ${result.get_available_slots_ms.p50} ms, p99 ${result.get_available_slots_ms.p99} ms`);
  log(`book_appointment:    p50 ${result.book_appointment_ms.p50} ms, p99 ${result.book_appointment_ms.p99} ms (Scheduler.book alone p50 ${result.scheduler_book_direct_ms.p50} ms, p99 ${result.scheduler_book_direct_ms.p99} ms; bare insert+commit p50 ${result.baseline_with_tenant_insert_commit_ms.p50} ms, p99 ${result.baseline_with_tenant_insert_commit_ms.p99} ms)`);
  log(`lookup_customer:     cached p50 ${result.lookup_customer_cached_ms.p50} ms p99 ${result.lookup_customer_cached_ms.p99} ms; uncached p50 ${result.lookup_customer_uncached_ms.p50} ms p99 ${result.lookup_customer_uncached_ms.p99} ms`);
  log(JSON.stringify(result));
} finally {
  await p.close();
  await tdb.drop();
}
