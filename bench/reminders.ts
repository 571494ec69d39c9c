/**
 * `npm run bench -- reminders [--tenants 100] [--appointments 10000] [--due 1000] [--cps 50]`
 *
 * Two figures of the reminder pipeline on the machine's Postgres and Redis (one process, role `all`):
 *  - schedule: reminders for --appointments appointments spread over --tenants tenants, one
 *    syncAppointmentReminders per appointment in its own tenant transaction (what the scheduler does inside a
 *    booking). p50/p99 per operation and the total; the floor is an empty tenant transaction timed the same way,
 *    the write floor the same transaction once it writes (its commit flushes the WAL, as every schedule op's does).
 *  - drain: --due reminders due now (spread over 10 tenants) run through the real queue, runner and dialer against
 *    the fake Twilio REST API at TWILIO_CPS=--cps, every call answered busy through signed callbacks. Achieved CPS
 *    (calls created / span from first to last), duplicates (calls beyond one per reminder), lost (reminders with no
 *    call), and the process's peak RSS against its RSS before the drain (the baseline).
 * Three processes, as deployed: this one is the worker role (reminder and dial jobs), a child runs the api role
 * (the signed status callbacks), another the fake Twilio. CPU time, database statements and peak RSS are reported
 * per process; `cpuMsPerCall` and `dbStatementsPerCall` are the platform's (worker + api), without the fake's.
 * Last stdout line: one JSON object.
 */
import { fork } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { DateTime } from 'luxon';
import { buildPlatform, createHttpApp, listen } from '../core/app.js';
import { loadConfig } from '../core/config.js';
import { silentLogger } from '../core/observability/logger.js';
import { enqueueReminder } from '../core/outbound/reminder-job.js';
import { syncAppointmentReminders } from '../core/outbound/reminder-schedule.js';
import { demoConfig } from '../core/tenancy/seed.js';
import { createTestDatabase, TEST_REDIS_URL, uniquePrefix } from '../test/helpers/db.js';
import { startFakeTwilioRest } from '../test/fakes/twilio-rest.js';
import { requireServices } from './lib/needs.js';

function flag(name: string, dflt: string): number {
  const i = process.argv.indexOf(`--${name}`);
  return Number(i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : dflt);
}
const TENANTS = flag('tenants', '100');
const APPOINTMENTS = flag('appointments', '10000');
const DUE = flag('due', '1000');
const CPS = flag('cps', '50');
const ACCOUNT_SID = 'AC' + 'b3c4d5e6'.repeat(4);
const AUTH_TOKEN = 'twilio-auth-token-for-bench-0001';

const PUBLIC_BASE_URL = 'https://servicelane.test';
const role = process.argv.includes('--role') ? process.argv[process.argv.indexOf('--role') + 1] : 'worker';

/** Parent ↔ child messages (fake Twilio and api role). */
type ToChild = { type: 'route'; baseUrl: string; publicUrl: string } | { type: 'count' } | { type: 'mark' } | { type: 'collect' } | { type: 'stop' };
type FromChild = { type: 'ready'; url: string } | { type: 'count'; n: number }
  | { type: 'calls'; calls: { to: string; createdMs: number }[]; cpuMs: number }
  | { type: 'figures'; cpuMs: number; queries: number; rssBase: number; rssPeak: number };

/** The platform's configuration in each role (the same database, Redis, secrets and Twilio account). */
const platformEnv = (o: { role: 'worker' | 'api'; databaseUrl: string; twilioUrl: string }) => ({
  ROLE: o.role, PORT: '0', DATABASE_URL: o.databaseUrl, REDIS_URL: TEST_REDIS_URL, LOG_LEVEL: 'silent', PUBLIC_BASE_URL,
  ADMIN_JWT_SECRET: 'bench-secret-bench-secret-bench-secret-01', CREDENTIALS_KEY: Buffer.alloc(32, 3).toString('base64'),
  TWILIO_ACCOUNT_SID: ACCOUNT_SID, TWILIO_AUTH_TOKEN: AUTH_TOKEN, TWILIO_API_BASE_URL: o.twilioUrl, TWILIO_CPS: String(CPS),
  PLUGIN_EGRESS_ALLOW: '127.0.0.0/8,::1',
});

/** CPU time, peak RSS (sampled every 100 ms) and a counter, from `mark` on: what each process reports of the drain. */
function processFigures() {
  let cpu0 = process.cpuUsage();
  let rssBase = process.memoryUsage().rss;
  let rssPeak = rssBase;
  setInterval(() => { rssPeak = Math.max(rssPeak, process.memoryUsage().rss); }, 100).unref();
  return {
    mark() { cpu0 = process.cpuUsage(); rssBase = process.memoryUsage().rss; rssPeak = rssBase; },
    read() { const c = process.cpuUsage(cpu0); return { cpuMs: (c.user + c.system) / 1000, rssBase, rssPeak: Math.max(rssPeak, process.memoryUsage().rss) }; },
  };
}

if (role === 'api') {
  // ---- child: the api role, receiving the fake's signed status callbacks (the same state prefix as the worker's,
  // so the live-call slots the worker takes are the ones the callbacks free).
  const [databaseUrl, twilioUrl, statePrefix] = process.argv.slice(process.argv.indexOf('--role') + 2);
  const api = await buildPlatform(loadConfig(platformEnv({ role: 'api', databaseUrl: databaseUrl!, twilioUrl: twilioUrl! })), { logger: silentLogger, statePrefix: statePrefix! });
  const server = await listen(api, createHttpApp(api));
  const figures = processFigures();
  let queries = 0;
  api.db.on('query', () => { queries++; });
  process.on('message', (m: ToChild) => {
    if (m.type === 'mark') { figures.mark(); queries = 0; }
    else if (m.type === 'collect') process.send!({ type: 'figures', ...figures.read(), queries } satisfies FromChild);
    else if (m.type === 'stop') void api.close().then(() => process.exit(0));
  });
  process.send!({ type: 'ready', url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` } satisfies FromChild);
  await new Promise(() => {}); // lives until the parent says stop
}

if (role === 'fake-twilio') {
  // ---- child: the fake Twilio REST API, answering every call busy through signed status callbacks.
  const tw = await startFakeTwilioRest({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN });
  tw.autoDrive = () => ({ answer: 'none', status: 'busy' });
  const send = (m: FromChild) => process.send!(m);
  let cpu0 = process.cpuUsage();
  process.on('message', (m: ToChild) => {
    if (m.type === 'route') { tw.routeWebhooks({ baseUrl: m.baseUrl, publicUrl: m.publicUrl }); cpu0 = process.cpuUsage(); }
    else if (m.type === 'count') send({ type: 'count', n: tw.calls.size });
    else if (m.type === 'collect') {
      const cpu = process.cpuUsage(cpu0);
      send({ type: 'calls', calls: [...tw.calls.values()].map((c) => ({ to: c.to, createdMs: c.dateCreated.getTime() })), cpuMs: (cpu.user + cpu.system) / 1000 });
    } else if (m.type === 'stop') void tw.close().then(() => process.exit(0));
  });
  send({ type: 'ready', url: tw.url });
  await new Promise(() => {}); // lives until the parent says stop
}

if (![TENANTS, APPOINTMENTS, DUE, CPS].every((x) => Number.isInteger(x) && x >= 1)) {
  process.stderr.write('usage: npm run bench -- reminders [--tenants N] [--appointments N] [--due N] [--cps N] (integers >= 1)\n');
  process.exit(64);
}
await requireServices({ bench: 'reminders', postgres: true, redis: true });

const log = (s: string) => process.stdout.write(`${s}\n`);
const pct = (xs: number[], p: number) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!; };
const r2 = (x: number) => Math.round(x * 100) / 100;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A zone without DST where it is about noon now, so the real clock is inside every calling window. */
const ZONES: Record<number, string> = {
  [-11]: 'Pacific/Pago_Pago', [-10]: 'Pacific/Honolulu', [-9]: 'Pacific/Gambier', [-8]: 'Pacific/Pitcairn', [-7]: 'America/Phoenix',
  [-6]: 'America/Guatemala', [-5]: 'America/Bogota', [-4]: 'America/La_Paz', [-3]: 'America/Argentina/Buenos_Aires', [-2]: 'America/Noronha',
  [-1]: 'Atlantic/Cape_Verde', 0: 'Africa/Abidjan', 1: 'Africa/Lagos', 2: 'Africa/Johannesburg', 3: 'Europe/Moscow', 4: 'Asia/Dubai',
  5: 'Asia/Karachi', 6: 'Asia/Dhaka', 7: 'Asia/Bangkok', 8: 'Asia/Shanghai', 9: 'Asia/Tokyo', 10: 'Australia/Brisbane', 11: 'Pacific/Guadalcanal', 12: 'Pacific/Tarawa',
};
let off = 12 - new Date().getUTCHours();
if (off > 12) off -= 24;
if (off < -11) off += 24;
const zone = ZONES[off]!;
const allDay = [{ open: '00:00', close: '23:59' }];

type Child = ReturnType<typeof fork>;
const children: Child[] = [];
const spawnChild = (args: string[]): Child => {
  const c = fork(fileURLToPath(import.meta.url), args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.push(c);
  return c;
};
process.on('exit', () => { for (const c of children) c.kill(); }); // a crash here must not leave a child running
const ask = <T extends FromChild['type']>(child: Child, type: T, msg?: ToChild): Promise<Extract<FromChild, { type: T }>> => new Promise((resolve) => {
  const on = (m: FromChild) => { if (m.type === type) { child.off('message', on); resolve(m as Extract<FromChild, { type: T }>); } };
  child.on('message', on);
  if (msg) child.send(msg);
});
const fake = spawnChild(['--role', 'fake-twilio']);
const twilio = await ask(fake, 'ready');
const db = await createTestDatabase('bench_reminders');
const statePrefix = uniquePrefix();
const p = await buildPlatform(loadConfig(platformEnv({ role: 'worker', databaseUrl: db.url, twilioUrl: twilio.url })),
  { logger: silentLogger, statePrefix, reminders: { timings: { pollMs: 3_600_000 } } });
const apiChild = spawnChild(['--role', 'api', db.url, twilio.url, statePrefix]);
try {
  const api = await ask(apiChild, 'ready');
  fake.send({ type: 'route', baseUrl: api.url, publicUrl: PUBLIC_BASE_URL } satisfies ToChild);
  const base = demoConfig();
  const config = {
    ...base, timezone: zone, holidays: [],
    businessHours: { mon: allDay, tue: allDay, wed: allDay, thu: allDay, fri: allDay, sat: allDay, sun: allDay },
    reminders: { enabled: true, hoursBefore: [48, 24], callWindow: { start: '08:00', end: '21:00' }, maxConcurrentCalls: 100 },
  };
  log(`reminders bench: ${TENANTS} tenants, ${APPOINTMENTS} appointments, ${DUE} due at ${CPS} CPS (zone ${zone})`);
  const tenantIds: string[] = [];
  for (let i = 0; i < TENANTS; i++) tenantIds.push((await p.tenants.create({ name: `Bench Motors ${i}`, config })).id);

  // ---- schedule
  const perTenant = Math.ceil(APPOINTMENTS / TENANTS);
  const firstStart = DateTime.now().setZone(zone).plus({ days: 3 }).startOf('day').plus({ hours: 9 });
  const appts = new Map<string, { id: string; starts_at: Date }[]>();
  let made = 0;
  for (const t of tenantIds) {
    const n = Math.min(perTenant, APPOINTMENTS - made);
    if (n <= 0) break;
    made += n;
    const rows = Array.from({ length: n }, (_, i) => {
      const s = firstStart.plus({ minutes: 30 * i });
      return { customer_id: `c${i}`, customer_phone: `+1650${String(1_000_000 + i)}`, resource_id: 'bay-1', service_type: 'oil_change', starts_at: s.toJSDate(), ends_at: s.plus({ minutes: 30 }).toJSDate() };
    });
    appts.set(t, await p.tenants.withTenant(t, (trx) => trx('appointments').insert(rows).returning(['id', 'starts_at'])) as { id: string; starts_at: Date }[]);
  }
  const floor: number[] = [];
  const writeFloor: number[] = [];
  for (let i = 0; i < 1000; i++) {
    const t0 = performance.now();
    await p.tenants.withTenant(tenantIds[i % tenantIds.length]!, (trx) => trx.raw('select 1'));
    floor.push(performance.now() - t0);
    // The same transaction made a writing one (txid_current assigns an id, so the commit flushes the WAL as any
    // write's does): what a schedule op cannot go below on this disk.
    const t1 = performance.now();
    await p.tenants.withTenant(tenantIds[i % tenantIds.length]!, (trx) => trx.raw('select txid_current()'));
    writeFloor.push(performance.now() - t1);
  }
  const ops: number[] = [];
  const now = new Date();
  const tSched = performance.now();
  for (const [t, list] of appts) {
    for (const a of list) {
      const t0 = performance.now();
      await p.tenants.withTenant(t, (trx) => syncAppointmentReminders(trx, { config, appointment: { id: a.id, starts_at: a.starts_at, status: 'booked' }, now }));
      ops.push(performance.now() - t0);
    }
  }
  const scheduleTotalMs = performance.now() - tSched;
  log(`schedule: ${ops.length} ops in ${Math.round(scheduleTotalMs)} ms, p50 ${r2(pct(ops, 50))} ms, p99 ${r2(pct(ops, 99))} ms (floor p50 ${r2(pct(floor, 50))} ms, write floor p50 ${r2(pct(writeFloor, 50))} / p99 ${r2(pct(writeFloor, 99))} ms)`);

  // ---- drain
  const drainTenants = tenantIds.slice(0, Math.min(10, tenantIds.length));
  const due: { tenantId: string; reminderId: string; dueAtMs: number }[] = [];
  const perDrain = Math.ceil(DUE / drainTenants.length);
  for (const [k, t] of drainTenants.entries()) {
    // The number reminder calls are placed from (a dealership without one cannot call: outcome failed).
    await p.tenants.attachNumber(t, `+1209555${String(1000 + k)}`);
    const n = Math.min(perDrain, DUE - due.length);
    if (n <= 0) break;
    const start = DateTime.now().setZone(zone).plus({ days: 1 });
    const rows = await p.tenants.withTenant(t, async (trx) => {
      const a = await trx('appointments').insert(Array.from({ length: n }, (_, i) => {
        const s = start.plus({ minutes: 30 * i });
        return { customer_id: `d${i}`, customer_phone: `+1408${String(1_000_000 + k * 10_000 + i)}`, resource_id: 'bay-2', service_type: 'oil_change', starts_at: s.toJSDate(), ends_at: s.plus({ minutes: 30 }).toJSDate() };
      })).returning(['id', 'starts_at']) as { id: string; starts_at: Date }[];
      return trx('reminders').insert(a.map((x) => ({ appointment_id: x.id, hours_before: 1, starts_at: x.starts_at, due_at: new Date(), kind: 'manual' })))
        .returning(['id', 'due_at']) as Promise<{ id: string; due_at: Date }[]>;
    });
    for (const r of rows) due.push({ tenantId: t, reminderId: r.id, dueAtMs: r.due_at.getTime() });
  }
  const worker = processFigures();
  apiChild.send({ type: 'mark' } satisfies ToChild);
  const callCount = async () => (await ask(fake, 'count', { type: 'count' })).n;
  const calls0 = await callCount();
  // Load-independent figures beside the CPS (the host is often shared): database statements and CPU time per call,
  // of each process.
  let queries = 0;
  p.db.on('query', () => { queries++; });
  worker.mark();
  const tDrain = performance.now();
  for (const d of due) await enqueueReminder(p.jobs, { data: d, now: new Date() });
  const deadline = Date.now() + (DUE / CPS) * 1000 * 3 + 60_000;
  while ((await callCount()) - calls0 < DUE && Date.now() < deadline) await sleep(100);
  await sleep(2000);
  const drainMs = performance.now() - tDrain;
  const w = worker.read();
  const workerQueries = queries;
  const a = await ask(apiChild, 'figures', { type: 'collect' });
  const collected = await ask(fake, 'calls', { type: 'collect' });
  const created = collected.calls.slice(calls0);
  const times = created.map((c) => c.createdMs).sort((a, b) => a - b);
  const achievedCps = created.length > 1 ? (created.length - 1) / ((times.at(-1)! - times[0]!) / 1000) : 0;
  const byPhone = new Map<string, number>();
  for (const c of created) byPhone.set(c.to, (byPhone.get(c.to) ?? 0) + 1);
  const duplicates = [...byPhone.values()].reduce((s, x) => s + (x - 1), 0);
  let lost = 0;
  for (const t of drainTenants) {
    const r = await p.tenants.withTenant(t, (trx) => trx('reminders as r').leftJoin('reminder_attempts as a', 'a.reminder_id', 'r.id')
      .where('r.kind', 'manual').whereNull('a.call_sid').count('* as n')) as { n: string }[];
    lost += Number(r[0]!.n);
  }
  const outcomes = new Map<string, number>();
  for (const t of drainTenants) {
    const rows = await p.tenants.withTenant(t, (trx) => trx('reminder_attempts').select('outcome').count('* as n').groupBy('outcome')) as { outcome: string; n: string }[];
    for (const r of rows) outcomes.set(r.outcome, (outcomes.get(r.outcome) ?? 0) + Number(r.n));
  }
  log(`drain attempt outcomes: ${JSON.stringify(Object.fromEntries(outcomes))}`);
  const perCall = (x: number) => (created.length ? r2(x / created.length) : 0);
  const mb = (x: number) => Math.round(x / 1e6);
  log(`drain per call: ${perCall(workerQueries + a.queries)} database statements (worker ${perCall(workerQueries)}, api ${perCall(a.queries)}); `
    + `CPU ms: worker ${perCall(w.cpuMs)}, api ${perCall(a.cpuMs)}, fake Twilio ${perCall(collected.cpuMs)}`);
  log(`drain: ${created.length} calls in ${Math.round(drainMs)} ms, ${r2(achievedCps)} CPS (limit ${CPS}), ${duplicates} duplicates, ${lost} lost, `
    + `worker RSS ${mb(w.rssBase)} → ${mb(w.rssPeak)} MB, api RSS ${mb(a.rssBase)} → ${mb(a.rssPeak)} MB`);
  log(JSON.stringify({
    bench: 'reminders',
    schedule: {
      tenants: TENANTS, appointments: ops.length, totalMs: Math.round(scheduleTotalMs), p50Ms: r2(pct(ops, 50)), p99Ms: r2(pct(ops, 99)),
      floorP50Ms: r2(pct(floor, 50)), floorP99Ms: r2(pct(floor, 99)), writeFloorP50Ms: r2(pct(writeFloor, 50)), writeFloorP99Ms: r2(pct(writeFloor, 99)),
    },
    drain: {
      due: DUE, calls: created.length, cpsLimit: CPS, achievedCps: r2(achievedCps), cpsRatio: r2(achievedCps / CPS), duplicates, lost, drainMs: Math.round(drainMs),
      // The worker's (this process's): what the issue asks for.
      rssBaselineMb: mb(w.rssBase), rssPeakMb: mb(w.rssPeak), apiRssBaselineMb: mb(a.rssBase), apiRssPeakMb: mb(a.rssPeak),
      dbStatementsPerCall: perCall(workerQueries + a.queries), workerDbStatementsPerCall: perCall(workerQueries), apiDbStatementsPerCall: perCall(a.queries),
      cpuMsPerCall: perCall(w.cpuMs + a.cpuMs), workerCpuMsPerCall: perCall(w.cpuMs), apiCpuMsPerCall: perCall(a.cpuMs),
      fakeTwilioCpuMsPerCall: perCall(collected.cpuMs),
    },
  }));
} finally {
  await p.close();
  // The api child's pool must be gone before its database is dropped.
  await Promise.all(children.map((c) => new Promise<void>((resolve) => {
    if (c.exitCode !== null || c.signalCode !== null) return resolve();
    c.once('exit', () => resolve());
    c.send({ type: 'stop' } satisfies ToChild);
  })));
  await db.drop();
}
