// Issue 10, the dialing half: a due reminder becomes one Twilio call through the real SDK (pointed at the fake
// REST API), Twilio's signed status and answering-machine callbacks come back to /twilio/outbound/<tenant>/<attempt>,
// and each attempt ends with an outcome: a person gets the media stream with the outbound ticket, a machine gets
// the short voicemail after the beep, no-answer is retried inside the window, then settled.
import assert from 'node:assert/strict';
import type { Knex } from 'knex';
import { DateTime } from 'luxon';
import { startCallHarness, parseStreamTwiml, PUBLIC_BASE_URL, TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, DEMO_NUMBER, type CallHarness } from '../helpers/call-harness.js';
import { connectMediaStream } from '../fakes/twilio-media.js';
import { amdCallbackParams, postWebhook, statusCallbackParams } from '../fakes/twilio-webhooks.js';
import type { CallScenario } from '../fakes/twilio-rest.js';
import type { StreamTicket } from '../../core/telephony/webhooks.js';
import { sleep } from '../helpers/process.js';
import request from 'supertest';
import { signDevToken } from '../../core/admin-api/auth.js';
import { silentLogger } from '../../core/observability/logger.js';
import { ReminderRunner } from '../../core/outbound/reminder-job.js';

/** Monday 1 March 2027, 10:00 in Los Angeles (the demo dealership's zone; its window is 09:00-19:00). */
const OPEN = new Date('2027-03-01T18:00:00Z');

interface Attempt { started_at: Date; id: string; reminder_id: string; attempt: number; outcome: string; call_sid: string | null; amd_result: string | null; call_status: string | null; dial_key: string | null; dial_started_at: Date | null }
interface Reminder { id: string; status: string; due_at: Date; outcome: string | null; hours_before: number }

async function until<T>(what: string, fn: () => Promise<T | null | undefined | false>, ms = 20_000): Promise<T> {
  for (const end = Date.now() + ms; Date.now() < end;) {
    const v = await fn();
    if (v) return v;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('outbound reminder calls: dialing, callbacks, outcomes (issue 10)', function () {
  this.timeout(120_000);
  let h: CallHarness;
  let clock = OPEN;
  let n = 0;
  let scenario: CallScenario | null = null;

  const q = <T>(fn: (trx: Knex.Transaction) => Promise<T>) => h.p.tenants.withTenant(h.tenantId, fn);
  const attempts = (appointmentId: string) => q((trx) => trx('reminder_attempts').where({ appointment_id: appointmentId }).orderBy('attempt').select('*')) as Promise<Attempt[]>;
  const reminders = (appointmentId: string) => q((trx) => trx('reminders').where({ appointment_id: appointmentId }).orderBy('hours_before', 'desc').select('*')) as Promise<Reminder[]>;
  const callsTo = (to: string) => [...h.twilio.calls.values()].filter((c) => c.to === to);

  /** Books an appointment two or three days out (each at its own hour) with one reminder (48 h before it). */
  async function book(at?: string): Promise<{ id: string; phone: string }> {
    const phone = `+1408555${String(2000 + ++n)}`;
    const start = at ? DateTime.fromISO(at, { zone: 'America/Los_Angeles' }) : DateTime.fromISO(`2027-03-0${3 + Math.floor(n / 9)}T08:00:00`, { zone: 'America/Los_Angeles' }).plus({ hours: n % 9 });
    const a = await h.p.scheduler.book({
      tenantId: h.tenantId, serviceType: 'oil_change', start: start.toISO()!, now: new Date('2027-03-01T12:00:00Z'),
      customer: { id: `cust-out-${n}`, name: `Dana Whitfield ${n}`, phone },
    });
    return { id: a.id, phone };
  }
  /** What the drain's job does at the reminder's due time. */
  const runDue = async (appointmentId: string) => {
    const r = (await reminders(appointmentId)).find((x) => x.status === 'scheduled')!;
    return h.p.reminders.runner.run({ tenantId: h.tenantId, reminderId: r.id, dueAtMs: r.due_at.getTime() });
  };

  before(async () => {
    h = await startCallHarness({ build: { reminders: { clock: () => clock, timings: { pollMs: 3_600_000 } }, outbound: { reconcileGraceMs: 500, capRetryMs: 200 } } });
    h.twilio.addNumber(DEMO_NUMBER);
    h.twilio.routeWebhooks({ baseUrl: h.baseUrl, publicUrl: PUBLIC_BASE_URL });
    h.twilio.autoDrive = () => scenario;
    const cfg = (await h.p.tenants.get(h.tenantId)).config!;
    await h.p.tenants.updateConfig(h.tenantId, { ...cfg, reminders: { enabled: true, hoursBefore: [48], callWindow: { start: '09:00', end: '19:00' }, retry: { maxAttempts: 3, intervalMin: 120 } } });
  });
  after(async () => { await h?.close(); });
  beforeEach(() => { clock = OPEN; scenario = null; });

  it('places the call through the SDK with the attempt\'s signed URLs and asynchronous AMD that waits for the beep', async () => {
    const a = await book();
    scenario = { answer: 'none', status: 'busy' };
    const r = await runDue(a.id);
    assert.equal(r.outcome, 'due');
    const call = await until('the call', async () => callsTo(a.phone)[0]);
    const [att] = await until('the SID recorded', async () => { const x = await attempts(a.id); return x[0]?.call_sid ? x : null; });
    const base = `${PUBLIC_BASE_URL}/twilio/outbound/${h.tenantId}/${att!.id}`;
    assert.equal(call.from, DEMO_NUMBER);
    assert.equal(call.params.Url, `${base}/voice`);
    assert.equal(call.params.StatusCallback, `${base}/status`);
    assert.deepEqual(call.params.StatusCallbackEvent, ['ringing', 'answered', 'completed']);
    assert.equal(call.params.MachineDetection, 'DetectMessageEnd');
    assert.equal(call.params.AsyncAmd, 'true');
    assert.equal(call.params.AsyncAmdStatusCallback, `${base}/amd`);
    assert.equal(att!.call_sid, call.sid);
    assert.equal(att!.dial_key, `${att!.reminder_id}-1`, 'the intent carries the idempotency key');
    assert.ok(att!.dial_started_at, 'the intent was written');
  });

  it('(c) a machine: after the beep the short message (dealership, reminder, callback number; no PII), hang-up, outcome voicemail', async () => {
    const a = await book();
    scenario = { answer: 'machine', answeredBy: 'machine_end_beep' };
    await runDue(a.id);
    const [att] = await until('the voicemail outcome', async () => { const x = await attempts(a.id); return x[0]?.call_status === 'completed' ? x : null; });
    assert.equal(att!.outcome, 'voicemail');
    assert.equal(att!.amd_result, 'machine_end_beep');
    const call = callsTo(a.phone)[0]!;
    assert.equal(call.status, 'completed');
    const twiml = String(call.updates.find((u) => u.Twiml)?.Twiml ?? '');
    assert.match(twiml, /<Say language="en-US">Hello, this is Sunnyvale Honda Service with a reminder about your upcoming service appointment\. Please call us back at \(408\) 555-0123\. Thank you, goodbye\.<\/Say><Hangup\/><\/Response>$/);
    // Nothing about the customer, the vehicle, the service or the time.
    for (const secret of ['Dana', 'Whitfield', 'oil', 'Oil', 'March', '10:00', a.phone, '2001']) assert.ok(!twiml.includes(secret), `voicemail leaks ${secret}`);
    const [rem] = await reminders(a.id);
    assert.equal(rem!.outcome, 'voicemail');
    assert.equal(rem!.status, 'due', 'no retry after a message was left');
    assert.equal(callsTo(a.phone).length, 1);
  });

  it('(c) a Spanish dealership (languages[0] es): the voicemail is left in Spanish, with Twilio\'s Spanish voice, still without PII', async () => {
    const cfg = (await h.p.tenants.get(h.tenantId)).config!;
    await h.p.tenants.updateConfig(h.tenantId, { ...cfg, languages: ['es', 'en'] });
    try {
      const a = await book();
      scenario = { answer: 'machine', answeredBy: 'machine_end_beep' };
      await runDue(a.id);
      const [att] = await until('the voicemail outcome', async () => { const x = await attempts(a.id); return x[0]?.call_status === 'completed' ? x : null; });
      assert.equal(att!.outcome, 'voicemail');
      const twiml = String(callsTo(a.phone)[0]!.updates.find((u) => u.Twiml)?.Twiml ?? '');
      assert.match(twiml, /<Say language="es-MX">Hola, le llamamos de Sunnyvale Honda Service para recordarle su próxima cita de servicio\. Por favor, devuélvanos la llamada al \(408\) 555-0123\. Gracias, adiós\.<\/Say><Hangup\/><\/Response>$/);
      for (const secret of ['Dana', 'Whitfield', 'oil', 'aceite', 'marzo', a.phone]) assert.ok(!twiml.includes(secret), `voicemail leaks ${secret}`);
    } finally {
      await h.p.tenants.updateConfig(h.tenantId, cfg);
    }
  });

  it('(c) voicemail disabled: a machine is hung up on without a message, outcome no_answer (retried like one)', async () => {
    const cfg = (await h.p.tenants.get(h.tenantId)).config!;
    await h.p.tenants.updateConfig(h.tenantId, { ...cfg, reminders: { ...cfg.reminders, voicemail: false } });
    try {
      const a = await book();
      scenario = { answer: 'machine', answeredBy: 'machine_end_silence' };
      await runDue(a.id);
      const [att] = await until('the outcome', async () => { const x = await attempts(a.id); return x[0]?.call_status === 'completed' ? x : null; });
      assert.equal(att!.outcome, 'no_answer');
      const call = callsTo(a.phone)[0]!;
      assert.ok(!call.updates.some((u) => u.Twiml), 'no message was played');
      assert.ok(call.updates.some((u) => u.Status === 'completed'), 'the call was hung up');
      assert.equal((await reminders(a.id))[0]!.status, 'scheduled', 'retried later');
    } finally {
      await h.p.tenants.updateConfig(h.tenantId, cfg);
    }
  });

  it('(d) no answer: retried 2 h later inside the window, then the final outcome after maxAttempts', async () => {
    const a = await book();
    scenario = { answer: 'none', status: 'no-answer' };
    await runDue(a.id);
    await until('attempt 1 settled', async () => (await attempts(a.id))[0]?.outcome === 'no_answer');
    let [rem] = await reminders(a.id);
    assert.equal(rem!.status, 'scheduled');
    assert.equal(rem!.due_at.toISOString(), '2027-03-01T20:00:00.000Z', '12:00 local: 2 h after the first try');
    clock = rem!.due_at;
    await runDue(a.id);
    await until('attempt 2 settled', async () => (await attempts(a.id))[1]?.outcome === 'no_answer');
    [rem] = await reminders(a.id);
    assert.equal(rem!.due_at.toISOString(), '2027-03-01T22:00:00.000Z');
    clock = rem!.due_at;
    await runDue(a.id);
    await until('attempt 3 settled', async () => (await attempts(a.id))[2]?.outcome === 'no_answer');
    [rem] = await reminders(a.id);
    assert.equal(rem!.status, 'due', 'no fourth attempt');
    assert.equal(rem!.outcome, 'no_answer', 'the final outcome');
    assert.deepEqual((await attempts(a.id)).map((x) => [x.attempt, x.outcome]), [[1, 'no_answer'], [2, 'no_answer'], [3, 'no_answer']]);
    assert.equal(callsTo(a.phone).length, 3);
  });

  it('(d/g) a retry that would fall after the window closes moves to the next open morning, not into the night', async () => {
    const a = await book();
    scenario = { answer: 'none', status: 'busy' };
    clock = new Date('2027-03-02T02:30:00Z'); // 18:30 local Monday; +2 h = 20:30, past the 19:00 window end
    await runDue(a.id);
    await until('settled', async () => (await attempts(a.id))[0]?.outcome === 'busy');
    const [rem] = await reminders(a.id);
    assert.equal(DateTime.fromJSDate(rem!.due_at, { zone: 'America/Los_Angeles' }).toFormat('ccc HH:mm'), 'Tue 09:00');
  });

  it('(g) due 02:30 on the spring-forward night and due 22:00: each is called at the next allowed time, not at night', async () => {
    const zone = 'America/Los_Angeles';
    const local = (d: Date) => DateTime.fromJSDate(d, { zone }).toFormat('ccc yyyy-MM-dd HH:mm ZZZZ');
    scenario = { answer: 'none', status: 'busy' };
    for (const [due, expected] of [
      // 02:30 does not exist on 14 March 2027 (clocks jump to 03:30); Sunday is closed: Monday 09:00 PDT.
      ['2027-03-14T02:30:00', 'Mon 2027-03-15 09:00 PDT'],
      // 22:00 is past the 19:00 window and the 21:00 legal end: the next morning.
      ['2027-03-15T22:00:00', 'Tue 2027-03-16 09:00 PDT'],
    ] as const) {
      const a = await book(`2027-03-17T${String(8 + n % 9).padStart(2, '0')}:00:00`);
      const dueAt = DateTime.fromISO(due, { zone }).toJSDate();
      await q((trx) => trx('reminders').where({ appointment_id: a.id }).update({ due_at: dueAt }));
      clock = dueAt;
      const first = await runDue(a.id);
      assert.equal(first.outcome, 'deferred');
      const [rem] = await reminders(a.id);
      assert.equal(local(rem!.due_at), expected);
      assert.equal(callsTo(a.phone).length, 0, 'nothing rang at night');
      clock = rem!.due_at;
      assert.equal((await runDue(a.id)).outcome, 'due');
      await until('the call at the allowed time', async () => callsTo(a.phone)[0]);
      const [att] = await attempts(a.id);
      assert.equal(local(att!.started_at), expected);
    }
  });

  it('(f) an appointment cancelled after the dial was queued: no call, outcome skipped', async () => {
    const a = await book();
    scenario = { answer: 'human' };
    // Hold the tenant's only live-call slots so the dial job waits, cancel meanwhile, then free them.
    const cfg = (await h.p.tenants.get(h.tenantId)).config!;
    await h.p.state.acquireSlot({ key: `outbound:live:${h.tenantId}`, holder: 'blocker-1', limit: 99, ttlMs: 60_000 });
    await h.p.state.acquireSlot({ key: `outbound:live:${h.tenantId}`, holder: 'blocker-2', limit: 99, ttlMs: 60_000 });
    try {
      await runDue(a.id);
      await sleep(500);
      await h.p.scheduler.cancel({ tenantId: h.tenantId, appointmentId: a.id });
    } finally {
      await h.p.state.releaseSlot(`outbound:live:${h.tenantId}`, 'blocker-1');
      await h.p.state.releaseSlot(`outbound:live:${h.tenantId}`, 'blocker-2');
    }
    const [att] = await until('the skip', async () => { const x = await attempts(a.id); return x[0]?.outcome !== 'due' ? x : null; });
    assert.equal(att!.outcome, 'skipped_appointment_cancelled');
    assert.equal(att!.call_sid, null);
    assert.equal(callsTo(a.phone).length, 0, 'no call was placed');
    assert.equal(cfg.reminders?.maxConcurrentCalls ?? 2, 2);
  });

  it('(a) a due attempt whose dial job was lost is dialled by the drain\'s sweep after a lease, once, and never again', async () => {
    const a = await book();
    scenario = { answer: 'none', status: 'busy' };
    // The worker died between committing the attempt and queueing its dial: a runner without a dialer leaves exactly that.
    const orphaned = new ReminderRunner({ tenants: h.p.tenants, logger: silentLogger, dialer: null, clock: () => clock });
    const r = (await reminders(a.id)).find((x) => x.status === 'scheduled')!;
    assert.equal((await orphaned.run({ tenantId: h.tenantId, reminderId: r.id, dueAtMs: r.due_at.getTime() })).outcome, 'due');
    // Within the lease nothing is swept (its dial may just be late).
    await h.p.reminders.drain.drainOnce();
    await sleep(300);
    assert.equal(callsTo(a.phone).length, 0);
    // A lease later the sweep queues the dial again, and the call is placed.
    clock = new Date(OPEN.getTime() + 11 * 60_000);
    await h.p.reminders.drain.drainOnce();
    const [att] = await until('the swept call', async () => { const x = await attempts(a.id); return x[0]?.call_sid ? x : null; });
    assert.equal(callsTo(a.phone).length, 1);
    assert.equal(att!.dial_key, `${att!.reminder_id}-1`);
    // Later sweeps, and a stray rerun of the swept job, find the SID: no second call.
    clock = new Date(OPEN.getTime() + 22 * 60_000);
    await h.p.reminders.drain.drainOnce();
    await h.p.outbound.dial({ tenantId: h.tenantId, attemptId: att!.id, n: 0, sweep: 1 });
    await sleep(300);
    assert.equal(callsTo(a.phone).length, 1, 'exactly one call');
  });

  it('(a) an intent whose REST answer was lost (no SID) is reconciled by the sweep with the provider\'s call, not dialled again', async () => {
    const a = await book();
    scenario = { answer: 'none', status: 'busy' };
    // The call reached Twilio but its SID never reached the row (the worker died right after the REST request).
    h.twilio.autoDrive = () => null;
    try {
      await runDue(a.id);
      const call = await until('the call', async () => callsTo(a.phone)[0]);
      // The callee's phone is ringing by now (Twilio lists calls by start time); the intent is on the provider's clock.
      h.twilio.setCallStatus(call.sid, 'in-progress');
      await q((trx) => trx('reminder_attempts').where({ appointment_id: a.id }).update({ call_sid: null, placed_at: null, dial_started_at: new Date(Date.now() - 1000) }));
      clock = new Date(OPEN.getTime() + 11 * 60_000);
      await h.p.reminders.drain.drainOnce();
      const [att] = await until('the reconciled SID', async () => { const x = await attempts(a.id); return x[0]?.call_sid ? x : null; });
      assert.equal(att!.call_sid, call.sid, 'the provider\'s call was adopted');
      assert.equal(callsTo(a.phone).length, 1, 'no second call');
    } finally {
      h.twilio.autoDrive = () => scenario;
    }
  });

  it('over the tenant usage limit (limits.maxConcurrentCalls, shared with inbound): no intent, no call; the dial waits', async () => {
    const a = await book();
    scenario = { answer: 'human' };
    const cfg = (await h.p.tenants.get(h.tenantId)).config!;
    await h.p.tenants.updateConfig(h.tenantId, { ...cfg, limits: { maxConcurrentCalls: 1 } });
    // Another live call (inbound or outbound) holds the tenant's only usage lease.
    const blocker = await h.p.usage.allowOutbound({ tenantId: h.tenantId, key: 'test-blocker' });
    assert.equal(blocker.allowed, true);
    try {
      await runDue(a.id);
      await sleep(1_500);
      const [att] = await attempts(a.id);
      assert.equal(att!.outcome, 'due', 'the attempt still waits');
      assert.equal(att!.dial_started_at, null, 'no call intent was written');
      assert.equal(att!.call_sid, null);
      assert.equal(callsTo(a.phone).length, 0, 'no call was placed');
    } finally {
      if (blocker.allowed) await blocker.release();
      await h.p.tenants.updateConfig(h.tenantId, cfg);
    }
  });

  it('a person answers: the voice webhook answers with the media stream and an outbound ticket; the session starts outbound', async () => {
    const a = await book();
    scenario = { answer: 'human' };
    await runDue(a.id);
    const voice = await until('the voice webhook', async () => h.twilio.callbacks.find((c) => c.kind === 'voice' && callsTo(a.phone)[0]?.sid === c.callSid));
    const [att] = await attempts(a.id);
    const stream = parseStreamTwiml(voice.body);
    assert.ok(stream, voice.body);
    const ticket = JSON.parse((await h.p.telephony.keys.get(`streamtok:${stream.callToken}`))!) as StreamTicket;
    assert.equal(ticket.direction, 'outbound');
    assert.deepEqual(ticket.params, { reminderAttemptId: att!.id });
    assert.equal(ticket.callSid, voice.callSid);
    assert.equal(ticket.from, a.phone, 'the dialled customer (media-link.ts)');
    assert.equal(ticket.to, DEMO_NUMBER);
    const row = await q((trx) => trx('calls').where({ call_sid: voice.callSid }).first('direction', 'id')) as { direction: string; id: string };
    assert.equal(row.direction, 'outbound');
    assert.equal(ticket.callId, row.id);
    const started = new Promise<string>((resolve) => h.p.voice.once('call', (s) => resolve(s.callSid)));
    const media = await connectMediaStream({ url: h.localUrl(stream.url), callSid: voice.callSid, accountSid: TEST_ACCOUNT_SID, customParameters: { callToken: stream.callToken } });
    try {
      assert.equal(await started, voice.callSid);
      const doc = await until('the session state', async () => h.p.state.getDoc<{ direction: string }>(`voice:call:${voice.callSid}`));
      assert.equal(doc.doc.direction, 'outbound');
    } finally { media.close(); }
    await h.twilio.hangUp(voice.callSid);
    const done = await until('answered outcome', async () => { const x = await attempts(a.id); return x[0]?.call_status === 'completed' ? x[0] : null; });
    assert.equal(done.amd_result, 'human');
    // Nobody spoke here: the conversation's end-of-call outcome (identity_unconfirmed) or the status's (answered),
    // whichever is written first under load; never a second call.
    assert.ok(['answered', 'identity_unconfirmed'].includes(done.outcome), done.outcome);
    assert.equal(callsTo(a.phone).length, 1, 'no second call');
    // The tenant's calls row ends in the same transaction as the attempt, and a late status never moves it back.
    const ended = await q((trx) => trx('calls').where({ call_sid: voice.callSid }).first('status', 'status_rank', 'ended_at')) as { status: string; status_rank: number; ended_at: Date | null };
    assert.equal(ended.status, 'completed');
    assert.ok(ended.ended_at, 'ended_at set');
    const late = await postWebhook({ baseUrl: h.baseUrl, publicUrl: PUBLIC_BASE_URL, path: `/twilio/outbound/${h.tenantId}/${done.id}/status`, authToken: TEST_AUTH_TOKEN,
      params: statusCallbackParams({ accountSid: TEST_ACCOUNT_SID, callSid: voice.callSid, from: DEMO_NUMBER, to: a.phone, callStatus: 'ringing', sequenceNumber: 1 }) });
    assert.equal(late.status, 204);
    assert.deepEqual(await q((trx) => trx('calls').where({ call_sid: voice.callSid }).first('status', 'status_rank', 'ended_at')), ended);
  });

  describe('admin API: send a reminder now', () => {
    const tok = (role: 'tenant_admin' | 'platform_admin') => signDevToken({ secret: h.tp.cfg.jwt.secret!, role, tenant: role === 'tenant_admin' ? h.tenantId : undefined, sub: 'test-admin' });
    const send = (appointmentId: string, role: 'tenant_admin' | 'platform_admin', body: Record<string, unknown> = {}) =>
      request(h.baseUrl).post(`/admin/v1/tenants/${h.tenantId}/appointments/${appointmentId}/reminders`).set('Authorization', `Bearer ${tok(role)}`).send(body);
    const count = async (appointmentId: string) => (await reminders(appointmentId)).length;

    it('202 {id, status}: the call is placed, and GET reminders shows the attempt with its SID, AMD result and outcome', async () => {
      const a = await book();
      scenario = { answer: 'machine' };
      const res = await send(a.id, 'tenant_admin');
      assert.equal(res.status, 202, res.text);
      assert.equal(res.body.status, 'scheduled');
      await until('the voicemail', async () => (await attempts(a.id)).find((x) => x.outcome === 'voicemail' && x.call_status === 'completed'));
      const list = await request(h.baseUrl).get(`/admin/v1/tenants/${h.tenantId}/reminders?limit=100&from=2027-02-01&to=2027-04-01`).set('Authorization', `Bearer ${tok('tenant_admin')}`);
      const item = (list.body.items as { id: string; kind: string; outcome: string; attempts: { callSid: string; amdResult: string; outcome: string; callStatus: string }[] }[]).find((x) => x.id === res.body.id)!;
      assert.equal(item.kind, 'manual');
      assert.equal(item.outcome, 'voicemail');
      assert.equal(item.attempts[0]!.callSid, callsTo(a.phone)[0]!.sid);
      assert.equal(item.attempts[0]!.amdResult, 'machine_end_beep');
      assert.equal(item.attempts[0]!.callStatus, 'completed');
    });

    it('outside the window: 409 OUT_ERR_OUTSIDE_WINDOW and no row; ignoreWindow is for platform admins (403 otherwise) and keeps the legal hours', async () => {
      const a = await book();
      const before = await count(a.id);
      clock = new Date('2027-03-02T04:00:00Z'); // Monday 20:00 local: after the 19:00 window, before 21:00
      const late = await send(a.id, 'tenant_admin');
      assert.equal(late.status, 409);
      assert.equal(late.body.error.code, 'OUT_ERR_OUTSIDE_WINDOW');
      const forbidden = await send(a.id, 'tenant_admin', { ignoreWindow: true });
      assert.equal(forbidden.status, 403);
      assert.equal(await count(a.id), before, 'nothing written');
      clock = new Date('2027-03-02T06:00:00Z'); // 22:00 local: past the legal hours
      const night = await send(a.id, 'platform_admin', { ignoreWindow: true });
      assert.equal(night.status, 409);
      assert.equal(await count(a.id), before, 'nothing written');
      clock = new Date('2027-03-02T04:00:00Z');
      scenario = { answer: 'none', status: 'busy' };
      const ok = await send(a.id, 'platform_admin', { ignoreWindow: true });
      assert.equal(ok.status, 202, ok.text);
      await until('the call', async () => callsTo(a.phone)[0]);
    });

    it('a cancelled appointment or an unknown id is refused with nothing written', async () => {
      const a = await book();
      await h.p.scheduler.cancel({ tenantId: h.tenantId, appointmentId: a.id });
      const r = await send(a.id, 'tenant_admin');
      assert.equal(r.status, 409);
      assert.equal(r.body.error.code, 'OUT_ERR_APPOINTMENT_NOT_BOOKED');
      const bad = await send('not-a-uuid', 'tenant_admin');
      assert.equal(bad.status, 404);
      const extra = await send(a.id, 'tenant_admin', { ignoreWindow: 'yes' });
      assert.equal(extra.status, 400);
      assert.equal((await reminders(a.id)).filter((x) => x.status === 'scheduled').length, 0);
    });
  });

  describe('hostile callbacks', () => {
    it('a forged, unsigned or foreign-tenant callback is TEL_ERR_SIGNATURE and changes no row', async () => {
      const a = await book();
      scenario = null; // the call stays queued: nothing but our forged callbacks reach the app
      await runDue(a.id);
      const [att] = await until('the SID', async () => { const x = await attempts(a.id); return x[0]?.call_sid ? x : null; });
      const path = `/twilio/outbound/${h.tenantId}/${att!.id}/status`;
      const params = statusCallbackParams({ accountSid: TEST_ACCOUNT_SID, callSid: att!.call_sid!, from: DEMO_NUMBER, to: a.phone, callStatus: 'no-answer', sequenceNumber: 3 });
      const before = JSON.stringify(await attempts(a.id));
      const forged = await postWebhook({ baseUrl: h.baseUrl, publicUrl: PUBLIC_BASE_URL, path, params, authToken: 'not-the-real-token-000000' });
      const unsigned = await postWebhook({ baseUrl: h.baseUrl, publicUrl: PUBLIC_BASE_URL, path, params, authToken: TEST_AUTH_TOKEN, signature: null });
      // Signed for another URL (the signature covers the path that names tenant and attempt).
      const otherUrl = await postWebhook({ baseUrl: h.baseUrl, publicUrl: 'https://attacker.example', path, params, authToken: TEST_AUTH_TOKEN });
      const amd = await postWebhook({ baseUrl: h.baseUrl, publicUrl: PUBLIC_BASE_URL, path: path.replace(/status$/, 'amd'), params: amdCallbackParams({ accountSid: TEST_ACCOUNT_SID, callSid: att!.call_sid!, answeredBy: 'machine_end_beep' }), authToken: 'x'.repeat(32) });
      for (const r of [forged, unsigned, otherUrl, amd]) {
        assert.equal(r.status, 403, r.body);
        assert.equal((JSON.parse(r.body) as { error: { code: string } }).error.code, 'TEL_ERR_SIGNATURE');
      }
      assert.equal(JSON.stringify(await attempts(a.id)), before, 'no row changed');
      // Signed, but about another call than the attempt placed.
      const other = await postWebhook({ baseUrl: h.baseUrl, publicUrl: PUBLIC_BASE_URL, path, authToken: TEST_AUTH_TOKEN,
        params: { ...params, CallSid: 'CA' + 'f'.repeat(32) } });
      assert.equal(other.status, 400);
      assert.equal((JSON.parse(other.body) as { error: { code: string } }).error.code, 'OUT_ERR_CALLBACK_INVALID');
      assert.equal(JSON.stringify(await attempts(a.id)), before, 'no row changed');
      // A progress status (ringing) about another call: the same refusal, also when the status's own statement
      // looks the attempt up (no separate read before it).
      const otherRinging = await postWebhook({ baseUrl: h.baseUrl, publicUrl: PUBLIC_BASE_URL, path, authToken: TEST_AUTH_TOKEN,
        params: { ...params, CallStatus: 'ringing', CallSid: 'CA' + 'e'.repeat(32) } });
      assert.equal(otherRinging.status, 400, otherRinging.body);
      assert.equal((JSON.parse(otherRinging.body) as { error: { code: string } }).error.code, 'OUT_ERR_CALLBACK_INVALID');
      // Signed, for an attempt the tenant does not have (final and progress statuses alike).
      for (const callStatus of ['no-answer', 'ringing']) {
        const unknown = await postWebhook({ baseUrl: h.baseUrl, publicUrl: PUBLIC_BASE_URL, authToken: TEST_AUTH_TOKEN,
          path: `/twilio/outbound/${h.tenantId}/00000000-0000-4000-8000-000000000000/status`, params: { ...params, CallStatus: callStatus } });
        assert.equal(unknown.status, 404, unknown.body);
        assert.equal((JSON.parse(unknown.body) as { error: { code: string } }).error.code, 'OUT_ERR_ATTEMPT_NOT_FOUND');
      }
      assert.equal(JSON.stringify(await attempts(a.id)), before, 'no row changed');
      // The real, signed callback does change it.
      const real = await postWebhook({ baseUrl: h.baseUrl, publicUrl: PUBLIC_BASE_URL, path, params, authToken: TEST_AUTH_TOKEN });
      assert.equal(real.status, 204);
      assert.equal((await attempts(a.id))[0]!.outcome, 'no_answer');
    });

    it('a status that arrives late never moves the call back', async () => {
      const a = await book();
      scenario = { answer: 'none', status: 'busy' };
      await runDue(a.id);
      const [att] = await until('settled', async () => { const x = await attempts(a.id); return x[0]?.call_status === 'busy' ? x : null; });
      const late = await postWebhook({ baseUrl: h.baseUrl, publicUrl: PUBLIC_BASE_URL, path: `/twilio/outbound/${h.tenantId}/${att!.id}/status`, authToken: TEST_AUTH_TOKEN,
        params: statusCallbackParams({ accountSid: TEST_ACCOUNT_SID, callSid: att!.call_sid!, from: DEMO_NUMBER, to: a.phone, callStatus: 'ringing', sequenceNumber: 1 }) });
      assert.equal(late.status, 204);
      assert.equal((await attempts(a.id))[0]!.call_status, 'busy');
    });
  });
});
