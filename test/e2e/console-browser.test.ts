// The web console in a real headless Chromium against the real server and the protocol-faithful fakes:
// sign-in and lockout, tenant onboarding by invitation, tenant isolation (URL tampering → 403 page), config
// field errors, the live view of a fake Twilio call, the call list and waterfall, and a browser test call
// from Chromium's fake microphone (reply transcript and barge-in). axe-core runs on every page.
import assert from 'node:assert/strict';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { callerSays, startCallHarness, until, voiceSession, agentIdle, type CallHarness } from '../helpers/call-harness.js';
import { createConsoleUser, TEST_PASSWORD } from '../helpers/console-users.js';
import { ARTIFACTS, checkPage, launchChromium, writeWav } from '../helpers/browser.js';

const LONG_ANSWER = 'Sure, we can do an oil change. We have openings tomorrow morning at eight, at nine thirty, and at eleven, '
  + 'and on Thursday afternoon at one, at two fifteen, and at three thirty. On Friday we have a few more, at eight fifteen, '
  + 'at ten, at noon, and at four in the afternoon, and Saturday morning is open from eight until about eleven thirty. '
  + 'If none of those work, I can also put you on the waiting list for an earlier slot. Which of those works best for you?';

describe('E2E: web console in headless Chromium', function () {
  this.timeout(180_000);
  let h: CallHarness;
  let browser: Browser;
  let base: string;
  let ctx: BrowserContext;
  let page: Page;

  const fresh = async () => {
    await ctx?.close();
    // bypassCSP only lets the test inject axe-core; the console's own CSP (script-src 'self') stays in force for the app.
    ctx = await browser.newContext({ viewport: { width: 1280, height: 900 }, bypassCSP: true });
    page = await ctx.newPage();
    page.on('dialog', (d) => { void d.accept(); });
  };
  const signIn = async (email: string, password = TEST_PASSWORD) => {
    await page.goto(`${base}/console/`);
    await page.fill('#login-email', email);
    await page.fill('#login-password', password);
    await page.click('button[type=submit]');
  };
  const heading = (text: string) => page.locator('h1', { hasText: text }).waitFor({ timeout: 15_000 });

  before(async () => {
    // 3 s of silence, 1 s of "speech", 3 s of silence; Chromium loops it, so the caller speaks every 7 s,
    // which lands inside the ~9 s long answer below (the barge-in case).
    const wav = path.join(ARTIFACTS, 'fake-mic.wav');
    writeWav(wav, [{ ms: 3000, hz: 0 }, { ms: 1000, hz: 300 }, { ms: 3000, hz: 0 }]);
    browser = await launchChromium({ fakeAudioWav: wav });
    h = await startCallHarness({ deepgram: { speak: { msPerChar: 20 } } });
    h.openai.respond((body) => {
      const said = String(body.messages.at(-1)?.content ?? '').toLowerCase();
      if (said.includes('oil change')) return { text: LONG_ANSWER, chunkDelayMs: 150, wordsPerChunk: 2 };
      if (said.includes('wait')) return { text: 'No problem, take your time.' };
      return { text: 'Happy to help with that.' };
    });
    // localhost, not 127.0.0.1: Chromium keeps the Secure session cookie on http://localhost (a secure context).
    base = `http://localhost:${(h.server.address() as AddressInfo).port}`;
    await createConsoleUser(h.p, { email: 'ops@platform.test', role: 'platform_admin' });
    await createConsoleUser(h.p, { email: 'svc@demo.test', role: 'tenant_admin', tenantId: h.tenantId });
    await createConsoleUser(h.p, { email: 'locked@demo.test', role: 'tenant_viewer', tenantId: h.tenantId });
  });
  after(async () => {
    await ctx?.close().catch(() => undefined);
    await browser?.close();
    await h?.close();
  });
  beforeEach(fresh);

  it('sign-in: a wrong password shows the error; five in a row lock the account, even for the right password', async () => {
    await page.goto(`${base}/console/`);
    await heading('Sign in');
    await checkPage(page, '01-sign-in');
    await signIn('locked@demo.test', 'wrong password 0');
    await page.locator('[role=alert]', { hasText: 'ACC_ERR_BAD_CREDENTIALS' }).waitFor();
    for (let i = 1; i < 5; i++) {
      await page.fill('#login-password', `wrong password ${i}`);
      const answered = page.waitForResponse((r) => r.url().endsWith('/console/api/session') && r.request().method() === 'POST');
      await page.click('button[type=submit]');
      await answered;
    }
    await page.locator('[role=alert]', { hasText: 'ACC_ERR_LOCKED' }).waitFor();
    await page.fill('#login-password', TEST_PASSWORD);
    const locked = page.waitForResponse((r) => r.url().endsWith('/console/api/session') && r.request().method() === 'POST');
    await page.click('button[type=submit]');
    assert.equal((await locked).status(), 423);
    await checkPage(page, '02-sign-in-locked');
    assert.equal(await page.locator('nav').count(), 0, 'still signed out');
  });

  it('a platform admin creates a tenant and invites its admin, who accepts, signs in, and gets the 403 page for another tenant', async () => {
    await signIn('ops@platform.test');
    await heading('Tenants');
    await checkPage(page, '03-platform-tenants');
    await page.fill('#t-name', 'Palo Alto Ford Service');
    await page.fill('#t-slug', 'palo-alto-ford');
    await page.click('button:has-text("Create tenant")');
    await page.locator('[role=status]', { hasText: 'Created Palo Alto Ford Service' }).waitFor();
    const created = await h.p.db('platform.tenants').where({ slug: 'palo-alto-ford' }).first('id', 'status');
    assert.equal(created.status, 'active');

    await page.click('nav >> text=Users');
    await heading('Users');
    await page.fill('#inv-email', 'manager@paloaltoford.test');
    await page.selectOption('#inv-role', 'tenant_admin');
    await page.selectOption('#inv-tenant', created.id);
    await page.click('button:has-text("Send invitation")');
    const link = (await page.locator('#invite-link').textContent({ timeout: 10_000 }))!;
    assert.match(link, /\/console\/#\/accept\/[A-Za-z0-9_-]{43}$/);
    await checkPage(page, '04-platform-users-invite');
    await page.click('nav >> text=Audit log');
    await heading('Audit log');
    await page.locator('td', { hasText: 'user.invite' }).first().waitFor();
    await checkPage(page, '05-platform-audit');

    await fresh();
    await page.goto(`${base}/console/#/accept/${link.split('/accept/')[1]}`);
    await heading('Accept your invitation');
    await page.locator('text=manager@paloaltoford.test').waitFor();
    await checkPage(page, '06-accept-invitation');
    await page.fill('#acc-password', 'a long enough password');
    await page.click('button:has-text("Create account")');
    await page.locator('text=Your account is ready').waitFor();

    await fresh();
    await signIn('manager@paloaltoford.test', 'a long enough password');
    await heading('Today');
    assert.ok(page.url().includes(`#/t/${created.id}`), `lands on its own tenant: ${page.url()}`);
    await checkPage(page, '07-dealership-home-new-tenant');

    // URL tampering: the demo tenant's calls, by id.
    await page.goto(`${base}/console/#/t/${h.tenantId}/calls`);
    await heading('403');
    await checkPage(page, '08-forbidden-other-tenant');
    const refused = await h.p.db('platform.audit_log').where({ action: 'forbidden', actor: 'manager@paloaltoford.test' }).first('tenant_id');
    assert.equal(refused?.tenant_id, h.tenantId);
  });

  it('an invalid configuration shows the error next to its field and saves nothing', async () => {
    const before = await h.p.db('platform.tenants').where({ id: h.tenantId }).first('config_hash');
    await signIn('svc@demo.test');
    await heading('Today');
    await page.goto(`${base}/console/#/t/${h.tenantId}/config`);
    await heading('Configuration');
    await page.locator('#f-agent-maxCallSec').waitFor();
    await checkPage(page, '09-configuration');
    await page.fill('#f-agent-maxCallSec', '5');
    await page.click('button:has-text("Save configuration")');
    const err = page.locator('#f-agent-maxCallSec-err');
    await err.waitFor();
    assert.match((await err.textContent())!, /must be >= 60/);
    assert.equal(await page.getAttribute('#f-agent-maxCallSec', 'aria-describedby'), 'f-agent-maxCallSec-err');
    await checkPage(page, '10-configuration-field-error');
    const after = await h.p.db('platform.tenants').where({ id: h.tenantId }).first('config_hash');
    assert.equal(after.config_hash, before.config_hash, 'nothing saved');
  });

  it('a fake inbound call appears in the live view with its transcript, transfer and hang up reach Twilio, then it is in the call list with its waterfall', async () => {
    await signIn('svc@demo.test');
    await heading('Today');
    await page.goto(`${base}/console/#/t/${h.tenantId}/live`);
    await heading('Live calls');
    await page.locator('text=No calls in progress').waitFor();
    await checkPage(page, '11-live-empty');

    const { callSid, call } = await h.placeInboundCall({ from: '+14086137788' });
    const session = await voiceSession(h.p, callSid);
    const card = page.locator(`[data-call-sid="${callSid}"]`);
    await card.waitFor({ timeout: 15_000 });
    await agentIdle(session, call);
    await callerSays({ h, session, call, transcript: 'Can you help me with my car?' });
    await card.locator('li.caller', { hasText: 'Can you help me with my car?' }).waitFor({ timeout: 15_000 });
    await card.locator('li.agent', { hasText: 'Happy to help with that.' }).waitFor({ timeout: 15_000 });
    await checkPage(page, '12-live-call-transcript');
    await agentIdle(session, call);
    // Call control goes through the tenant's telephony plugin to (fake) Twilio REST.
    const now = new Date();
    h.twilio.calls.set(callSid, {
      sid: callSid, to: '+14085550123', from: '+14086137788', status: 'in-progress', direction: 'inbound', dateCreated: now, dateUpdated: now,
      startTime: now, endTime: null, duration: null, answeredBy: null, params: {}, updates: [],
    });
    await card.locator('button', { hasText: 'Transfer to staff' }).click();
    await until(() => (h.twilio.calls.get(callSid)?.updates.length ?? 0) >= 1, 10_000, 'the transfer request at Twilio');
    assert.match(String(h.twilio.calls.get(callSid)!.updates[0]!.Twiml), /<Dial[^>]*>\+14085550100<\/Dial>/);
    await card.locator('button', { hasText: 'Hang up' }).click();
    await until(() => (h.twilio.calls.get(callSid)?.updates.length ?? 0) >= 2, 10_000, 'the hang-up request at Twilio');
    assert.equal(String(h.twilio.calls.get(callSid)!.updates[1]!.Status), 'completed');
    call.stop();
    await session.done;
    await card.locator('text=ended').waitFor({ timeout: 15_000 });

    await page.click('nav >> text=Calls');
    await heading('Calls');
    await checkPage(page, '13-calls-list');
    const row = await h.p.tenants.withTenant(h.tenantId, (trx) => trx('calls').where({ call_sid: callSid }).first('id'));
    await page.goto(`${base}/console/#/t/${h.tenantId}/calls/${row.id}`);
    await heading('Call detail');
    await page.locator('.transcript li.caller', { hasText: 'Can you help me with my car?' }).waitFor();
    const fig = page.locator('figure.turn').first();
    await fig.waitFor();
    assert.match((await fig.locator('figcaption').textContent())!, /Turn 1: STT final → first audio \d+ ms/);
    assert.equal(await fig.locator('.wf-bar').count(), 4, 'LLM first token, first clause, TTS first byte, first audio');
    await checkPage(page, '14-call-detail-waterfall');
  });

  it('a browser test call from the fake microphone reaches the agent: reply transcript, then a barge-in', async () => {
    // Each burst of the fake mic's tone is one caller utterance at the Deepgram fake.
    h.deepgram.listen.enqueueTranscripts(['I need an oil change', 'wait, hold on']);
    await signIn('svc@demo.test');
    await heading('Today');
    await page.goto(`${base}/console/#/t/${h.tenantId}/talk`);
    await heading('Talk to your agent');
    await checkPage(page, '15-talk-idle');
    await page.click('button:has-text("Start test call")');
    await page.locator('#talk-status', { hasText: 'connected' }).waitFor({ timeout: 15_000 });
    const t = page.locator('#talk-transcript');
    await t.locator('li.caller', { hasText: 'I need an oil change' }).waitFor({ timeout: 30_000 });
    // The long answer is still playing when the tone comes round again: the caller cuts in.
    await t.locator('li.event', { hasText: 'You cut in' }).waitFor({ timeout: 40_000 });
    await t.locator('li.agent', { hasText: 'No problem, take your time.' }).waitFor({ timeout: 30_000 });
    await checkPage(page, '16-talk-call-barge-in');
    const callSid = await until(() => h.p.voice.list().some((s) => s.callSid.startsWith('WB')), 5000, 'the browser call session').then(() => h.p.voice.list().find((s) => s.callSid.startsWith('WB'))!.callSid);
    await page.click('button:has-text("Hang up")');
    await until(() => h.p.voice.find(callSid) === undefined, 15_000, 'the browser call to end');
    const events = await h.p.tenants.withTenant(h.tenantId, async (trx) => {
      const c = await trx('calls').where({ call_sid: callSid }).first('id', 'to_number', 'ended_at');
      return { call: c, kinds: (await trx('call_events').where({ call_id: c.id }).select('kind', 'payload')) as { kind: string; payload: Record<string, unknown> }[] };
    });
    assert.equal(events.call.to_number, 'browser');
    assert.ok(events.call.ended_at, 'the call row was closed');
    assert.ok(events.kinds.some((e) => e.kind === 'barge_in' && e.payload.kind === 'speech'), 'a speech barge-in was recorded');
    assert.ok(events.kinds.some((e) => e.kind === 'utterance' && e.payload.role === 'agent' && e.payload.interrupted === true), 'the cut answer was recorded');
  });

  it('the remaining dealership pages render without serious accessibility violations', async () => {
    await signIn('svc@demo.test');
    await heading('Today');
    await page.locator('h2', { hasText: 'Needs attention' }).waitFor();
    // The live-view call and the browser call earlier in this suite, counted on the dealership's calendar day.
    assert.ok(Number(await page.locator('#calls-today').textContent()) >= 2, 'today\'s calls are counted');
    await checkPage(page, '17-dealership-home');
    for (const [route, title, shot] of [['appointments', 'Appointments', '18-appointments'], ['customers', 'Customers', '19-customers'], ['callbacks', 'Callbacks', '20-callbacks'], ['users', 'Users', '21-tenant-staff']] as const) {
      await page.goto(`${base}/console/#/t/${h.tenantId}/${route}`);
      await heading(title);
      await page.waitForLoadState('networkidle').catch(() => undefined);
      await checkPage(page, shot);
    }
  });
});
