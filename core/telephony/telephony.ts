import type http from 'node:http';
import type express from 'express';
import type { AppConfig } from '../config.js';
import { ServiceLaneError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { PluginRegistry } from '../registry/registry.js';
import { PostgresStateStore } from '../state/postgres-store.js';
import type { StateStore } from '../state/store.js';
import type { TenantService } from '../tenancy/tenants.js';
import { CallKeys } from './call-keys.js';
import type { CallHandler, CallStart, MediaLink } from './media-link.js';
import { attachMediaServer } from './media-server.js';
import { createTwilioRouter, type InboundAdmission } from './webhooks.js';
import { recordTwiml, Voicemail, voicemailRequestKey } from './voicemail.js';
import { attachWebMedia, mintTalkTicket, WEB_MEDIA_PATH, type WebMediaOptions } from './web-media.js';
import { createOutboundRouter, type OutboundCallHooks } from './outbound-webhooks.js';

/**
 * Telephony for the platform: signed webhooks, the media socket, and call control through the tenant's
 * telephony plugin. Voice is reached through `startCall`, supplied late because voice is built after us.
 */
export class Telephony {
  private media?: { close(): Promise<void> };
  private web?: { close(): Promise<void> };
  private readonly pgKeys: PostgresStateStore | null;
  /** Replay claims, stream tokens and stream claims: the state store, or Postgres while Redis is down. */
  readonly keys: CallKeys;
  /** Recording callbacks → callback tasks with transcripts. */
  readonly voicemail: Voicemail;

  constructor(private readonly o: {
    cfg: AppConfig; tenants: TenantService; registry: PluginRegistry; state: StateStore; logger: Logger;
    startCall: (start: CallStart, link: MediaLink) => Promise<CallHandler>;
    isDraining: () => boolean;
    /** Usage limits, asked before an inbound call gets a stream (core/usage). */
    admission?: InboundAdmission;
    /** The reminder side of outbound calls (core/outbound), for `/twilio/outbound/...` callbacks. */
    outboundHooks: OutboundCallHooks;
  }) {
    // The fallback only serves keys (never pub/sub), so it needs no LISTEN connection string.
    this.pgKeys = o.state.kind === 'redis' ? new PostgresStateStore(o.tenants.db, { databaseUrl: '', prefix: 'telephony-fallback:' }) : null;
    this.keys = new CallKeys({ primary: o.state, fallback: this.pgKeys, logger: o.logger });
    this.voicemail = new Voicemail({ cfg: o.cfg, tenants: o.tenants, registry: o.registry, logger: o.logger });
  }

  /** Express router for `/twilio` (voice and status webhooks). */
  router(): express.Router {
    const r = createTwilioRouter({ cfg: this.o.cfg, tenants: this.o.tenants, keys: this.keys, logger: this.o.logger, admission: this.o.admission, voicemail: this.voicemail });
    r.use('/outbound', createOutboundRouter({ cfg: this.o.cfg, tenants: this.o.tenants, keys: this.keys, logger: this.o.logger, hooks: this.o.outboundHooks }));
    return r;
  }

  /**
   * Attaches the media WebSocket upgrade handlers to the HTTP server: Twilio's, and the console's browser
   * test call when `web` says whose session a request carries (both feed the same startCall).
   */
  attach(server: http.Server, web?: { userOf: WebMediaOptions['userOf'] }): void {
    this.media = attachMediaServer(server, {
      state: this.keys, logger: this.o.logger, startCall: this.o.startCall, isDraining: this.o.isDraining, otherPaths: web ? [WEB_MEDIA_PATH] : [],
    });
    if (web) this.web = attachWebMedia(server, { state: this.o.state, logger: this.o.logger, startCall: this.o.startCall, isDraining: this.o.isDraining, userOf: web.userOf });
  }

  /** A one-time ticket (and calls row) for a browser test call by `userId`. */
  mintTalkTicket(o: { tenantId: string; userId: string }): Promise<{ ticket: string; callSid: string; callId: string }> {
    return mintTalkTicket({ state: this.o.state, withTenant: (id, fn) => this.o.tenants.withTenant(id, fn), ...o });
  }

  async close(): Promise<void> {
    await this.web?.close();
    await this.media?.close();
    await this.voicemail.idle();
    await this.pgKeys?.close();
  }

  private async provider(tenantId: string) {
    const t = await this.o.registry.tryGet(tenantId, 'telephony');
    if (!t) throw new ServiceLaneError('PLG_ERR_SLOT_DISABLED', 'tenant has no telephony plugin configured', { slot: 'telephony' });
    return t;
  }

  /**
   * Points a number's voice and status webhooks at this deployment when the configured account owns it, so
   * onboarding needs no trip to the Twilio console. Never fails the attach: the result says what happened.
   */
  async configureNumber(o: { tenantId: string; e164: string }): Promise<{ configured: boolean; reason?: string }> {
    const base = this.o.cfg.publicBaseUrl.replace(/\/$/, '');
    try {
      const t = await this.provider(o.tenantId);
      const r = await t.configureNumber({ e164: o.e164, voiceUrl: `${base}/twilio/voice`, statusCallbackUrl: `${base}/twilio/status` });
      if (r.configured) await this.o.tenants.markNumberConfigured(o.e164, r.providerSid);
      return { configured: r.configured, ...(r.reason ? { reason: r.reason } : {}) };
    } catch (e) {
      this.o.logger.warn({ tenantId: o.tenantId, err: (e as Error).message }, 'number webhook configuration failed');
      return { configured: false, reason: (e as Error).message };
    }
  }

  /**
   * Ends the call, unless the caller asked to leave a message (`leave_message`): then the call is redirected to
   * <Record> instead, so the session's normal "finish after playback" path is also the hand-over to voicemail.
   */
  async hangUp(o: { tenantId: string; callSid: string }): Promise<void> {
    const provider = await this.provider(o.tenantId);
    const wantsVoicemail = await this.o.state.get(voicemailRequestKey(o.callSid)).catch((e: Error) => {
      this.o.logger.warn({ tenantId: o.tenantId, callSid: o.callSid, err: e.message }, 'voicemail request unreadable; hanging up');
      return null;
    });
    if (wantsVoicemail && provider.redirect) {
      const tenant = await this.o.tenants.getActive(o.tenantId);
      if (tenant.config) {
        await provider.redirect({ callSid: o.callSid, twiml: recordTwiml({ publicBaseUrl: this.o.cfg.publicBaseUrl, config: tenant.config, reason: 'requested' }) });
        this.o.logger.info({ tenantId: o.tenantId, callSid: o.callSid }, 'call handed to voicemail');
        return;
      }
    }
    await provider.hangUp({ callSid: o.callSid });
  }

  /** Transfers to the tenant's configured transfer number only; the model never picks the destination. */
  async transfer(o: { tenantId: string; callSid: string }): Promise<void> {
    const tenant = await this.o.tenants.getActive(o.tenantId);
    const to = tenant.config?.transferNumber;
    if (!to) throw new ServiceLaneError('TEL_ERR_PROVIDER', 'tenant has no transfer number configured');
    await (await this.provider(o.tenantId)).transfer({ callSid: o.callSid, to });
  }
}
