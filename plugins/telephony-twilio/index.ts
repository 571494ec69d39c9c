import twilio from 'twilio';
import type RequestClient from 'twilio/lib/base/RequestClient.js';
import type * as TwilioHttpResponse from 'twilio/lib/http/response.js';
import { API_VERSION, definePlugin, findEgressRefusal, PluginError, toPluginError, type PluginContext, type TelephonyProvider } from '../../core/sdk/index.js';

interface Settings {
  statusCallbackEvents?: string[];
  /** Origin that replaces https://*.twilio.com (tests: a loopback fake); the platform's TWILIO_API_BASE_URL by default. */
  apiBaseUrl?: string;
}
/**
 * A dealership's own Twilio (sub)account (credentialsRef); without one, core supplies the platform account
 * (TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN) as this plugin's default credentials.
 */
interface Credentials { accountSid?: string; authToken?: string }

/**
 * The SDK's HTTP client with two changes. Its axios instance connects through ctx.egress's agents, so every
 * request (and every redirect hop) obeys the platform's egress policy. And an optional origin rewrite: Twilio
 * has no base-URL option (region/edge only rewrite *.twilio.com hosts), and rewriting the origin is the one
 * override that reaches every endpoint, so tests point the real SDK at a loopback fake.
 */
class PolicyRequestClient extends twilio.RequestClient {
  constructor(private readonly o: { target?: string; ctx: PluginContext }) {
    super();
    this.axios.defaults.httpAgent = o.ctx.egress.agents.http;
    this.axios.defaults.httpsAgent = o.ctx.egress.agents.https;
    // Axios would otherwise honour HTTP(S)_PROXY from the environment and connect to the proxy, not the checked host.
    this.axios.defaults.proxy = false;
  }
  override request<T>(opts: RequestClient.RequestOptions<T>): Promise<TwilioHttpResponse.default<T>> {
    if (this.o.target) {
      const u = new URL(opts.uri);
      opts.uri = new URL(u.pathname + u.search, this.o.target).href;
    }
    return super.request(opts);
  }
}

function mapTwilioErrorOrRefusal(e: unknown): PluginError {
  return findEgressRefusal(e) ?? mapTwilioError(e);
}

function mapTwilioError(e: unknown): PluginError {
  // RestException carries the HTTP status; toPluginError classifies it.
  return toPluginError(e, 'twilio');
}

function createTwilioTelephony(ctx: PluginContext, o: { creds: Credentials | undefined; settings: Settings }): TelephonyProvider {
  const accountSid = o.creds?.accountSid;
  const authToken = o.creds?.authToken;
  let client: ReturnType<typeof twilio> | undefined;
  const api = () => {
    if (!accountSid || !authToken) throw new PluginError('auth', 'Twilio account SID and auth token are not configured', { provider: 'twilio', retryable: false });
    client ??= twilio(accountSid, authToken, { httpClient: new PolicyRequestClient({ target: o.settings.apiBaseUrl, ctx }) });
    return client;
  };
  // The SDK loads its REST modules on first access (hundreds of ms on a cold process). Touch them now, at instance
  // creation, not inside the first placeCall: that one runs right after core reserved a call-rate turn, and a slow
  // first request would land at Twilio closer than 1/CPS to the next worker's call.
  if (accountSid && authToken) void api().calls;
  return {
    async hangUp({ callSid, signal }) {
      signal?.throwIfAborted();
      try { await api().calls(callSid).update({ status: 'completed' }); } catch (e) {
        const pe = mapTwilioErrorOrRefusal(e);
        if (pe.category === 'not_found') return; // already gone: hanging up is idempotent
        throw pe;
      }
    },
    async transfer({ callSid, to, signal }) {
      signal?.throwIfAborted();
      const vr = new twilio.twiml.VoiceResponse();
      vr.dial({ timeout: 30 }, to);
      try { await api().calls(callSid).update({ twiml: vr.toString() }); } catch (e) { throw mapTwilioErrorOrRefusal(e); }
    },
    async redirect({ callSid, twiml, signal }) {
      signal?.throwIfAborted();
      try { await api().calls(callSid).update({ twiml }); } catch (e) { throw mapTwilioErrorOrRefusal(e); }
    },
    async placeCall({ to, from, url, twiml, statusCallbackUrl, statusCallbackEvents, machineDetection, amdCallbackUrl, timeoutSec, signal }) {
      signal?.throwIfAborted();
      if (!url === !twiml) throw new PluginError('invalid_request', 'placeCall needs exactly one of url and twiml', { provider: 'twilio', retryable: false });
      try {
        const call = await api().calls.create({
          to, from, ...(url ? { url, method: 'POST' } : { twiml }),
          statusCallback: statusCallbackUrl, statusCallbackMethod: 'POST',
          statusCallbackEvent: statusCallbackEvents ?? o.settings.statusCallbackEvents ?? ['initiated', 'ringing', 'answered', 'completed'],
          ...(timeoutSec ? { timeout: timeoutSec } : {}),
          // DetectMessageEnd waits for the greeting's end (the beep), so a message played then is recorded whole;
          // async, so a person who answers is connected at once instead of waiting seconds for the verdict.
          ...(machineDetection ? { machineDetection: 'DetectMessageEnd', asyncAmd: 'true', asyncAmdStatusCallback: amdCallbackUrl, asyncAmdStatusCallbackMethod: 'POST' } : {}),
        });
        return { callSid: call.sid };
      } catch (e) { throw mapTwilioErrorOrRefusal(e); }
    },
    async findCalls({ to, from, createdAfter, signal }) {
      signal?.throwIfAborted();
      try {
        // Not filtered by StartTime: a call still `queued` has no start time yet and would be missed, which is
        // exactly the call a crashed worker left behind. Twilio lists newest first; 50 covers any retry history.
        const calls = await api().calls.list({ to, from, limit: 50 });
        return calls.filter((c) => c.dateCreated && c.dateCreated.getTime() >= createdAfter.getTime())
          .map((c) => ({ callSid: c.sid, to: c.to, from: c.from, status: String(c.status), createdAt: c.dateCreated, answeredBy: c.answeredBy ?? null }));
      } catch (e) { throw mapTwilioErrorOrRefusal(e); }
    },
    async sayAndHangUp({ callSid, text, language, signal }) {
      signal?.throwIfAborted();
      const vr = new twilio.twiml.VoiceResponse();
      // Without `language` Twilio reads Spanish text with an English voice.
      if (language) vr.say({ language: language as never }, text); else vr.say(text);
      vr.hangup();
      try { await api().calls(callSid).update({ twiml: vr.toString() }); } catch (e) {
        const pe = mapTwilioErrorOrRefusal(e);
        // Twilio answers 21220 ("call is not in-progress") or 404 for a call that already ended: nothing to say.
        if (pe.category === 'not_found' || (e as { code?: number }).code === 21220) return;
        throw pe;
      }
    },
    async configureNumber({ e164, voiceUrl, statusCallbackUrl, signal }) {
      signal?.throwIfAborted();
      if (!accountSid || !authToken) return { configured: false, reason: 'no Twilio account: TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN not set and no credentialsRef' };
      try {
        // The PhoneNumber filter is a pattern match (partial numbers match), so pick the exact number.
        const owned = await api().incomingPhoneNumbers.list({ phoneNumber: e164, limit: 20 });
        const num = owned.find((n) => n.phoneNumber === e164);
        if (!num) return { configured: false, reason: 'number is not owned by the configured Twilio account' };
        await api().incomingPhoneNumbers(num.sid).update({
          voiceUrl, voiceMethod: 'POST', statusCallback: statusCallbackUrl, statusCallbackMethod: 'POST',
        });
        return { configured: true, providerSid: num.sid };
      } catch (e) { throw mapTwilioErrorOrRefusal(e); }
    },
  };
}

export default definePlugin<'telephony', Settings, Credentials>({
  id: 'telephony-twilio',
  kind: 'telephony',
  version: '1.0.0',
  apiVersion: API_VERSION,
  description: 'Twilio Programmable Voice call control (hang-up, transfer, outbound calls with answering-machine detection, call lookup, voicemail drop, number webhooks) through the official SDK.',
  settingsSchema: {
    type: 'object', additionalProperties: false, required: [],
    properties: {
      statusCallbackEvents: { type: 'array', nullable: true, items: { type: 'string' } },
      apiBaseUrl: { type: 'string', nullable: true, format: 'uri', pattern: '^https?://', maxLength: 2048 },
    },
  },
  credentialsSchema: {
    type: 'object', additionalProperties: false, required: [],
    // Both or neither: half a subaccount would sign with one account and call control with another.
    dependentRequired: { accountSid: ['authToken'], authToken: ['accountSid'] },
    properties: {
      accountSid: { type: 'string', nullable: true, pattern: '^AC[0-9a-fA-F]{32}$' },
      authToken: { type: 'string', nullable: true, minLength: 16 },
    },
  },
  capabilities: { hangUp: true, transfer: true, outbound: true, configureNumber: true, amd: true },
  async testConnection(ctx, config) {
    const sid = config.credentials?.accountSid;
    const token = config.credentials?.authToken;
    if (!sid || !token) return { ok: false, detail: 'unconfigured: missing credential accountSid, authToken' };
    try {
      await twilio(sid, token, { httpClient: new PolicyRequestClient({ target: config.settings.apiBaseUrl, ctx }) }).api.v2010.accounts(sid).fetch();
      return { ok: true };
    } catch (e) { return { ok: false, detail: mapTwilioErrorOrRefusal(e).message }; }
  },
  create: (ctx, config) => createTwilioTelephony(ctx, { creds: config.credentials, settings: config.settings ?? {} }),
});
