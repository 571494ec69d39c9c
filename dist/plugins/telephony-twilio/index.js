import twilio from 'twilio';
import { API_VERSION, definePlugin, PluginError, toPluginError } from '../../core/sdk/index.js';
/**
 * Twilio has no base-URL option: region/edge only rewrite *.twilio.com hosts. A RequestClient that rewrites
 * the origin is the one override that reaches every endpoint, so tests point the real SDK at a loopback fake.
 */
class OriginRewritingRequestClient extends twilio.RequestClient {
    target;
    constructor(target) {
        super();
        this.target = target;
    }
    request(opts) {
        const u = new URL(opts.uri);
        opts.uri = new URL(u.pathname + u.search, this.target).href;
        return super.request(opts);
    }
}
function mapTwilioError(e) {
    // RestException carries the HTTP status; toPluginError classifies it.
    return toPluginError(e, 'twilio');
}
function createTwilioTelephony(ctx, creds) {
    const accountSid = creds?.accountSid ?? ctx.env.TWILIO_ACCOUNT_SID;
    const authToken = creds?.authToken ?? ctx.env.TWILIO_AUTH_TOKEN;
    const base = ctx.env.TWILIO_API_BASE_URL;
    let client;
    const api = () => {
        if (!accountSid || !authToken)
            throw new PluginError('auth', 'Twilio account SID and auth token are not configured', { provider: 'twilio', retryable: false });
        client ??= twilio(accountSid, authToken, base ? { httpClient: new OriginRewritingRequestClient(base) } : {});
        return client;
    };
    return {
        async hangUp({ callSid, signal }) {
            signal?.throwIfAborted();
            try {
                await api().calls(callSid).update({ status: 'completed' });
            }
            catch (e) {
                const pe = mapTwilioError(e);
                if (pe.category === 'not_found')
                    return; // already gone: hanging up is idempotent
                throw pe;
            }
        },
        async transfer({ callSid, to, signal }) {
            signal?.throwIfAborted();
            const vr = new twilio.twiml.VoiceResponse();
            vr.dial({ timeout: 30 }, to);
            try {
                await api().calls(callSid).update({ twiml: vr.toString() });
            }
            catch (e) {
                throw mapTwilioError(e);
            }
        },
        async placeCall({ to, from, twiml, statusCallbackUrl, machineDetection, amdCallbackUrl, signal }) {
            signal?.throwIfAborted();
            try {
                const call = await api().calls.create({
                    to, from, twiml, statusCallback: statusCallbackUrl, statusCallbackMethod: 'POST',
                    statusCallbackEvent: ['initiated', 'ringing', 'answered', 'completed'],
                    ...(machineDetection ? { machineDetection: 'DetectMessageEnd', asyncAmd: 'true', asyncAmdStatusCallback: amdCallbackUrl, asyncAmdStatusCallbackMethod: 'POST' } : {}),
                });
                return { callSid: call.sid };
            }
            catch (e) {
                throw mapTwilioError(e);
            }
        },
        async configureNumber({ e164, voiceUrl, statusCallbackUrl, signal }) {
            signal?.throwIfAborted();
            if (!accountSid || !authToken)
                return { configured: false, reason: 'TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN not set' };
            try {
                // The PhoneNumber filter is a pattern match (partial numbers match), so pick the exact number.
                const owned = await api().incomingPhoneNumbers.list({ phoneNumber: e164, limit: 20 });
                const num = owned.find((n) => n.phoneNumber === e164);
                if (!num)
                    return { configured: false, reason: 'number is not owned by the configured Twilio account' };
                await api().incomingPhoneNumbers(num.sid).update({
                    voiceUrl, voiceMethod: 'POST', statusCallback: statusCallbackUrl, statusCallbackMethod: 'POST',
                });
                return { configured: true, providerSid: num.sid };
            }
            catch (e) {
                throw mapTwilioError(e);
            }
        },
    };
}
export default definePlugin({
    id: 'telephony-twilio',
    kind: 'telephony',
    version: '1.0.0',
    apiVersion: API_VERSION,
    description: 'Twilio Programmable Voice call control (hang-up, transfer, outbound calls, number webhooks) through the official SDK.',
    settingsSchema: {
        type: 'object', additionalProperties: false, required: [],
        properties: { statusCallbackEvents: { type: 'array', nullable: true, items: { type: 'string' } } },
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
        const sid = config.credentials?.accountSid ?? ctx.env.TWILIO_ACCOUNT_SID;
        const token = config.credentials?.authToken ?? ctx.env.TWILIO_AUTH_TOKEN;
        if (!sid || !token)
            return { ok: false, detail: 'no Twilio credentials' };
        const base = ctx.env.TWILIO_API_BASE_URL;
        try {
            await twilio(sid, token, base ? { httpClient: new OriginRewritingRequestClient(base) } : {}).api.v2010.accounts(sid).fetch();
            return { ok: true };
        }
        catch (e) {
            return { ok: false, detail: mapTwilioError(e).message };
        }
    },
    create: (ctx, config) => createTwilioTelephony(ctx, config.credentials),
});
//# sourceMappingURL=index.js.map