// A whole deployment on loopback for telephony and call tests: the real Platform and HTTP/WS server, with
// the real SDKs pointed at the protocol-faithful fakes (OpenAI, Deepgram, Twilio REST) by environment only,
// the demo dealership seeded, and helpers that act as Twilio (signed webhooks, the media-stream caller).
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHttpApp, listen, type Platform } from '../../core/app.js';
import { seedDemo, DEMO_NUMBER } from '../../core/tenancy/seed.js';
import { startTestPlatform, type TestPlatform } from './platform.js';
import { startFakeOpenAI, type FakeOpenAI, type FakeOpenAIOptions } from '../fakes/openai.js';
import { startFakeDeepgram, type FakeDeepgram, type FakeDeepgramOptions } from '../fakes/deepgram.js';
import { startFakeTwilioRest, type FakeTwilioRest } from '../fakes/twilio-rest.js';
import { connectMediaStream, type ConnectMediaStreamOptions, type FakeMediaCall } from '../fakes/twilio-media.js';
import type { CallSession } from '../../core/voice/call-session.js';
import {
  newSid, postWebhook, statusCallbackParams, voiceWebhookParams, type WebhookParams, type WebhookResponse,
} from '../fakes/twilio-webhooks.js';
import { until } from './until.js';
export { until };

export const PUBLIC_BASE_URL = 'https://servicelane.test';
export const TEST_ACCOUNT_SID = 'AC' + 'a1b2c3d4'.repeat(4);
export const TEST_AUTH_TOKEN = 'twilio-auth-token-for-tests-0001';
export const OPENAI_KEY = 'sk-test-openai';
export const DEEPGRAM_KEY = 'dg-test-key';
export { DEMO_NUMBER };

export interface CallHarnessOptions {
  state?: 'redis' | 'postgres';
  /** Extra env on top of the fake endpoints (wins over them). */
  env?: Record<string, string>;
  /** Seed the demo dealership and attach its number (default true). */
  seed?: boolean;
  openai?: FakeOpenAIOptions;
  deepgram?: FakeDeepgramOptions;
  /** Build options of the platform (e.g. the reminder clock). */
  build?: Parameters<typeof startTestPlatform>[0] extends infer T ? T extends { build?: infer B } ? B : never : never;
}

export interface StreamInstruction {
  /** The `<Stream url>` as Twilio would dial it (public wss URL). */
  url: string;
  callToken: string;
}

export interface VoiceWebhookOptions {
  from?: string;
  to?: string;
  callSid?: string;
  accountSid?: string;
  callStatus?: string;
  idempotencyToken?: string;
  headers?: Record<string, string>;
  /** Override the signature (null omits the header). */
  signature?: string | null;
  /** The URL the signature is computed over (default PUBLIC_BASE_URL). */
  signedBaseUrl?: string;
  /** Request path (default `/twilio/voice`). */
  path?: string;
  /** Extra or replaced form params. */
  extra?: WebhookParams;
  /** Exact params to send (a replay); the other param options are ignored. */
  params?: WebhookParams;
}

export interface InboundCall {
  callSid: string;
  accountSid: string;
  twiml: string;
  stream: StreamInstruction;
  call: FakeMediaCall;
}

export interface ProviderSessions {
  llmRequests: number;
  sttSessions: number;
  ttsSessions: number;
  ttsRest: number;
}

export interface CallHarness {
  tp: TestPlatform;
  p: Platform;
  server: http.Server;
  /** `http://127.0.0.1:<port>`: where requests really go. */
  baseUrl: string;
  /** `ws://127.0.0.1:<port>/twilio/media`. */
  mediaUrl: string;
  openai: FakeOpenAI;
  deepgram: FakeDeepgram;
  twilio: FakeTwilioRest;
  /** The seeded demo tenant (empty when `seed: false`). */
  tenantId: string;
  postVoice(o?: VoiceWebhookOptions): Promise<{ res: WebhookResponse; params: WebhookParams }>;
  postStatus(o: { callSid: string; status: string; sequenceNumber: number; from?: string; to?: string; accountSid?: string; signature?: string | null }): Promise<WebhookResponse>;
  /** Posts the signed voice webhook, reads the TwiML and dials the media socket with the minted token, as Twilio does. */
  placeInboundCall(o: { from: string; to?: string; media?: Partial<ConnectMediaStreamOptions> }): Promise<InboundCall>;
  /** Maps the public `<Stream url>` onto the local server. */
  localUrl(publicWsUrl: string): string;
  /** Everything a call would have opened at the provider fakes. */
  providerSessions(): ProviderSessions;
  countCalls(tenantId?: string): Promise<number>;
  countRoutes(): Promise<number>;
  close(): Promise<void>;
}

const XML_ENTITIES: Record<string, string> = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&apos;': "'" };
const unescapeXml = (s: string): string => s.replace(/&(amp|lt|gt|quot|apos);/g, (m) => XML_ENTITIES[m] ?? m);

/** The `<Connect><Stream url>` and its `callToken` `<Parameter>`, or null when the TwiML has no stream. */
export function parseStreamTwiml(xml: string): StreamInstruction | null {
  const stream = /<Connect[^>]*>\s*<Stream\b[^>]*\burl="([^"]*)"[^>]*>([\s\S]*?)<\/Stream>/.exec(xml);
  if (!stream) return null;
  const token = /<Parameter\b[^>]*\bname="callToken"[^>]*\bvalue="([^"]*)"/.exec(stream[2] ?? '');
  if (!token) return null;
  return { url: unescapeXml(stream[1]!), callToken: unescapeXml(token[1]!) };
}

/** The live voice session of a call in this process, once telephony handed the stream to voice. */
export async function voiceSession(p: Platform, callSid: string, timeoutMs = 10_000): Promise<CallSession> {
  await until(() => p.voice.find(callSid) !== undefined, timeoutMs, `voice session of ${callSid}`);
  return p.voice.find(callSid)!;
}

/**
 * Resolves once the agent has nothing left to say: no turn running, no audio queued or awaiting its mark,
 * and the fake caller has played everything it received.
 */
export function agentIdle(session: CallSession, call: FakeMediaCall, timeoutMs = 15_000): Promise<void> {
  return until(() => session.isEnded || (!session.conversation.busy && !session.out.busy && call.pendingPlaybackBytes === 0), timeoutMs, 'the agent to finish speaking');
}

/**
 * The caller speaks: `transcript` is what the Deepgram fake will hear in the next speech burst, `ms` how long
 * the burst lasts. Resolves with the caller turn the session took (its `utterance` event).
 */
export async function callerSays(o: { h: CallHarness; session: CallSession; call: FakeMediaCall; transcript: string; ms?: number; timeoutMs?: number }): Promise<string> {
  o.h.deepgram.listen.enqueueTranscripts([o.transcript]);
  const heard = new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`the session took no caller turn for "${o.transcript}"`)), o.timeoutMs ?? 10_000);
    const on = (e: { role: 'caller' | 'agent'; text: string }): void => {
      if (e.role !== 'caller') return;
      clearTimeout(t);
      o.session.off('utterance', on);
      resolve(e.text);
    };
    o.session.on('utterance', on);
  });
  await o.call.say(o.ms ?? 900);
  return heard;
}

export async function startCallHarness(o: CallHarnessOptions = {}): Promise<CallHarness> {
  const openai = await startFakeOpenAI({ apiKey: OPENAI_KEY, ...o.openai });
  const deepgram = await startFakeDeepgram({ apiKey: DEEPGRAM_KEY, ...o.deepgram });
  const twilio = await startFakeTwilioRest({ accountSid: TEST_ACCOUNT_SID, authToken: TEST_AUTH_TOKEN });
  let tp: TestPlatform | undefined;
  try {
    tp = await startTestPlatform({
      state: o.state, build: o.build,
      env: {
        PUBLIC_BASE_URL,
        OPENAI_BASE_URL: `${openai.url}/v1`, OPENAI_API_KEY: OPENAI_KEY,
        DEEPGRAM_BASE_URL: deepgram.url, DEEPGRAM_API_KEY: DEEPGRAM_KEY,
        TWILIO_ACCOUNT_SID: TEST_ACCOUNT_SID, TWILIO_AUTH_TOKEN: TEST_AUTH_TOKEN, TWILIO_API_BASE_URL: twilio.url,
        ...o.env,
      },
    });
    const p = tp.p;
    const server = await listen(p, createHttpApp(p));
    const { port } = server.address() as AddressInfo;
    const baseUrl = `http://127.0.0.1:${port}`;
    let tenantId = '';
    if (o.seed ?? true) {
      tenantId = (await seedDemo(p)).tenantId;
      twilio.addNumber(DEMO_NUMBER);
    }
    const started = tp;

    const postVoice: CallHarness['postVoice'] = async (v = {}) => {
      const params = v.params ?? {
        ...voiceWebhookParams({
          accountSid: v.accountSid ?? TEST_ACCOUNT_SID, callSid: v.callSid ?? newSid('CA'),
          from: v.from ?? '+14086137788', to: v.to ?? DEMO_NUMBER, callStatus: v.callStatus,
        }),
        ...v.extra,
      };
      const res = await postWebhook({
        baseUrl, publicUrl: v.signedBaseUrl ?? PUBLIC_BASE_URL, path: v.path ?? '/twilio/voice', params, authToken: TEST_AUTH_TOKEN,
        headers: v.headers, idempotencyToken: v.idempotencyToken, signature: v.signature,
      });
      return { res, params };
    };

    const postStatus: CallHarness['postStatus'] = (s) => postWebhook({
      baseUrl, publicUrl: PUBLIC_BASE_URL, path: '/twilio/status', authToken: TEST_AUTH_TOKEN, signature: s.signature,
      params: statusCallbackParams({
        accountSid: s.accountSid ?? TEST_ACCOUNT_SID, callSid: s.callSid, callStatus: s.status, sequenceNumber: s.sequenceNumber,
        from: s.from ?? '+14086137788', to: s.to ?? DEMO_NUMBER, direction: 'inbound',
      }),
    });

    const localUrl = (publicWsUrl: string): string => {
      const u = new URL(publicWsUrl);
      return `ws://127.0.0.1:${port}${u.pathname}${u.search}`;
    };

    const placeInboundCall: CallHarness['placeInboundCall'] = async (c) => {
      const callSid = newSid('CA');
      const { res } = await postVoice({ from: c.from, to: c.to ?? DEMO_NUMBER, callSid });
      if (res.status !== 200) throw new Error(`voice webhook answered ${res.status}: ${res.body}`);
      const stream = parseStreamTwiml(res.body);
      if (!stream) throw new Error(`voice webhook TwiML has no <Connect><Stream>: ${res.body}`);
      const call = await connectMediaStream({
        url: localUrl(stream.url), callSid, accountSid: TEST_ACCOUNT_SID, customParameters: { callToken: stream.callToken }, ...c.media,
      });
      return { callSid, accountSid: TEST_ACCOUNT_SID, twiml: res.body, stream, call };
    };

    const countCalls = async (tid = tenantId): Promise<number> => {
      const r = await p.tenants.withTenant(tid, (trx) => trx('calls').count<{ count: string }[]>('* as count'));
      return Number(r[0]?.count ?? 0);
    };
    const countRoutes = async (): Promise<number> => {
      const r = await p.db('platform.call_routes').count<{ count: string }[]>('* as count');
      return Number(r[0]?.count ?? 0);
    };

    return {
      tp: started, p, server, baseUrl, mediaUrl: `ws://127.0.0.1:${port}/twilio/media`, openai, deepgram, twilio, tenantId,
      postVoice, postStatus, placeInboundCall, localUrl, countCalls, countRoutes,
      providerSessions: () => ({
        llmRequests: openai.requests.length, sttSessions: deepgram.listen.sessions,
        ttsSessions: deepgram.speak.sessions, ttsRest: deepgram.speak.restRequests.length,
      }),
      close: async () => {
        await started.close();
        await Promise.all([openai.close(), deepgram.close(), twilio.close()]);
      },
    };
  } catch (e) {
    await tp?.close().catch(() => {});
    await Promise.all([openai.close(), deepgram.close(), twilio.close()]);
    throw e;
  }
}
