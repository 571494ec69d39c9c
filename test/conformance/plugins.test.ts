// Runs EVERY plugin in plugins/index.ts through its kind's conformance suite. A registered plugin without a
// harness here fails the first test, so no plugin escapes conformance.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import type { Knex } from 'knex';
import { firstPartyPlugins } from '../../plugins/index.js';
import type { FaultHooks, VendorFault } from '../../core/sdk/testing/index.js';
import { describePluginConformance, type AnyHarness } from './suites.js';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.js';
import { createTenantData } from '../../core/repos/index.js';
import { startFakeTwenty } from '../fakes/twenty.js';
import { startFakeSalesforce } from '../fakes/salesforce.js';
import { startFakeAttio } from '../fakes/attio.js';
import { startFakeElevenLabs } from '../fakes/elevenlabs.js';
import { startFakeNhtsa } from '../fakes/nhtsa.js';
import { startFakeGoogle } from '../fakes/google.js';
import { startFakeOpenAI, type ChatRequestBody, type FakeOpenAI, type FakeTurn } from '../fakes/openai.js';
import { startFakeDeepgram } from '../fakes/deepgram.js';
import { startFakeTwilioRest } from '../fakes/twilio-rest.js';
import { startFakeSes } from '../fakes/ses.js';
import { startFakeSmtp } from '../fakes/smtp.js';
import { silence, tone } from '../fakes/mulaw.js';
import type { DownMode } from '../fakes/http-util.js';

const demo = JSON.parse(fs.readFileSync(new URL('../../tenants/examples/demo-dealership.json', import.meta.url), 'utf8')) as Record<string, unknown>;

// ---- shared backing services -----------------------------------------------------------------------

let platform: Promise<TestPlatform> | undefined;
const getPlatform = () => (platform ??= startTestPlatform());

/** A fresh tenant on the shared test platform: builtin plugins reach its schema through core's repositories (ctx.tenantData). */
async function tenantContext() {
  const tp = await getPlatform();
  const t = await tp.p.tenants.create({ name: 'Conformance Motors', config: demo });
  const tenantDb = <T>(fn: (trx: Knex.Transaction) => Promise<T>) => tp.p.tenants.withTenant(t.id, fn);
  return { tenantId: t.id, tenantDb, tenantData: createTenantData(tenantDb) };
}

/** Fault switches for fakes built on test/fakes/http-util FaultInjector (`setDown`). */
function downFaults(fake: { setDown(down: boolean, mode?: DownMode, status?: number): void }): FaultHooks {
  const status: Record<Exclude<VendorFault, 'timeout'>, number> = { auth: 401, rate_limit: 429, upstream: 503 };
  return {
    supported: ['auth', 'rate_limit', 'upstream', 'timeout'],
    set: (f) => (f === 'timeout' ? fake.setDown(true, 'timeout') : fake.setDown(true, 'error', status[f])),
    clear: () => fake.setDown(false),
  };
}

// ---- LLM fake script -------------------------------------------------------------------------------

function lastUserText(body: ChatRequestBody): string {
  const last = [...body.messages].reverse().find((m) => m.role === 'user');
  return typeof last?.content === 'string' ? last.content : '';
}

const SLOW_STORY = Array.from({ length: 40 }, (_, i) => `word${i}`).join(' ');

/** Text by default; a call to the first offered tool when the user message says TOOL; a slow stream for SLOW. */
function llmScript(body: ChatRequestBody): FakeTurn {
  const tool = (body.tools?.[0] as { function?: { name?: string } } | undefined)?.function?.name;
  if (tool && lastUserText(body).includes('TOOL')) return { toolCalls: [{ name: tool, arguments: { city: 'Sunnyvale' } }] };
  if (lastUserText(body).includes('SLOW')) return { text: SLOW_STORY, wordsPerChunk: 1, chunkDelayMs: 20 };
  return { text: 'Hello from the fake model, nice to meet you.' };
}

function openAiFaults(fake: FakeOpenAI): FaultHooks {
  const turn: Record<VendorFault, FakeTurn> = {
    auth: { error: { status: 401, message: 'Incorrect API key provided', code: 'invalid_api_key' } },
    rate_limit: { error: { status: 429, message: 'Rate limit reached' } },
    upstream: { error: { status: 500, message: 'The server had an error' } },
    timeout: { text: 'too late', firstTokenDelayMs: 30_000 },
  };
  return {
    supported: ['auth', 'rate_limit', 'upstream', 'timeout'],
    set: (f) => fake.respond(() => turn[f]),
    clear: () => fake.respond(llmScript),
  };
}

// ---- harnesses, one per registered plugin -----------------------------------------------------------

const TWILIO_SID = `AC${'c0ffee00'.repeat(4)}`;
const TWILIO_TOKEN = 'conformance-auth-token-0123';
const OPENAI_KEY = 'sk-conformance';
const DEEPGRAM_KEY = 'dg-conformance';

// Keyed by plugin id; each entry is used with its kind's suite.
const HARNESSES: Record<string, AnyHarness> = {
  'crm-builtin': {
    settings: {}, credentials: {},
    async setup() {
      const { tenantId, tenantData } = await tenantContext();
      return { ctxOverrides: { tenantId, tenantData }, cleanup: async () => {} };
    },
  },
  'crm-twenty': {
    settings: {}, credentials: { apiKey: 'twenty-test-key', baseUrl: 'http://127.0.0.1:9' },
    async setup() {
      const fake = await startFakeTwenty({ rateLimit: false });
      return { credentials: { apiKey: 'twenty-test-key', baseUrl: fake.url }, faults: downFaults(fake), cleanup: () => fake.close() };
    },
  },
  'crm-salesforce': {
    settings: {}, credentials: { clientId: 'sf-client-id', clientSecret: 'sf-client-secret', refreshToken: 'sf-refresh-token', loginUrl: 'http://127.0.0.1:9' },
    fixtures: { unknownId: '003000000000000AAA' },
    async setup() {
      const fake = await startFakeSalesforce();
      return { credentials: { clientId: 'sf-client-id', clientSecret: 'sf-client-secret', refreshToken: 'sf-refresh-token', loginUrl: fake.url }, faults: downFaults(fake), cleanup: () => fake.close() };
    },
  },
  'crm-attio': {
    settings: {}, credentials: { apiKey: 'attio-test-key-0123456789', baseUrl: 'http://127.0.0.1:9' },
    async setup() {
      const fake = await startFakeAttio({ apiKey: 'attio-test-key-0123456789' });
      return { credentials: { apiKey: 'attio-test-key-0123456789', baseUrl: fake.url }, faults: downFaults(fake), cleanup: () => fake.close() };
    },
  },
  'tts-elevenlabs': {
    settings: {}, credentials: { apiKey: 'el-test-key' },
    async setup() {
      const fake = await startFakeElevenLabs({ apiKey: 'el-test-key', msPerChar: 5 });
      const status: Record<Exclude<VendorFault, 'timeout'>, number> = { auth: 401, rate_limit: 429, upstream: 500 };
      return {
        settings: { baseUrl: fake.url },
        faults: {
          supported: ['auth', 'rate_limit', 'upstream'],
          set: (f) => fake.refuseUpgrades(status[f as Exclude<VendorFault, 'timeout'>]),
          clear: () => fake.refuseUpgrades(null),
        },
        cleanup: () => fake.close(),
      };
    },
  },
  'calendar-builtin': {
    settings: {}, credentials: {},
    async setup() {
      const { tenantId, tenantDb, tenantData } = await tenantContext();
      // What core writes when it books: the appointments row is the built-in calendar's record.
      const seedBusy = async (b: { resourceId: string; start: string; end: string }) => {
        await tenantDb((trx) => trx('appointments').insert({ customer_id: 'conformance', resource_id: b.resourceId, service_type: 'oil_change', starts_at: b.start, ends_at: b.end }));
      };
      return { ctxOverrides: { tenantId, tenantData }, fixtures: { seedBusy }, cleanup: async () => {} };
    },
  },
  'calendar-google': {
    settings: {}, credentials: { clientId: 'conformance-client', clientSecret: 'conformance-secret', refreshToken: 'fake-refresh-token' },
    async setup() {
      const fake = await startFakeGoogle();
      const seedBusy = async (b: { start: string; end: string }) => {
        fake.seedEvent('primary', { summary: 'Existing booking', start: { dateTime: b.start }, end: { dateTime: b.end } });
      };
      return {
        settings: { apiRootUrl: `${fake.url}/`, tokenUrl: `${fake.url}/token` },
        fixtures: { seedBusy }, faults: downFaults(fake), cleanup: () => fake.close(),
      };
    },
  },
  'vehicle-nhtsa': {
    settings: {}, credentials: {},
    async setup() {
      const fake = await startFakeNhtsa();
      return { settings: { baseUrl: fake.url }, faults: downFaults(fake), cleanup: () => fake.close() };
    },
  },
  'notify-log': {
    settings: {}, credentials: {},
    async setup() {
      return { cleanup: async () => {} };
    },
  },
  'notify-ses': {
    settings: { region: 'us-east-1', from: 'Conformance Motors <service@conformance.example>' },
    credentials: { accessKeyId: 'AKIACONFORMANCE0001', secretAccessKey: 'conformance-secret-key-0123456789' },
    async setup() {
      const fake = await startFakeSes({ accessKeyId: 'AKIACONFORMANCE0001' });
      return { settings: { region: 'us-east-1', from: 'Conformance Motors <service@conformance.example>', endpoint: fake.url }, faults: downFaults(fake), cleanup: () => fake.close() };
    },
  },
  'notify-smtp': {
    settings: { host: '127.0.0.1', from: 'service@conformance.example' },
    credentials: { user: 'relay-user', pass: 'relay-pass' },
    async setup() {
      const fake = await startFakeSmtp({ user: 'relay-user', pass: 'relay-pass' });
      return {
        settings: { host: fake.host, port: fake.port, allowPlaintext: true, from: 'service@conformance.example' },
        // The relay refuses the next recipient the way each fault looks in SMTP (a login failure is its own test).
        faults: { supported: ['rate_limit', 'upstream'], set: (f) => fake.deferNext(1, f === 'rate_limit' ? 421 : 451), clear: () => {} },
        cleanup: () => fake.close(),
      };
    },
  },
  'telephony-twilio': {
    settings: {}, credentials: {},
    async setup() {
      const fake = await startFakeTwilioRest({ accountSid: TWILIO_SID, authToken: TWILIO_TOKEN });
      fake.addNumber('+14085550100');
      // The call as Twilio holds it: status, and the number in the <Dial> of the last TwiML redirect.
      const vendorCall = (sid: string) => {
        const c = fake.calls.get(sid);
        if (!c) return undefined;
        const twiml = [...c.updates].reverse().map((u) => u.Twiml).find((t) => t !== undefined);
        const dial = typeof twiml === 'string' ? /<Dial\b[^>]*>\s*(?:<Number[^>]*>)?\s*([^<\s]+)/.exec(twiml)?.[1] : undefined;
        return { status: c.status, updates: c.updates.length, ...(dial ? { dialledTo: dial } : {}) };
      };
      const status: Record<Exclude<VendorFault, 'timeout'>, number> = { auth: 401, rate_limit: 429, upstream: 500 };
      return {
        settings: { apiBaseUrl: fake.url }, credentials: { accountSid: TWILIO_SID, authToken: TWILIO_TOKEN },
        fixtures: { vendorCall },
        // The fake fails only the next request, which is exactly the one call each fault scenario makes.
        faults: { supported: ['auth', 'rate_limit', 'upstream'], set: (f) => fake.failNext(status[f as Exclude<VendorFault, 'timeout'>]), clear: () => {} },
        cleanup: () => fake.close(),
      };
    },
  },
  'llm-openai': {
    settings: {}, credentials: { apiKey: OPENAI_KEY },
    async setup() {
      const fake = await startFakeOpenAI({ apiKey: OPENAI_KEY });
      fake.respond(llmScript);
      const vendorRequests = () => fake.requests.map((r) => ({ closedByClient: r.abortedByClient, completed: r.completed }));
      return {
        settings: { baseUrl: `${fake.url}/v1` }, fixtures: { vendorRequests },
        faults: openAiFaults(fake), cleanup: () => fake.close(),
      };
    },
  },
  'stt-deepgram': {
    settings: {}, credentials: { apiKey: DEEPGRAM_KEY },
    async setup() {
      const fake = await startFakeDeepgram({ apiKey: DEEPGRAM_KEY });
      fake.listen.respond(() => 'I would like to book an oil change');
      fake.prerecorded.respond(() => ({ transcript: 'Please call me back about my brakes.' }));
      const status: Record<Exclude<VendorFault, 'timeout'>, number> = { auth: 401, rate_limit: 429, upstream: 500 };
      return {
        settings: { baseUrl: fake.url },
        fixtures: {
          audio: Buffer.concat([silence(200), tone(800), silence(1200)]), expectTranscript: 'book an oil change',
          prerecorded: { audio: Buffer.concat([Buffer.alloc(44), Buffer.alloc(32_000, 1)]), contentType: 'audio/x-wav', expectTranscript: 'call me back' },
        },
        faults: {
          supported: ['auth', 'rate_limit', 'upstream'],
          set: (f) => fake.listen.refuseUpgrades(status[f as Exclude<VendorFault, 'timeout'>]),
          clear: () => fake.listen.refuseUpgrades(null),
        },
        cleanup: () => fake.close(),
      };
    },
  },
  'tts-deepgram': {
    settings: {}, credentials: { apiKey: DEEPGRAM_KEY },
    async setup() {
      const fake = await startFakeDeepgram({ apiKey: DEEPGRAM_KEY, speak: { msPerChar: 5, chunkIntervalMs: 0 } });
      const status: Record<Exclude<VendorFault, 'timeout'>, number> = { auth: 401, rate_limit: 429, upstream: 500 };
      return {
        settings: { baseUrl: fake.url },
        faults: {
          supported: ['auth', 'rate_limit', 'upstream'],
          set: (f) => fake.speak.refuseUpgrades(status[f as Exclude<VendorFault, 'timeout'>]),
          clear: () => fake.speak.refuseUpgrades(null),
        },
        cleanup: () => fake.close(),
      };
    },
  },
};

describe('first-party plugin conformance', () => {
  after(async () => {
    if (platform) await (await platform).close();
  });

  it('has a conformance harness for every plugin in plugins/index.ts', () => {
    const missing = firstPartyPlugins.map((m) => m.id).filter((id) => !(id in HARNESSES));
    assert.deepEqual(missing, [], `add a harness to test/conformance/plugins.test.ts for: ${missing.join(', ')}`);
  });

  it('lists each plugin id once', () => {
    const ids = firstPartyPlugins.map((m) => m.id);
    assert.deepEqual(ids.filter((id, i) => ids.indexOf(id) !== i), []);
  });

  for (const m of firstPartyPlugins) {
    const h = HARNESSES[m.id];
    if (h) describePluginConformance(m, h);
  }
});
