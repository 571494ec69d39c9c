import { ServiceLaneError } from '../errors.js';
import { attachMediaServer } from './media-server.js';
import { createTwilioRouter } from './webhooks.js';
/**
 * Telephony for the platform: signed webhooks, the media socket, and call control through the tenant's
 * telephony plugin. Voice is reached through `startCall`, supplied late because voice is built after us.
 */
export class Telephony {
    o;
    media;
    constructor(o) {
        this.o = o;
    }
    /** Express router for `/twilio` (voice and status webhooks). */
    router() {
        return createTwilioRouter({ cfg: this.o.cfg, tenants: this.o.tenants, state: this.o.state, logger: this.o.logger });
    }
    /** Attaches the media WebSocket upgrade handler to the HTTP server. */
    attach(server) {
        this.media = attachMediaServer(server, { state: this.o.state, logger: this.o.logger, startCall: this.o.startCall, isDraining: this.o.isDraining });
    }
    async close() { await this.media?.close(); }
    async provider(tenantId) {
        const t = await this.o.registry.tryGet(tenantId, 'telephony');
        if (!t)
            throw new ServiceLaneError('PLG_ERR_SLOT_DISABLED', 'tenant has no telephony plugin configured', { slot: 'telephony' });
        return t;
    }
    /**
     * Points a number's voice and status webhooks at this deployment when the configured account owns it, so
     * onboarding needs no trip to the Twilio console. Never fails the attach: the result says what happened.
     */
    async configureNumber(o) {
        const base = this.o.cfg.publicBaseUrl.replace(/\/$/, '');
        try {
            const t = await this.provider(o.tenantId);
            const r = await t.configureNumber({ e164: o.e164, voiceUrl: `${base}/twilio/voice`, statusCallbackUrl: `${base}/twilio/status` });
            if (r.configured)
                await this.o.tenants.markNumberConfigured(o.e164, r.providerSid);
            return { configured: r.configured, ...(r.reason ? { reason: r.reason } : {}) };
        }
        catch (e) {
            this.o.logger.warn({ tenantId: o.tenantId, err: e.message }, 'number webhook configuration failed');
            return { configured: false, reason: e.message };
        }
    }
    async hangUp(o) {
        await (await this.provider(o.tenantId)).hangUp({ callSid: o.callSid });
    }
    /** Transfers to the tenant's configured transfer number only; the model never picks the destination. */
    async transfer(o) {
        const tenant = await this.o.tenants.getActive(o.tenantId);
        const to = tenant.config?.transferNumber;
        if (!to)
            throw new ServiceLaneError('TEL_ERR_PROVIDER', 'tenant has no transfer number configured');
        await (await this.provider(o.tenantId)).transfer({ callSid: o.callSid, to });
    }
}
//# sourceMappingURL=telephony.js.map