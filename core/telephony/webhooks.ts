import crypto from 'node:crypto';
import express from 'express';
import twilio from 'twilio';
import type { AppConfig } from '../config.js';
import { ServiceLaneError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import { metrics } from '../observability/metrics.js';
import type { Tenant, TenantService } from '../tenancy/tenants.js';
import type { CallKeys } from './call-keys.js';
import { isTerminal, statusRank, TERMINAL_RANK } from './call-state.js';
import { signingAccountFor } from './signing-account.js';
import { apologyTransferTwiml, apologyTwiml, hangupTwiml, mediaUrl, politeBusyTwiml, streamTwiml } from './twiml.js';
import { recordTwiml, voicemailDoneTwiml, voicemailWhenClosed, type Voicemail } from './voicemail.js';
import { E164_RE } from '../sdk/phone.js';

/** What the signed voice webhook hands the media socket, under a one-time token. */
export interface StreamTicket {
  callSid: string; accountSid: string; tenantId: string; callId: string;
  from: string | null; to: string; direction: 'inbound' | 'outbound'; params: Record<string, string>;
}

export const STREAM_TOKEN_TTL_SEC = 60;
const DEDUPE_TTL_SEC = 24 * 3600;

type Body = Record<string, string | undefined>;

/**
 * Asked before a stream is minted for an inbound call (core/usage's per-tenant limits satisfy it). Refused:
 * the caller hears `say` (or is transferred), no token is minted and no voice session or provider opens.
 */
export interface InboundAdmission {
  admitInbound(o: { tenantId: string; callSid: string; from: string | null }): Promise<{ admitted: true } | { admitted: false; code: string; say: string }>;
  /** Twilio reported the call over: whatever it held is freed (a caller who hung up before the stream connected). */
  callEnded(o: { tenantId: string; callSid: string }): Promise<void>;
}

/**
 * Twilio retries a webhook it thinks failed; the first answer is stored and replayed so a retry creates no
 * second call row and mints no second token. Shared by the inbound and the outbound voice webhooks.
 */
export async function replayOnce(keys: Pick<CallKeys, 'setIfAbsent' | 'set' | 'get' | 'delete'>, key: string, produce: () => Promise<string>): Promise<string> {
  if (await keys.setIfAbsent(key, '', DEDUPE_TTL_SEC)) {
    try {
      const out = await produce();
      await keys.set(key, out || ' ', DEDUPE_TTL_SEC);
      return out;
    } catch (e) { await keys.delete(key); throw e; }
  }
  for (let i = 0; i < 60; i++) {
    const prev = await keys.get(key);
    if (prev) return prev.trim();
    await new Promise((r) => setTimeout(r, 50));
  }
  return '';
}

/** What `verify` established, for the route handler (res.locals.twilio). */
interface Verified { tenant: Tenant | null }

/**
 * Twilio webhooks. The signature is checked against PUBLIC_BASE_URL + the request path, never against the
 * Host or X-Forwarded-* headers a client controls. The tenant comes from the dialled number (`To`), or for
 * status callbacks from the CallSid's route; its Twilio account (the platform's, or the dealership's own
 * subaccount) decides the signing key. Replay claims and stream tokens live in CallKeys, which falls back to
 * Postgres while the state store is down, and /voice never answers Twilio with a 500.
 */
export function createTwilioRouter(o: { cfg: AppConfig; tenants: TenantService; keys: CallKeys; logger: Logger; admission?: InboundAdmission; voicemail?: Voicemail }): express.Router {
  const { cfg, tenants, keys, logger } = o;
  const router = express.Router();
  router.use(express.urlencoded({ extended: false, limit: '64kb' }));
  const base = cfg.publicBaseUrl.replace(/\/$/, '');

  /** The tenant a webhook is about, from server-side routing only (number table, call routes). */
  async function tenantOf(route: string, body: Body): Promise<Tenant | null> {
    if (route === 'voice') return body.To && E164_RE.test(body.To) ? tenants.resolveNumber(body.To) : null;
    const callSid = body.CallSid ?? '';
    if (!/^CA[0-9a-fA-F]{32}$/.test(callSid)) return null;
    const r: { tenant_id: string } | undefined = await tenants.db('platform.call_routes').where({ call_sid: callSid }).first('tenant_id');
    return r ? tenants.find(r.tenant_id) : null;
  }

  const verify = (route: string): express.RequestHandler => async (req, res, next) => {
    try {
      const sig = req.header('x-twilio-signature');
      const body = (req.body ?? {}) as Body;
      // Our webhook URLs carry no query (configureNumber sets them), so a query means a URL we never gave out;
      // refusing it up front also sidesteps the SDK's re-encoding of ' and + in queries (twilio-node#1183).
      // Both refusals cost no lookup, so unsigned floods never reach the database.
      if (!sig || req.originalUrl.includes('?')) {
        metrics.webhooks.inc({ route, outcome: 'bad_signature' });
        return next(new ServiceLaneError('TEL_ERR_SIGNATURE', 'invalid or missing X-Twilio-Signature'));
      }
      const tenant = await tenantOf(route, body);
      const account = await signingAccountFor({ cfg, tenants, tenant });
      const ok = !!account.authToken && twilio.validateRequest(account.authToken, sig, base + req.originalUrl, body);
      if (!ok) {
        metrics.webhooks.inc({ route, outcome: 'bad_signature' });
        // Fail closed even when misconfigured; the boot banner warns when TWILIO_AUTH_TOKEN is unset.
        return next(new ServiceLaneError('TEL_ERR_SIGNATURE', 'invalid or missing X-Twilio-Signature', { account: account.source }));
      }
      // The signed AccountSid must be the account whose key we used: a subaccount's webhook names that subaccount.
      if (account.accountSid && body.AccountSid !== account.accountSid) {
        metrics.webhooks.inc({ route, outcome: 'account_mismatch' });
        return next(new ServiceLaneError('TEL_ERR_SIGNATURE', 'webhook is for another Twilio account'));
      }
      (res.locals as { twilio?: Verified }).twilio = { tenant };
      next();
    } catch (e) {
      // A credential that cannot be read (e.g. a wrong CREDENTIALS_KEY) leaves nothing to verify with: refuse.
      metrics.webhooks.inc({ route, outcome: 'verify_error' });
      logger.error({ route, err: (e as Error).message, code: (e as { code?: string }).code }, 'webhook signature could not be checked; refused');
      next(new ServiceLaneError('TEL_ERR_SIGNATURE', 'webhook signature could not be checked'));
    }
  };

  router.post('/voice', verify('voice'), async (req, res) => {
    const b = req.body as Body;
    const verified = (res.locals as { twilio?: Verified }).twilio;
    try {
      const callSid = b.CallSid ?? '';
      const to = b.To ?? '';
      if (!/^CA[0-9a-fA-F]{32}$/.test(callSid) || !E164_RE.test(to)) {
        metrics.webhooks.inc({ route: 'voice', outcome: 'bad_params' });
        res.type('text/xml').send(apologyTwiml());
        return;
      }
      // Keyed by the signed CallSid, not by I-Twilio-Idempotency-Token: that header is unsigned, so a captured
      // webhook replayed with a fresh header would otherwise mint a second stream token for a real call.
      const key = `twv:${callSid}`;
      const twiml = await replayOnce(keys, key, async () => {
        const tenant = verified?.tenant ?? null;
        if (!tenant || !tenant.config) {
          metrics.webhooks.inc({ route: 'voice', outcome: 'unmapped' });
          logger.info({ code: 'TEN_ERR_NUMBER_UNMAPPED', callSid, pii: { to } }, 'call to an unmapped or disabled number');
          return apologyTwiml();
        }
        const from = b.From && E164_RE.test(b.From) ? b.From : null;
        const row = await tenants.withTenant(tenant.id, async (trx) => {
          const ins = await trx('calls').insert({
            call_sid: callSid, direction: 'inbound', from_number: from, to_number: to,
            status: b.CallStatus ?? 'ringing', status_rank: statusRank(b.CallStatus ?? 'ringing') ?? 2,
          }).onConflict('call_sid').ignore().returning(['id', 'status_rank']);
          if (ins[0]) return ins[0] as { id: string; status_rank: number };
          return (await trx('calls').where({ call_sid: callSid }).first('id', 'status_rank')) as { id: string; status_rank: number };
        });
        if (row.status_rank >= TERMINAL_RANK) {
          // A replay that outlived the dedupe key: the call is over, so it gets no stream and no token.
          metrics.webhooks.inc({ route: 'voice', outcome: 'replay_of_ended_call' });
          return hangupTwiml();
        }
        const callId = row.id;
        await tenants.db('platform.call_routes').insert({ call_sid: callSid, tenant_id: tenant.id }).onConflict('call_sid').ignore();
        // Closed, and the dealership wants messages then: straight to <Record> (the route above lets its callback find the tenant).
        if (o.voicemail && voicemailWhenClosed(tenant.config, new Date())) {
          metrics.webhooks.inc({ route: 'voice', outcome: 'voicemail_closed' });
          logger.info({ tenantId: tenant.id, callSid }, 'dealership closed; caller sent to voicemail');
          return recordTwiml({ publicBaseUrl: cfg.publicBaseUrl, config: tenant.config, reason: 'closed' });
        }
        // After the route row, so Twilio's status callbacks still close the refused call's row.
        if (o.admission) {
          const verdict = await o.admission.admitInbound({ tenantId: tenant.id, callSid, from });
          if (!verdict.admitted) {
            metrics.webhooks.inc({ route: 'voice', outcome: 'over_limit' });
            return politeBusyTwiml({ text: verdict.say, transferTo: tenant.config.transferNumber });
          }
        }
        const callToken = crypto.randomBytes(24).toString('base64url');
        const ticket: StreamTicket = { callSid, accountSid: b.AccountSid ?? '', tenantId: tenant.id, callId, from, to, direction: 'inbound', params: {} };
        await keys.set(`streamtok:${callToken}`, JSON.stringify(ticket), STREAM_TOKEN_TTL_SEC);
        metrics.webhooks.inc({ route: 'voice', outcome: 'connected' });
        logger.info({ tenantId: tenant.id, callSid, pii: { from } }, 'inbound call answered');
        return streamTwiml({ wsUrl: mediaUrl(cfg.publicBaseUrl), callToken });
      });
      res.type('text/xml').send(twiml || apologyTwiml());
    } catch (e) {
      // Never a 500 to Twilio (it would play its "application error" to the caller): apologise and hand the
      // caller to the dealership's people when it has a transfer number, else apologise and hang up.
      const transferTo = verified?.tenant?.config?.transferNumber;
      metrics.webhooks.inc({ route: 'voice', outcome: transferTo ? 'error_transfer' : 'error_apology' });
      logger.error({ tenantId: verified?.tenant?.id, callSid: b.CallSid, err: (e as Error).message, code: (e as { code?: string }).code }, 'voice webhook failed; caller transferred or apologised to');
      res.type('text/xml').send(transferTo ? apologyTransferTwiml(transferTo) : apologyTwiml('Sorry, we are having trouble answering right now. Please call again in a few minutes. Goodbye.'));
    }
  });

  router.post('/status', verify('status'), async (req, res, next) => {
    try {
      const b = req.body as Body;
      const callSid = b.CallSid ?? '';
      const status = b.CallStatus ?? '';
      const rank = statusRank(status);
      const route: { tenant_id: string } | undefined = /^CA[0-9a-fA-F]{32}$/.test(callSid)
        ? await tenants.db('platform.call_routes').where({ call_sid: callSid }).first('tenant_id') : undefined;
      if (!route || rank === null) {
        metrics.webhooks.inc({ route: 'status', outcome: route ? 'bad_status' : 'unknown_call' });
        res.status(204).end();
        return;
      }
      const moved = await tenants.withTenant(route.tenant_id, (trx) => trx('calls')
        .where({ call_sid: callSid }).andWhere('status_rank', '<', rank)
        .update({ status, status_rank: rank, ...(isTerminal(status) ? { ended_at: trx.fn.now() } : {}) }));
      metrics.webhooks.inc({ route: 'status', outcome: moved ? 'applied' : 'ignored' });
      if (o.admission && isTerminal(status)) await o.admission.callEnded({ tenantId: route.tenant_id, callSid });
      res.status(204).end();
    } catch (e) { next(e); }
  });

  // Voicemail (docs/voicemail.md): the recording status callback, and <Record>'s action, which only says goodbye.
  router.post('/recording', verify('recording'), async (req, res, next) => {
    try {
      if (!o.voicemail) { res.status(204).end(); return; }
      const verified = (res.locals as { twilio?: Verified }).twilio;
      const id = await o.voicemail.onRecordingStatus({ tenant: verified?.tenant ?? null, body: req.body as Body });
      metrics.webhooks.inc({ route: 'recording', outcome: id ? 'stored' : 'ignored' });
      res.status(204).end();
    } catch (e) { next(e); }
  });

  router.post('/voicemail-done', verify('voicemail-done'), (_req, res) => {
    res.type('text/xml').send(voicemailDoneTwiml());
  });

  return router;
}
