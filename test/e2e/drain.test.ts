// Draining a voice process, for real: the server runs as its own process (ROLE=voice, exactly core/main.ts),
// the providers are the protocol-faithful fakes in this process, and Twilio is played by signed webhooks and the
// fake media-stream caller. On SIGTERM the pod must leave the load balancer at once (/readyz 503), refuse new media
// sockets, let every live call finish as it would have, and exit 0 when the last one ends — or, at
// DRAIN_TIMEOUT_MS, play the wrap-up line, hang up over the Twilio API and exit 0 all the same.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import WebSocket from 'ws';
import { buildPlatform } from '../../core/app.js';
import { loadConfig } from '../../core/config.js';
import { silentLogger } from '../../core/observability/logger.js';
import { DEMO_NUMBER, seedDemo } from '../../core/tenancy/seed.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { parseStreamTwiml } from '../helpers/call-harness.js';
import { descendants, freePort, stillAlive, stopChild, waitExit, waitReady } from '../helpers/process.js';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { startFakeDeepgram, type FakeDeepgram } from '../fakes/deepgram.js';
import { startFakeTwilioRest, type FakeTwilioRest } from '../fakes/twilio-rest.js';
import { connectMediaStream, type FakeMediaCall } from '../fakes/twilio-media.js';
import { newSid, postWebhook, voiceWebhookParams } from '../fakes/twilio-webhooks.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const PUBLIC_BASE_URL = 'https://servicelane.test';
const ACCOUNT_SID = 'AC' + 'd1a2b3c4'.repeat(4);
const AUTH_TOKEN = 'twilio-auth-token-for-drain-0001';
const SECRETS = { ADMIN_JWT_SECRET: 'drain-test-secret-drain-test-secret-0123', CREDENTIALS_KEY: Buffer.alloc(32, 5).toString('base64') };
const CALLERS = ['+14086137788', '+14085550142', '+14085550177', '+16505550199'];

interface Fakes { openai: FakeOpenAI; deepgram: FakeDeepgram; twilio: FakeTwilioRest }

interface VoiceProcess {
  child: ChildProcess;
  port: number;
  output: () => string;
  /** What Twilio does for one inbound call: signed webhook, TwiML, media socket with the minted token. */
  call(from: string): Promise<{ callSid: string; call: FakeMediaCall }>;
}

/** Starts `command` (core/main.ts under tsx, or npm start) with ROLE=voice against the fakes and `db`. */
async function startVoiceProcess(o: { f: Fakes; db: TestDatabase; command: string[]; env?: Record<string, string> }): Promise<VoiceProcess> {
  const port = await freePort();
  const env: Record<string, string> = {
    PATH: `${path.dirname(process.execPath)}:${process.env.PATH ?? '/usr/bin:/bin'}`, HOME: process.env.HOME ?? '/tmp',
    ROLE: 'voice', PORT: String(port), DATABASE_URL: o.db.url, PUBLIC_BASE_URL, LOG_LEVEL: 'info', ...SECRETS,
    OPENAI_BASE_URL: `${o.f.openai.url}/v1`, OPENAI_API_KEY: 'sk-test-openai',
    DEEPGRAM_BASE_URL: o.f.deepgram.url, DEEPGRAM_API_KEY: 'dg-test-key',
    TWILIO_ACCOUNT_SID: ACCOUNT_SID, TWILIO_AUTH_TOKEN: AUTH_TOKEN, TWILIO_API_BASE_URL: o.f.twilio.url,
    // The fakes listen on loopback, which the plugin egress policy refuses unless the operator allows it.
    PLUGIN_EGRESS_ALLOW: '127.0.0.0/8,::1',
    ...o.env,
  };
  const child = spawn(o.command[0]!, o.command.slice(1), { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => { output += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { output += d.toString(); });
  await waitReady({ child, url: `http://127.0.0.1:${port}/readyz`, ms: 60_000, output: () => output });
  const baseUrl = `http://127.0.0.1:${port}`;
  return {
    child, port, output: () => output,
    call: async (from) => {
      const callSid = newSid('CA');
      const res = await postWebhook({
        baseUrl, publicUrl: PUBLIC_BASE_URL, path: '/twilio/voice', authToken: AUTH_TOKEN,
        params: voiceWebhookParams({ accountSid: ACCOUNT_SID, callSid, from, to: DEMO_NUMBER }),
      });
      assert.equal(res.status, 200, res.body);
      const stream = parseStreamTwiml(res.body);
      assert.ok(stream, res.body);
      const u = new URL(stream.url);
      const call = await connectMediaStream({
        url: `ws://127.0.0.1:${port}${u.pathname}${u.search}`, callSid, accountSid: ACCOUNT_SID, customParameters: { callToken: stream.callToken },
      });
      return { callSid, call };
    },
  };
}

/** The greeting has played to the caller: its mark came back uncleared. */
const greeted = (c: FakeMediaCall) => c.waitFor((x) => x.marks.some((m) => m.name.startsWith('g') && !m.cleared), 30_000, 'the greeting to play');

/** How each call ended, from the tenant's own tables: call_sid → the `call_end` event's reason. */
async function endReasons(db: TestDatabase): Promise<Map<string, { reason: string; ended: boolean }>> {
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  try {
    const { rows: [t] } = await c.query<{ schema_name: string }>("select schema_name from platform.tenants where slug = 'demo'");
    assert.match(t!.schema_name, /^t_[0-9a-z]+$/);
    const { rows } = await c.query<{ call_sid: string; ended_at: Date | null; reason: string | null }>(
      `select c.call_sid, c.ended_at, e.payload->>'reason' as reason from "${t!.schema_name}".calls c
       left join "${t!.schema_name}".call_events e on e.call_id = c.id and e.kind = 'call_end'`);
    return new Map(rows.map((r) => [r.call_sid, { reason: String(r.reason), ended: r.ended_at !== null }]));
  } finally { await c.end(); }
}

/** A media socket opened now: the HTTP status of a refused upgrade, or 101 when it was accepted. */
function tryMediaUpgrade(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/twilio/media`);
    ws.once('open', () => { ws.close(); resolve(101); });
    ws.once('unexpected-response', (_req, res) => { resolve(res.statusCode ?? 0); ws.terminate(); });
    ws.once('error', (e) => reject(e));
  });
}

const hangUps = (twilio: FakeTwilioRest) => new Set(twilio.requests
  .filter((r) => r.method === 'POST' && /\/Calls\/CA\w+\.json$/.test(r.path) && (r.form as Record<string, string> | undefined)?.Status === 'completed')
  .map((r) => /\/Calls\/(CA\w+)\.json$/.exec(r.path)![1]!));

describe('drain on SIGTERM (e2e: a real voice process)', function () {
  this.timeout(300_000);
  let f: Fakes;
  let db: TestDatabase;
  let vp: VoiceProcess | undefined;

  before(async () => {
    f = {
      openai: await startFakeOpenAI({ apiKey: 'sk-test-openai' }),
      deepgram: await startFakeDeepgram({ apiKey: 'dg-test-key', speak: { msPerChar: 4 } }),
      twilio: await startFakeTwilioRest({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN }),
    };
    f.twilio.addNumber(DEMO_NUMBER);
    // A caller who says goodbye gets a goodbye and the agent hangs up (end_call): a call that ends normally.
    f.openai.respond((body) => {
      const last = body.messages.at(-1)!;
      if (last.role === 'user' && String(last.content).toLowerCase().includes('bye')) {
        return { text: 'Thanks for calling. Goodbye!', toolCalls: [{ name: 'end_call', arguments: {} }] };
      }
      return { text: 'Sure, how can I help?' };
    });
    db = await createTestDatabase('drain');
    // The dealership and its number, written the way `npm start` seeds the demo (the voice role never seeds).
    const p = await buildPlatform(loadConfig({ ROLE: 'voice', DATABASE_URL: db.url, LOG_LEVEL: 'silent', ...SECRETS }), { logger: silentLogger });
    try { await seedDemo(p); } finally { await p.close(); }
  });

  afterEach(async () => { await stopChild(vp?.child); vp = undefined; });

  after(async () => {
    await Promise.all([f?.openai.close(), f?.deepgram.close(), f?.twilio.close()]);
    await db?.drop();
  });

  it('20 live calls: /readyz 503 at once, new media sockets refused, every call finishes normally, exit 0 after the last', async () => {
    vp = await startVoiceProcess({ f, db, command: [process.execPath, '--import', 'tsx', 'core/main.ts'] });
    const calls = await Promise.all(Array.from({ length: 20 }, (_, i) => vp!.call(CALLERS[i % CALLERS.length]!)));
    await Promise.all(calls.map((c) => greeted(c.call)));
    assert.equal(hangUps(f.twilio).size, 0);

    const tree = descendants(vp.child.pid!);
    vp.child.kill('SIGTERM');
    let status = 0;
    while ((status = (await fetch(`http://127.0.0.1:${vp.port}/readyz`)).status) === 200) { /* the signal is on its way */ }
    assert.equal(status, 503);
    assert.deepEqual(calls.filter((c) => c.call.closed), [], 'readiness flipped while every call was still live');
    assert.equal(await tryMediaUpgrade(vp.port), 503, 'a new media socket is refused during the drain');

    // 19 callers say goodbye; the process must wait for the 20th.
    const [last, ...first] = calls;
    f.deepgram.listen.enqueueTranscripts(first.map(() => 'Okay, thanks, bye.'));
    await Promise.all(first.map((c) => c.call.say(800)));
    const closes = await Promise.all(first.map((c) => c.call.waitForClose(60_000)));
    assert.deepEqual(closes.map((c) => c.code), first.map(() => 1000));
    assert.equal(vp.child.exitCode, null, 'still running while a call is live');
    assert.equal(last!.call.closed, null);
    assert.equal((await fetch(`http://127.0.0.1:${vp.port}/readyz`)).status, 503, 'still serving, still not ready');

    f.deepgram.listen.enqueueTranscripts(['Thanks, bye.']);
    await last!.call.say(800);
    assert.equal((await last!.call.waitForClose(60_000)).code, 1000);
    const exit = await waitExit(vp.child, 60_000);
    assert.deepEqual(exit, { code: 0, signal: null }, vp.output().slice(-3000));

    const reasons = await endReasons(db);
    for (const c of calls) assert.deepEqual(reasons.get(c.callSid), { reason: 'end_call', ended: true }, `call ${c.callSid} ended normally`);
    assert.deepEqual([...hangUps(f.twilio)].sort(), calls.map((c) => c.callSid).sort(), 'the agent hung up each call itself');
    assert.doesNotMatch(vp.output(), /grace limit reached/);
    assert.match(vp.output(), /"msg":"servicelane stopped"/);
    assert.deepEqual(stillAlive(tree), []);
  });

  it('at DRAIN_TIMEOUT_MS (via npm start, SIGTERM to npm): live calls hear the wrap-up line, are hung up, and the process exits 0', async () => {
    vp = await startVoiceProcess({ f, db, command: ['npm', 'start'], env: { DRAIN_TIMEOUT_MS: '1500' } });
    const calls = await Promise.all(CALLERS.slice(0, 3).map((from) => vp!.call(from)));
    await Promise.all(calls.map((c) => greeted(c.call)));
    const lineMarksBefore = calls.map((c) => c.call.marks.filter((m) => m.name.startsWith('l')).length);
    const tree = descendants(vp.child.pid!);

    vp.child.kill('SIGTERM'); // npm's pid: npm forwards it to node (the script execs node)
    const closes = await Promise.all(calls.map((c) => c.call.waitForClose(60_000)));
    assert.deepEqual(closes.map((c) => c.code), [1000, 1000, 1000]);
    calls.forEach((c, i) => {
      const lines = c.call.marks.filter((m) => m.name.startsWith('l'));
      assert.equal(lines.length, lineMarksBefore[i]! + 1, 'one scripted line played after the signal');
      assert.equal(lines.at(-1)!.cleared, false, 'the wrap-up line played to its end before the hang-up');
    });
    const exit = await waitExit(vp.child, 60_000);
    assert.deepEqual(exit, { code: 0, signal: null }, vp.output().slice(-3000));
    const reasons = await endReasons(db);
    for (const c of calls) assert.deepEqual(reasons.get(c.callSid), { reason: 'drain', ended: true });
    const hung = hangUps(f.twilio);
    for (const c of calls) assert.ok(hung.has(c.callSid), `hung up ${c.callSid} over the Twilio API`);
    assert.match(vp.output(), /grace limit reached/);
    assert.deepEqual(stillAlive(tree), [], 'node (and anything it started) exited with npm');
  });
});
