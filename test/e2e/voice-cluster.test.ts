// The voice role on several cores, for real: core/main.ts with ROLE=voice and VOICE_WORKERS=2 as its own
// process (a supervisor and two workers on one PORT), the providers as the protocol-faithful fakes in this
// process, Twilio played by signed webhooks and the fake media-stream caller. Calls must land on both workers,
// and SIGTERM drains both and stops the supervisor with exit 0.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildPlatform } from '../../core/app.js';
import { loadConfig } from '../../core/config.js';
import { silentLogger } from '../../core/observability/logger.js';
import { DEMO_NUMBER, seedDemo } from '../../core/tenancy/seed.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { parseStreamTwiml } from '../helpers/call-harness.js';
import { freePort, stopChild, waitExit, waitReady } from '../helpers/process.js';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { startFakeDeepgram, type FakeDeepgram } from '../fakes/deepgram.js';
import { startFakeTwilioRest, type FakeTwilioRest } from '../fakes/twilio-rest.js';
import { connectMediaStream, type FakeMediaCall } from '../fakes/twilio-media.js';
import { newSid, postWebhook, voiceWebhookParams } from '../fakes/twilio-webhooks.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const PUBLIC_BASE_URL = 'https://servicelane.test';
const ACCOUNT_SID = 'AC' + 'c1d2e3f4'.repeat(4);
const AUTH_TOKEN = 'twilio-auth-token-for-cluster-01';
const SECRETS = { ADMIN_JWT_SECRET: 'cluster-test-secret-cluster-test-secret-01', CREDENTIALS_KEY: Buffer.alloc(32, 6).toString('base64') };

describe('VOICE_WORKERS: the voice role on several cores (e2e)', function () {
  this.timeout(180_000);
  let openai: FakeOpenAI;
  let deepgram: FakeDeepgram;
  let twilio: FakeTwilioRest;
  let db: TestDatabase;
  let child: ChildProcess | undefined;

  before(async () => {
    openai = await startFakeOpenAI({ apiKey: 'sk-test-openai', defaultText: 'Sure.' });
    deepgram = await startFakeDeepgram({ apiKey: 'dg-test-key', speak: { msPerChar: 4 } });
    twilio = await startFakeTwilioRest({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN });
    twilio.addNumber(DEMO_NUMBER);
    db = await createTestDatabase('vcluster');
    const p = await buildPlatform(loadConfig({ ROLE: 'voice', DATABASE_URL: db.url, LOG_LEVEL: 'silent', ...SECRETS }), { logger: silentLogger });
    try { await seedDemo(p); } finally { await p.close(); }
  });
  after(async () => {
    await stopChild(child);
    await Promise.all([openai?.close(), deepgram?.close(), twilio?.close()]);
    await db?.drop();
  });

  it('two workers both take calls, and SIGTERM drains both and stops the supervisor with exit 0', async () => {
    const port = await freePort();
    child = spawn(process.execPath, ['--import', 'tsx', 'core/main.ts'], {
      cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        PATH: `${path.dirname(process.execPath)}:${process.env.PATH ?? '/usr/bin:/bin'}`, HOME: process.env.HOME ?? '/tmp',
        ROLE: 'voice', VOICE_WORKERS: '2', PORT: String(port), DATABASE_URL: db.url, PUBLIC_BASE_URL, LOG_LEVEL: 'info', ...SECRETS,
        OPENAI_BASE_URL: `${openai.url}/v1`, OPENAI_API_KEY: 'sk-test-openai', DEEPGRAM_BASE_URL: deepgram.url, DEEPGRAM_API_KEY: 'dg-test-key',
        TWILIO_ACCOUNT_SID: ACCOUNT_SID, TWILIO_AUTH_TOKEN: AUTH_TOKEN, TWILIO_API_BASE_URL: twilio.url,
        PLUGIN_EGRESS_ALLOW: '127.0.0.0/8,::1',
      },
    });
    let output = '';
    child.stdout!.on('data', (d: Buffer) => { output += d.toString(); });
    child.stderr!.on('data', (d: Buffer) => { output += d.toString(); });
    await waitReady({ child, url: `http://127.0.0.1:${port}/readyz`, ms: 90_000, output: () => output });
    // Both workers up (each logs its start) before the calls, so the primary can hand connections to either.
    const started = () => output.split('\n').filter((l) => l.includes('"servicelane started"')).length;
    const until = Date.now() + 90_000;
    while (started() < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    assert.equal(started(), 2, output.slice(-2000));

    // Tokens first (webhooks), then the media sockets one after another: the primary hands each new connection
    // to the next worker, so consecutive sockets alternate.
    const baseUrl = `http://127.0.0.1:${port}`;
    const tickets: Array<{ callSid: string; token: string }> = [];
    for (let i = 0; i < 6; i++) {
      const callSid = newSid('CA');
      const res = await postWebhook({ baseUrl, publicUrl: PUBLIC_BASE_URL, path: '/twilio/voice', authToken: AUTH_TOKEN, params: voiceWebhookParams({ accountSid: ACCOUNT_SID, callSid, from: '+14086137788', to: DEMO_NUMBER }) });
      assert.equal(res.status, 200, res.body);
      tickets.push({ callSid, token: parseStreamTwiml(res.body)!.callToken });
    }
    const calls: FakeMediaCall[] = [];
    for (const t of tickets) {
      calls.push(await connectMediaStream({ url: `ws://127.0.0.1:${port}/twilio/media`, callSid: t.callSid, accountSid: ACCOUNT_SID, customParameters: { callToken: t.token } }));
    }
    await Promise.all(calls.map((c) => c.waitFor((x) => x.marks.some((m) => m.name.startsWith('g') && !m.cleared), 30_000, 'greeting')));
    for (const c of calls) c.stop();

    // Every line carries the worker that wrote it; the session's "call ended" names the worker that ran the call
    // (its webhook may have been answered by the other one: any worker serves any request).
    const byCall = new Map<string, Set<number>>();
    const deadline = Date.now() + 30_000;
    const ended = () => tickets.every((t) => output.includes(t.callSid) && output.split('\n').some((l) => l.includes(t.callSid) && l.includes('"call ended"')));
    while (!ended() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    for (const line of output.split('\n')) {
      if (!line.startsWith('{')) continue;
      const j = JSON.parse(line) as { callSid?: string; worker?: number; msg?: string };
      if (j.callSid && j.worker !== undefined && j.msg === 'call ended') byCall.set(j.callSid, (byCall.get(j.callSid) ?? new Set()).add(j.worker));
    }
    for (const t of tickets) assert.equal(byCall.get(t.callSid)?.size, 1, `call ${t.callSid} ended once, on one worker`);
    const workers = new Set(tickets.map((t) => [...byCall.get(t.callSid)!][0]));
    assert.equal(workers.size, 2, `calls spread over both workers: ${JSON.stringify([...byCall.entries()].map(([k, v]) => [k, [...v]]))}`);

    child.kill('SIGTERM');
    const exit = await waitExit(child, 60_000);
    assert.deepEqual(exit, { code: 0, signal: null }, output.slice(-2000));
    assert.match(output, /every voice worker has stopped/);
    child = undefined;
  });
});
