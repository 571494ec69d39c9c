// Reminder calls across real worker processes (ROLE=worker, exactly core/main.ts), with the api role in this process
// receiving Twilio's signed callbacks and the fake Twilio REST API in this process too. No Redis here: the queues
// and the state store are the Postgres backends of this test's own database, so parallel runs never share them.
// (e) a worker SIGKILLed right after Twilio created the call (before it learned the SID) → exactly one call;
// (h) two workers at 1 CPS: 20 due reminders are created at least 1 s apart, all of them, once each.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Knex } from 'knex';
import { DateTime } from 'luxon';
import { buildPlatform, createHttpApp, listen, type Platform } from '../../core/app.js';
import { loadConfig } from '../../core/config.js';
import { silentLogger } from '../../core/observability/logger.js';
import { enqueueReminder } from '../../core/outbound/reminder-job.js';
import { createManualReminder } from '../../core/outbound/send-now.js';
import { DEMO_NUMBER, seedDemo } from '../../core/tenancy/seed.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { freePort, sleep, stopChild, waitExit, waitReady } from '../helpers/process.js';
import { startFakeTwilioRest, type FakeTwilioRest } from '../fakes/twilio-rest.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const PUBLIC_BASE_URL = 'https://servicelane.test';
const ACCOUNT_SID = 'AC' + 'e0f1a2b3'.repeat(4);
const AUTH_TOKEN = 'twilio-auth-token-for-outbound-01';
const SECRETS = { ADMIN_JWT_SECRET: 'outbound-test-secret-outbound-test-0123', CREDENTIALS_KEY: Buffer.alloc(32, 9).toString('base64') };

/** Zones without DST by UTC offset, so one where it is now about noon can be picked (the workers run on the real clock). */
const ZONES: Record<number, string> = {
  [-11]: 'Pacific/Pago_Pago', [-10]: 'Pacific/Honolulu', [-9]: 'Pacific/Gambier', [-8]: 'Pacific/Pitcairn', [-7]: 'America/Phoenix',
  [-6]: 'America/Guatemala', [-5]: 'America/Bogota', [-4]: 'America/La_Paz', [-3]: 'America/Argentina/Buenos_Aires', [-2]: 'America/Noronha',
  [-1]: 'Atlantic/Cape_Verde', 0: 'Africa/Abidjan', 1: 'Africa/Lagos', 2: 'Africa/Johannesburg', 3: 'Europe/Moscow', 4: 'Asia/Dubai',
  5: 'Asia/Karachi', 6: 'Asia/Dhaka', 7: 'Asia/Bangkok', 8: 'Asia/Shanghai', 9: 'Asia/Tokyo', 10: 'Australia/Brisbane', 11: 'Pacific/Guadalcanal', 12: 'Pacific/Tarawa',
};
function noonZone(): string {
  let off = 12 - new Date().getUTCHours();
  if (off > 12) off -= 24;
  if (off < -11) off += 24;
  return ZONES[off]!;
}

interface Worker { child: ChildProcess; output: () => string }

async function startWorker(o: { db: TestDatabase; twilio: FakeTwilioRest; env?: Record<string, string> }): Promise<Worker> {
  const port = await freePort();
  const env: Record<string, string> = {
    PATH: `${path.dirname(process.execPath)}:${process.env.PATH ?? '/usr/bin:/bin'}`, HOME: process.env.HOME ?? '/tmp',
    ROLE: 'worker', PORT: String(port), DATABASE_URL: o.db.url, PUBLIC_BASE_URL, LOG_LEVEL: 'info', ...SECRETS,
    TWILIO_ACCOUNT_SID: ACCOUNT_SID, TWILIO_AUTH_TOKEN: AUTH_TOKEN, TWILIO_API_BASE_URL: o.twilio.url, TWILIO_CPS: '1',
    PLUGIN_EGRESS_ALLOW: '127.0.0.0/8,::1',
    ...o.env,
  };
  const child = spawn(process.execPath, ['--import', 'tsx', 'core/main.ts'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => { output += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { output += d.toString(); });
  await waitReady({ child, url: `http://127.0.0.1:${port}/readyz`, ms: 60_000, output: () => output });
  return { child, output: () => output };
}

async function until<T>(what: string, fn: () => Promise<T | null | undefined | false>, ms: number, output?: () => string): Promise<T> {
  for (const end = Date.now() + ms; Date.now() < end;) {
    const v = await fn();
    if (v) return v;
    await sleep(200);
  }
  throw new Error(`timed out waiting for ${what}${output ? `\n${output().slice(-3000)}` : ''}`);
}

describe('reminder calls across worker processes (e2e)', function () {
  this.timeout(300_000);
  let db: TestDatabase;
  let twilio: FakeTwilioRest;
  let api: Platform;
  let server: http.Server;
  let tenantId: string;
  const workers: Worker[] = [];
  let n = 0;

  const q = <T>(fn: (trx: Knex.Transaction) => Promise<T>) => api.tenants.withTenant(tenantId, fn);

  /** Books an appointment tomorrow and asks for its reminder now, as the admin API does. */
  async function remindNow(): Promise<{ appointmentId: string; phone: string }> {
    const phone = `+1650555${String(3000 + ++n)}`;
    const cfg = (await api.tenants.get(tenantId)).config!;
    const start = DateTime.now().setZone(cfg.timezone).plus({ days: 2 }).startOf('day').plus({ hours: 8, minutes: 30 * n });
    const a = await api.scheduler.book({ tenantId, serviceType: 'oil_change', start: start.toISO()!, now: new Date(), customer: { id: `cust-w-${n}`, name: `Worker Customer ${n}`, phone } });
    const r = await createManualReminder({ tenants: api.tenants, tenantId, appointmentId: a.id, ignoreWindow: false, now: new Date() });
    await enqueueReminder(api.jobs, { data: { tenantId, reminderId: r.id, dueAtMs: r.dueAt.getTime() }, now: new Date() });
    return { appointmentId: a.id, phone };
  }

  before(async () => {
    twilio = await startFakeTwilioRest({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN });
    twilio.addNumber(DEMO_NUMBER);
    db = await createTestDatabase('outbound_e2e');
    // The api role in this process: it seeds the dealership, and it is where Twilio's callbacks arrive.
    api = await buildPlatform(loadConfig({
      ROLE: 'api', PORT: '0', DATABASE_URL: db.url, LOG_LEVEL: 'silent', PUBLIC_BASE_URL, ...SECRETS,
      TWILIO_ACCOUNT_SID: ACCOUNT_SID, TWILIO_AUTH_TOKEN: AUTH_TOKEN, TWILIO_API_BASE_URL: twilio.url, PLUGIN_EGRESS_ALLOW: '127.0.0.0/8,::1',
    }), { logger: silentLogger });
    await seedDemo(api);
    tenantId = (await api.tenants.resolveNumber(DEMO_NUMBER))!.id;
    const cfg = (await api.tenants.get(tenantId)).config!;
    const allDay = [{ open: '00:00', close: '23:59' }];
    await api.tenants.updateConfig(tenantId, {
      ...cfg, timezone: noonZone(), holidays: [],
      businessHours: { mon: allDay, tue: allDay, wed: allDay, thu: allDay, fri: allDay, sat: allDay, sun: allDay },
      reminders: { enabled: true, hoursBefore: [24], callWindow: { start: '08:00', end: '21:00' }, maxConcurrentCalls: 50 },
    });
    server = await listen(api, createHttpApp(api));
    twilio.routeWebhooks({ baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, publicUrl: PUBLIC_BASE_URL });
  });
  afterEach(async () => { for (const w of workers.splice(0)) await stopChild(w.child); });
  after(async () => {
    await api?.close();
    await twilio?.close();
    await db?.drop();
  });

  it('(e) a worker SIGKILLed right after Twilio created the call: the next worker reconciles, exactly one call', async () => {
    const w1 = await startWorker({ db, twilio });
    workers.push(w1);
    // Twilio has the call; the worker dies before it reads the answer.
    twilio.beforeCreateReply = () => { w1.child.kill('SIGKILL'); };
    twilio.autoDrive = null;
    const r = await remindNow();
    const exit = await waitExit(w1.child, 60_000);
    twilio.beforeCreateReply = null;
    assert.equal(exit?.signal, 'SIGKILL', w1.output().slice(-2000));
    const created = [...twilio.calls.values()].filter((c) => c.to === r.phone);
    assert.equal(created.length, 1);
    const intent = await q((trx) => trx('reminder_attempts').where({ appointment_id: r.appointmentId }).first('id', 'call_sid', 'dial_started_at', 'dial_key')) as { id: string; call_sid: string | null; dial_started_at: Date | null; dial_key: string | null };
    assert.ok(intent.dial_started_at && intent.dial_key, 'the intent was committed before the REST request');
    assert.equal(intent.call_sid, null, 'the dead worker never recorded the SID');

    // A new worker: the queue gives the dead worker's job to it (stalled), and it finds the call instead of dialling.
    const w2 = await startWorker({ db, twilio });
    workers.push(w2);
    const sid = await until('the SID reconciled', async () => (await q((trx) => trx('reminder_attempts').where({ id: intent.id }).first('call_sid')) as { call_sid: string | null }).call_sid, 150_000, w2.output);
    assert.equal(sid, created[0]!.sid);
    await sleep(2_000);
    assert.equal([...twilio.calls.values()].filter((c) => c.to === r.phone).length, 1, 'no second call');
    assert.match(w2.output(), /reminder call found at the provider after a lost answer; not placed again/);
  });

  it('(h) two workers at 1 CPS: 20 due reminders are all placed, once each, at least 1 s apart', async () => {
    twilio.autoDrive = () => ({ answer: 'none', status: 'busy' });
    workers.push(await startWorker({ db, twilio }), await startWorker({ db, twilio }));
    const before = twilio.calls.size;
    const due: { appointmentId: string; phone: string }[] = [];
    for (let i = 0; i < 20; i++) due.push(await remindNow());
    const phones = new Set(due.map((d) => d.phone));
    const placed = await until('20 calls', async () => {
      const c = [...twilio.calls.values()].filter((x) => phones.has(x.to));
      return c.length >= 20 ? c : null;
    }, 120_000, () => workers.map((w) => w.output()).join('\n'));
    await sleep(2_000);
    const all = [...twilio.calls.values()].filter((x) => phones.has(x.to));
    assert.equal(all.length, 20, 'no duplicates');
    assert.equal(new Set(all.map((c) => c.to)).size, 20, 'every reminder got its call');
    assert.equal(twilio.calls.size - before, 20);
    const times = placed.map((c) => c.dateCreated.getTime()).sort((a, b) => a - b);
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    assert.ok(Math.min(...gaps) >= 1000, `gaps between creations (ms): ${gaps.join(', ')}`);
    // Both workers placed calls (the limit is shared, not per process).
    const logs = workers.map((w) => (w.output().match(/reminder call placed/g) ?? []).length);
    assert.ok(logs.every((x) => x > 0), `calls placed per worker: ${logs.join(', ')}`);
    // And the callbacks came back to the api role: every attempt settled as busy (a retry is scheduled for each).
    await until('the busy outcomes', async () => {
      const rows = await q((trx) => trx('reminder_attempts').whereIn('appointment_id', due.map((d) => d.appointmentId)).where('outcome', 'busy').count('* as n')) as { n: string }[];
      return Number(rows[0]!.n) === 20;
    }, 30_000);
  });
});
