// Issue 10 item 7: booking, move and cancel send one confirmation email each, with an .ics invite (stable UID,
// SEQUENCE per version, METHOD REQUEST/CANCEL), through the real SES v2 SDK and nodemailer against loopback fakes.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import type { Knex } from 'knex';
import { emailJobId, runEmailJob } from '../../core/jobs/email-job.js';
import { EMAIL_OUTBOX_TABLE, type EmailJobData } from '../../core/jobs/email-outbox.js';
import { isServiceLaneError } from '../../core/errors.js';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.js';
import { startFakeSes, type FakeSes } from '../fakes/ses.js';
import { startFakeSmtp, type FakeSmtp } from '../fakes/smtp.js';

const demo = JSON.parse(fs.readFileSync(new URL('../../tenants/examples/demo-dealership.json', import.meta.url), 'utf8')) as Record<string, unknown>;
const NOW = new Date('2027-03-01T12:00:00Z');
const ACCESS_KEY = 'AKIAEMAILTEST000001';

interface EmailRow { revision: number; kind: string; sequence: number; status: string; recipient: string | null; message_id: string | null; error_code: string | null }

const line = (ics: string, name: string) => ics.split('\r\n').find((l) => l.startsWith(`${name}:`))?.slice(name.length + 1);

describe('confirmation emails with calendar invites (issue 10, item 7)', function () {
  this.timeout(60_000);
  let t: TestPlatform;
  let ses: FakeSes;
  let smtp: FakeSmtp;
  let sesTenant: string;
  let n = 0;

  const sesConfig = (extra: Record<string, unknown> = {}) => ({
    ...demo, name: 'Valley Motors',
    emails: { replyTo: 'service@valley.example' },
    plugins: { ...(demo.plugins as object), notify: { plugin: 'notify-ses', credentialsRef: 'ses', settings: { region: 'us-east-1', from: 'Valley Motors <service@valley.example>', endpoint: ses.url } } },
    ...extra,
  });

  async function customer(tenantId: string, email: string | null): Promise<{ id: string; name: string }> {
    n++;
    const [row] = await t.p.tenants.withTenant(tenantId, (trx: Knex.Transaction) => trx('customers')
      .insert({ first_name: 'Jane', last_name: `Doe${n}`, phone: `+1408555${String(2000 + n)}`, email }).returning(['id']));
    return { id: (row as { id: string }).id, name: `Jane Doe${n}` };
  }
  // Weekdays after NOW (Monday 1 March 2027), one per booking so no two tests compete for a slot.
  const WEEKDAYS = [2, 3, 4, 5, 8, 9, 10, 11, 12, 15, 16, 17, 18, 19, 22, 23, 24, 25, 26];
  const day = () => `2027-03-${String(WEEKDAYS[n % WEEKDAYS.length]).padStart(2, '0')}`;
  async function book(tenantId: string, email: string | null, at = '10:00') {
    const c = await customer(tenantId, email);
    return t.p.scheduler.book({ tenantId, serviceType: 'oil_change', start: `${day()}T${at}:00-08:00`, now: NOW, customer: { id: c.id, name: c.name } });
  }
  const rows = (tenantId: string, appointmentId: string) => t.p.tenants.withTenant(tenantId, (trx: Knex.Transaction) =>
    trx('appointment_emails').where({ appointment_id: appointmentId }).orderBy('revision').select('*')) as Promise<EmailRow[]>;
  async function waitRows(tenantId: string, appointmentId: string, count: number): Promise<EmailRow[]> {
    const until = Date.now() + 20_000;
    for (;;) {
      const r = await rows(tenantId, appointmentId);
      if (r.length >= count) return r;
      if (Date.now() > until) throw new Error(`expected ${count} email rows, got ${r.length}`);
      await new Promise((res) => setTimeout(res, 25));
    }
  }
  const sentTo = (addr: string) => ses.received.filter((m) => m.to.includes(addr));

  before(async () => {
    ses = await startFakeSes({ accessKeyId: ACCESS_KEY });
    smtp = await startFakeSmtp();
    t = await startTestPlatform({ build: { emailOutbox: { pollMs: 100, retry: { attempts: 3, backoffMs: 100 } }, syncOutbox: { leaseMs: 2_000 } } });
    sesTenant = (await t.p.tenants.create({ name: 'Valley Motors', config: sesConfig() })).id;
    await t.p.tenants.putCredential(sesTenant, 'ses', { accessKeyId: ACCESS_KEY, secretAccessKey: 'email-test-secret-key-0123456789' });
  });
  after(async () => { await t?.close(); await ses?.close(); await smtp?.close(); });

  it('booking → one SES email with a METHOD:REQUEST, SEQUENCE:0 invite; move → SEQUENCE:1 same UID; cancel → METHOD:CANCEL', async () => {
    const addr = 'jane.booked@example.com';
    const a = await book(sesTenant, addr);
    const [first] = await waitRows(sesTenant, a.id, 1);
    assert.equal(first!.status, 'sent');
    assert.equal(first!.sequence, 0);
    let mails = sentTo(addr);
    assert.equal(mails.length, 1);
    const m0 = mails[0]!;
    assert.equal(m0.from, 'Valley Motors <service@valley.example>');
    assert.deepEqual(m0.replyTo, ['service@valley.example']);
    assert.equal(m0.accessKeyId, ACCESS_KEY);
    assert.equal(m0.messageId, first!.message_id);
    assert.match(m0.subject, /Oil Change/i);
    assert.match(m0.text, /Valley Motors/);
    assert.equal(m0.attachments.length, 1);
    assert.match(m0.attachments[0]!.contentType, /^text\/calendar; method=REQUEST/);
    const ics0 = m0.attachments[0]!.content;
    assert.equal(line(ics0, 'METHOD'), 'REQUEST');
    assert.equal(line(ics0, 'SEQUENCE'), '0');
    assert.equal(line(ics0, 'UID'), `${a.id}@servicelane`);
    assert.equal(line(ics0, 'DTSTART'), new Date(a.start).toISOString().replace(/[-:]/g, '').replace('.000', ''));
    assert.equal(line(ics0, 'STATUS'), 'CONFIRMED');

    const moved = await t.p.scheduler.reschedule({ tenantId: sesTenant, appointmentId: a.id, newStart: `${a.start.slice(0, 10)}T14:00:00-08:00`, now: NOW });
    await waitRows(sesTenant, a.id, 2);
    mails = sentTo(addr);
    assert.equal(mails.length, 2);
    const ics1 = mails[1]!.attachments[0]!.content;
    assert.equal(line(ics1, 'METHOD'), 'REQUEST');
    assert.equal(line(ics1, 'SEQUENCE'), '1');
    assert.equal(line(ics1, 'UID'), `${a.id}@servicelane`);
    assert.equal(line(ics1, 'DTSTART'), new Date(moved.start).toISOString().replace(/[-:]/g, '').replace('.000', ''));
    assert.match(mails[1]!.subject, /moved/);

    await t.p.scheduler.cancel({ tenantId: sesTenant, appointmentId: a.id });
    const all = await waitRows(sesTenant, a.id, 3);
    mails = sentTo(addr);
    assert.equal(mails.length, 3);
    const ics2 = mails[2]!.attachments[0]!.content;
    assert.equal(line(ics2, 'METHOD'), 'CANCEL');
    assert.equal(line(ics2, 'STATUS'), 'CANCELLED');
    assert.equal(line(ics2, 'SEQUENCE'), '2');
    assert.equal(line(ics2, 'UID'), `${a.id}@servicelane`);
    assert.match(mails[2]!.attachments[0]!.contentType, /method=CANCEL/);
    assert.deepEqual(all.map((r) => [r.kind, r.sequence, r.status]), [['booked', 0, 'sent'], ['moved', 1, 'sent'], ['cancelled', 2, 'sent']]);
    // Every intent closed by the job that recorded it.
    const open = await t.p.db(EMAIL_OUTBOX_TABLE).where({ tenant_id: sesTenant, appointment_id: a.id }).whereNull('done_at').count<{ count: string }[]>('id as count');
    assert.equal(Number(open[0]!.count), 0);
  });

  it('a duplicate job (re-enqueued or run again) sends nothing more', async () => {
    const addr = 'jane.dup@example.com';
    const a = await book(sesTenant, addr);
    await waitRows(sesTenant, a.id, 1);
    const data: EmailJobData = { tenantId: sesTenant, appointmentId: a.id, revision: 1, kind: 'booked' };
    const again = await runEmailJob({ tenants: t.p.tenants, registry: t.p.registry, logger: t.p.logger }, data, { id: 'x', attemptsMade: 0, attempts: 3 });
    assert.equal(again.outcome, 'duplicate');
    // The same deterministic job id is a no-op in the queue too.
    await t.p.jobs.enqueue('email', data, { jobId: emailJobId(data) });
    await t.p.jobs.waitIdle({ queues: ['email'] });
    assert.equal(sentTo(addr).length, 1);
    assert.equal((await rows(sesTenant, a.id)).length, 1);
  });

  it('an intent whose job was never queued (queue down at commit) is queued by the outbox loop and sent once', async () => {
    const addr = 'jane.outbox@example.com';
    const a = await book(sesTenant, addr);
    await waitRows(sesTenant, a.id, 1);
    // A committed change whose fast-path enqueue failed: the row exists, no job does.
    await t.p.tenants.withTenant(sesTenant, (trx: Knex.Transaction) => trx('appointments').where({ id: a.id }).update({ revision: 2 }));
    await t.p.db(EMAIL_OUTBOX_TABLE).insert({ tenant_id: sesTenant, appointment_id: a.id, revision: 2, kind: 'moved' });
    const all = await waitRows(sesTenant, a.id, 2);
    assert.deepEqual(all.map((r) => [r.revision, r.status]), [[1, 'sent'], [2, 'sent']]);
    const mails = sentTo(addr);
    assert.equal(mails.length, 2);
    assert.equal(line(mails[1]!.attachments[0]!.content, 'SEQUENCE'), '1');
    const row = await t.p.db(EMAIL_OUTBOX_TABLE).where({ tenant_id: sesTenant, appointment_id: a.id, revision: 2 }).first();
    assert.ok(row.done_at, 'the job closed the intent');
  });

  it('a customer without an email address gets nothing, and that is recorded', async () => {
    const before = ses.received.length;
    const a = await book(sesTenant, null);
    const [r] = await waitRows(sesTenant, a.id, 1);
    assert.equal(r!.status, 'no_address');
    assert.equal(r!.recipient, null);
    await t.p.jobs.waitIdle({ queues: ['email'] });
    assert.equal(ses.received.length, before);
  });

  it('an address SES rejects: JOB_ERR_EMAIL_REJECTED recorded, one request, no retries', async () => {
    const addr = 'unverified@example.com';
    ses.rejectAddress(addr);
    const requestsBefore = ses.requests.length;
    const a = await book(sesTenant, addr);
    const [r] = await waitRows(sesTenant, a.id, 1);
    assert.deepEqual([r!.status, r!.error_code, r!.recipient], ['rejected', 'JOB_ERR_EMAIL_REJECTED', addr]);
    const job = await t.p.jobs.waitForJob('email', emailJobId({ tenantId: sesTenant, appointmentId: a.id, revision: 1, kind: 'booked' }));
    assert.equal(job.state, 'failed');
    assert.equal(job.attemptsMade, 1);
    assert.equal(ses.requests.length - requestsBefore, 1);
    assert.equal(ses.requests.at(-1)!.status, 400);
    assert.equal(sentTo(addr).length, 0);
  });

  it('a throttle (429 TooManyRequestsException) is retried and the email goes out once', async () => {
    const addr = 'jane.throttled@example.com';
    ses.throttleNext(1);
    const a = await book(sesTenant, addr);
    const [r] = await waitRows(sesTenant, a.id, 1);
    assert.equal(r!.status, 'sent');
    assert.equal(sentTo(addr).length, 1);
    assert.ok(ses.requests.some((q) => q.status === 429), 'the first attempt was throttled');
  });

  it('a provider that stays down: JOB_ERR_EMAIL_SEND on each attempt, then recorded failed', async () => {
    const addr = 'jane.down@example.com';
    ses.setDown(true, 'error', 503);
    try {
      const a = await book(sesTenant, addr);
      const [r] = await waitRows(sesTenant, a.id, 1);
      assert.deepEqual([r!.status, r!.error_code], ['failed', 'JOB_ERR_EMAIL_SEND']);
      const job = await t.p.jobs.waitForJob('email', emailJobId({ tenantId: sesTenant, appointmentId: a.id, revision: 1, kind: 'booked' }));
      assert.equal(job.attemptsMade, 3);
    } finally { ses.setDown(false); }
    assert.equal(sentTo(addr).length, 0);
  });

  it('uses the tenant\'s own template', async () => {
    const id = (await t.p.tenants.create({ name: 'Template Motors', config: sesConfig({ name: 'Template Motors', emails: { templates: { booked: { subject: 'See you {{date}}, {{customerName}}!', text: 'Booked: {{serviceName}} at {{time}}. {{unknown}}' } } } }) })).id;
    await t.p.tenants.putCredential(id, 'ses', { accessKeyId: ACCESS_KEY, secretAccessKey: 'email-test-secret-key-0123456789' });
    const addr = 'jane.template@example.com';
    const a = await book(id, addr);
    await waitRows(id, a.id, 1);
    const m = sentTo(addr)[0]!;
    assert.match(m.subject, /^See you \w+day, March \d+, 2027, Jane Doe\d+!$/);
    assert.match(m.text, /^Booked: Oil Change at \d+:00 [AP]M PST\. \{\{unknown\}\}$/i);
    assert.equal(m.attachments[0]!.content.includes('ORGANIZER'), false, 'no replyTo → no ORGANIZER');
  });

  it('writes no intent when the tenant has no notify plugin or turned emails off', async () => {
    const plain = (await t.p.tenants.create({ name: 'Quiet Motors', config: demo })).id;
    const off = (await t.p.tenants.create({ name: 'Off Motors', config: sesConfig({ emails: { enabled: false } }) })).id;
    for (const id of [plain, off]) {
      const a = await book(id, 'jane.quiet@example.com');
      const intents = await t.p.db(EMAIL_OUTBOX_TABLE).where({ tenant_id: id, appointment_id: a.id });
      assert.equal(intents.length, 0);
    }
  });

  it('refuses a template that would break the schema (a missing subject)', async () => {
    await assert.rejects(t.p.tenants.create({ name: 'Bad Motors', config: sesConfig({ emails: { templates: { booked: { text: 'x' } } } }) }),
      (e: unknown) => isServiceLaneError(e) && e.code === 'TEN_ERR_CONFIG_INVALID');
  });

  describe('SMTP (nodemailer → smtp-server)', () => {
    let smtpTenant: string;
    before(async () => {
      smtpTenant = (await t.p.tenants.create({ name: 'Relay Motors', config: {
        ...demo, name: 'Relay Motors',
        plugins: { ...(demo.plugins as object), notify: { plugin: 'notify-smtp', settings: { host: smtp.host, port: smtp.port, allowPlaintext: true, from: 'service@relay.example' } } },
      } })).id;
    });

    it('booking sends MIME with a text/calendar; method=REQUEST part carrying SEQUENCE:0', async () => {
      const addr = 'jane.smtp@example.com';
      const a = await book(smtpTenant, addr);
      const [r] = await waitRows(smtpTenant, a.id, 1);
      assert.equal(r!.status, 'sent');
      const mail = smtp.received.filter((m) => m.to.includes(addr));
      assert.equal(mail.length, 1);
      const raw = mail[0]!.raw.replace(/=\r\n/g, '');
      assert.match(raw, /Content-Type: text\/calendar; charset=utf-8; method=REQUEST/i);
      assert.match(raw, /SEQUENCE:0/);
      assert.match(raw, new RegExp(`UID:${a.id}@servicelane`));
      assert.equal(mail[0]!.from, 'service@relay.example');
    });

    it('a mailbox the relay refuses (550) is recorded rejected and not retried', async () => {
      const addr = 'nobody@relay-refuses.example';
      smtp.rejectAddress(addr);
      const a = await book(smtpTenant, addr);
      const [r] = await waitRows(smtpTenant, a.id, 1);
      assert.deepEqual([r!.status, r!.error_code], ['rejected', 'JOB_ERR_EMAIL_REJECTED']);
      assert.equal(smtp.received.filter((m) => m.to.includes(addr)).length, 0);
    });
  });
});
