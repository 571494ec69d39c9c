import express from 'express';
import twilio from 'twilio';
import type { AppConfig } from '../config.js';
import { ServiceLaneError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import { metrics } from '../observability/metrics.js';
import type { TenantService } from '../tenancy/tenants.js';
import type { CallKeys } from './call-keys.js';
import { statusRank } from './call-state.js';
import { issueOutboundTicket } from './outbound-ticket.js';
import { signingAccountFor } from './signing-account.js';
import { hangupTwiml, mediaUrl, streamTwiml } from './twiml.js';
import { replayOnce } from './webhooks.js';
import { E164_RE } from '../sdk/phone.js';

/** What telephony needs from the reminder side (core/outbound), handed in by the composition root. */
/**
 * What a status callback did: applied, or nothing because the tenant has no such attempt or the attempt placed
 * another call. The hook looks the attempt up itself, in the transaction that applies the status.
 */
export type StatusVerdict = 'applied' | 'unknown_attempt' | 'call_mismatch';

export interface OutboundCallHooks {
  /** The attempt the server-issued path names, or null when the tenant has no such attempt. */
  attempt(o: { tenantId: string; attemptId: string }): Promise<{ callSid: string | null; to: string; from: string | null } | null>;
  /**
   * A signed status callback (`CallStatus`); the hook applies it monotonically to the attempt and to the tenant's
   * `calls` row of that call (when there is one), and decides outcomes and retries.
   */
  onStatus(o: { tenantId: string; attemptId: string; callSid: string; status: string }): Promise<StatusVerdict>;
  /** The asynchronous answering-machine verdict (`AnsweredBy`). */
  onAmd(o: { tenantId: string; attemptId: string; callSid: string; answeredBy: string }): Promise<void>;
}

const TENANT_ID = /^[0-9A-Za-z_-]{1,64}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const CALL_SID = /^CA[0-9a-fA-F]{32}$/;

type Body = Record<string, string | undefined>;
interface Route { tenantId: string; attemptId: string; attempt: { callSid: string | null; to: string; from: string | null } | null }

/**
 * Callbacks of outbound reminder calls: `/twilio/outbound/<tenantId>/<attemptId>/voice|status|amd`. The dialer put
 * the tenant and the attempt in the URLs it gave Twilio, and the signature covers the URL, so they are server facts:
 * checked against PUBLIC_BASE_URL + the path exactly as the inbound webhooks are (core/telephony/webhooks.ts), with
 * the tenant's own signing account. Nothing in the body chooses a tenant or an attempt; a CallSid in the body must
 * be the attempt's call once it is known. A forged or unsigned callback is TEL_ERR_SIGNATURE and changes nothing.
 */
/** A signed callback that is not about the attempt its URL names: counted, and refused with its code. */
function refusal(kind: string, why: Exclude<StatusVerdict, 'applied'>): ServiceLaneError {
  metrics.webhooks.inc({ route: `outbound_${kind}`, outcome: why });
  return why === 'unknown_attempt'
    ? new ServiceLaneError('OUT_ERR_ATTEMPT_NOT_FOUND', 'no such reminder attempt')
    : new ServiceLaneError('OUT_ERR_CALLBACK_INVALID', 'callback names another call than the attempt placed');
}

export function createOutboundRouter(o: { cfg: AppConfig; tenants: TenantService; keys: CallKeys; logger: Logger; hooks: OutboundCallHooks }): express.Router {
  const { cfg, tenants, keys, logger, hooks } = o;
  const base = cfg.publicBaseUrl.replace(/\/$/, '');
  const router = express.Router();
  router.use(express.urlencoded({ extended: false, limit: '64kb' }));

  // `lookup`: the attempt is read here and checked against the CallSid. The status route says no: its hook reads the
  // attempt in the transaction that applies the status (one transaction per callback) and returns the same verdicts.
  const verify = (kind: string, lookup = true): express.RequestHandler => async (req, res, next) => {
    const refuse = (outcome: string, details?: Record<string, unknown>) => {
      metrics.webhooks.inc({ route: `outbound_${kind}`, outcome });
      next(new ServiceLaneError('TEL_ERR_SIGNATURE', 'invalid or missing X-Twilio-Signature', details));
    };
    try {
      const sig = req.header('x-twilio-signature');
      const { tenantId, attemptId } = req.params as { tenantId: string; attemptId: string };
      // Cheap refusals first, so unsigned floods never reach the database.
      if (!sig || req.originalUrl.includes('?') || !TENANT_ID.test(tenantId) || !UUID.test(attemptId)) return refuse('bad_signature');
      const tenant = await tenants.find(tenantId);
      if (!tenant) return refuse('bad_signature');
      const account = await signingAccountFor({ cfg, tenants, tenant });
      const body = (req.body ?? {}) as Body;
      if (!account.authToken || !twilio.validateRequest(account.authToken, sig, base + req.originalUrl, body)) return refuse('bad_signature', { account: account.source });
      if (account.accountSid && body.AccountSid !== account.accountSid) return refuse('account_mismatch');
      const callSid = body.CallSid ?? '';
      if (!CALL_SID.test(callSid)) { metrics.webhooks.inc({ route: `outbound_${kind}`, outcome: 'bad_params' }); return next(new ServiceLaneError('OUT_ERR_CALLBACK_INVALID', 'callback without a valid CallSid')); }
      const attempt = lookup ? await hooks.attempt({ tenantId, attemptId }) : null;
      if (lookup) {
        // Once the attempt knows its call, a callback about another call is not about this attempt.
        const refused = !attempt ? 'unknown_attempt' : attempt.callSid && attempt.callSid !== callSid ? 'call_mismatch' : null;
        if (refused) return next(refusal(kind, refused));
      }
      (res.locals as { route?: Route }).route = { tenantId, attemptId, attempt };
      next();
    } catch (e) {
      metrics.webhooks.inc({ route: `outbound_${kind}`, outcome: 'verify_error' });
      logger.error({ err: (e as Error).message }, 'outbound webhook could not be checked; refused');
      next(new ServiceLaneError('TEL_ERR_SIGNATURE', 'webhook signature could not be checked'));
    }
  };
  const routeOf = (res: express.Response) => (res.locals as { route: Route }).route;
  /** The attempt of a route whose verify looked it up (voice, amd). */
  const attemptOf = (res: express.Response) => {
    const a = routeOf(res).attempt;
    if (!a) throw new Error('outbound route without its attempt: verify must look it up');
    return a;
  };

  router.post('/:tenantId/:attemptId/voice', verify('voice'), async (req, res) => {
    const b = req.body as Body;
    const r = routeOf(res);
    const callSid = b.CallSid!;
    try {
      const attempt = attemptOf(res);
      const twiml = await replayOnce(keys, `twov:${callSid}`, async () => {
        const to = attempt.to;
        const from = b.From && E164_RE.test(b.From) ? b.From : attempt.from;
        const callId = await tenants.withTenant(r.tenantId, async (trx) => {
          const ins = await trx('calls').insert({
            call_sid: callSid, direction: 'outbound', from_number: from, to_number: to,
            status: 'in-progress', status_rank: statusRank('in-progress')!,
          }).onConflict('call_sid').ignore().returning('id') as { id: string }[];
          return ins[0]?.id ?? ((await trx('calls').where({ call_sid: callSid }).first('id')) as { id: string }).id;
        });
        await tenants.db('platform.call_routes').insert({ call_sid: callSid, tenant_id: r.tenantId }).onConflict('call_sid').ignore();
        await hooks.onStatus({ tenantId: r.tenantId, attemptId: r.attemptId, callSid, status: 'in-progress' });
        // On the ticket (as in media-link.ts CallStart) `from` is the dialled customer and `to` the dealership's number.
        const callToken = await issueOutboundTicket({
          keys, callSid, accountSid: b.AccountSid ?? '', tenantId: r.tenantId, callId, from: to, to: from ?? '', reminderAttemptId: r.attemptId,
        });
        metrics.webhooks.inc({ route: 'outbound_voice', outcome: 'connected' });
        logger.info({ tenantId: r.tenantId, callSid, attemptId: r.attemptId }, 'outbound reminder call answered; media stream offered');
        return streamTwiml({ wsUrl: mediaUrl(cfg.publicBaseUrl), callToken });
      });
      res.type('text/xml').send(twiml || hangupTwiml());
    } catch (e) {
      // Never a 500 to Twilio: a hang-up, and the status callback records how the call ended.
      metrics.webhooks.inc({ route: 'outbound_voice', outcome: 'error' });
      logger.error({ tenantId: r.tenantId, callSid, err: (e as Error).message }, 'outbound voice webhook failed; call hung up');
      res.type('text/xml').send(hangupTwiml());
    }
  });

  router.post('/:tenantId/:attemptId/status', verify('status', false), async (req, res, next) => {
    try {
      const b = req.body as Body;
      const r = routeOf(res);
      const status = b.CallStatus ?? '';
      const rank = statusRank(status);
      if (rank === null) { metrics.webhooks.inc({ route: 'outbound_status', outcome: 'bad_status' }); res.status(204).end(); return; }
      // The hook moves the attempt and the tenant's calls row (created when answered) forward, never back.
      const verdict = await hooks.onStatus({ tenantId: r.tenantId, attemptId: r.attemptId, callSid: b.CallSid!, status });
      if (verdict !== 'applied') return next(refusal('status', verdict));
      metrics.webhooks.inc({ route: 'outbound_status', outcome: 'applied' });
      res.status(204).end();
    } catch (e) { next(e); }
  });

  router.post('/:tenantId/:attemptId/amd', verify('amd'), async (req, res, next) => {
    try {
      const b = req.body as Body;
      const r = routeOf(res);
      const answeredBy = b.AnsweredBy ?? '';
      if (!/^(human|unknown|fax|machine_start|machine_end_beep|machine_end_silence|machine_end_other)$/.test(answeredBy)) {
        metrics.webhooks.inc({ route: 'outbound_amd', outcome: 'bad_params' });
        return next(new ServiceLaneError('OUT_ERR_CALLBACK_INVALID', 'AnsweredBy is not a Twilio AMD verdict'));
      }
      await hooks.onAmd({ tenantId: r.tenantId, attemptId: r.attemptId, callSid: b.CallSid!, answeredBy });
      metrics.webhooks.inc({ route: 'outbound_amd', outcome: 'applied' });
      res.status(204).end();
    } catch (e) { next(e); }
  });

  return router;
}
