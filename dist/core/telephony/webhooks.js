import crypto from 'node:crypto';
import express from 'express';
import twilio from 'twilio';
import { ServiceLaneError } from '../errors.js';
import { metrics } from '../observability/metrics.js';
import { isTerminal, statusRank, TERMINAL_RANK } from './call-state.js';
import { apologyTwiml, hangupTwiml, mediaUrl, streamTwiml } from './twiml.js';
export const STREAM_TOKEN_TTL_SEC = 60;
const DEDUPE_TTL_SEC = 24 * 3600;
const E164 = /^\+[1-9][0-9]{6,14}$/;
/**
 * Twilio webhooks. The signature is checked against PUBLIC_BASE_URL + the request path, never against the
 * Host or X-Forwarded-* headers a client controls. The tenant comes from the dialled number (`To`).
 */
export function createTwilioRouter(o) {
    const { cfg, tenants, state, logger } = o;
    const router = express.Router();
    router.use(express.urlencoded({ extended: false, limit: '64kb' }));
    const base = cfg.publicBaseUrl.replace(/\/$/, '');
    const verify = (route) => (req, _res, next) => {
        const sig = req.header('x-twilio-signature');
        const token = cfg.twilio.authToken;
        const body = (req.body ?? {});
        // Our webhook URLs carry no query (configureNumber sets them), so a query means a URL we never gave out;
        // refusing it up front also sidesteps the SDK's re-encoding of ' and + in queries (twilio-node#1183).
        const ok = !!token && !!sig && !req.originalUrl.includes('?') && twilio.validateRequest(token, sig, base + req.originalUrl, body);
        if (!ok) {
            metrics.webhooks.inc({ route, outcome: 'bad_signature' });
            // Fail closed even when misconfigured; the boot banner warns when TWILIO_AUTH_TOKEN is unset.
            return next(new ServiceLaneError('TEL_ERR_SIGNATURE', 'invalid or missing X-Twilio-Signature'));
        }
        if (cfg.twilio.accountSid && body.AccountSid !== cfg.twilio.accountSid) {
            metrics.webhooks.inc({ route, outcome: 'account_mismatch' });
            return next(new ServiceLaneError('TEL_ERR_SIGNATURE', 'webhook is for another Twilio account'));
        }
        next();
    };
    /**
     * Twilio retries a webhook it thinks failed; the first answer is stored and replayed so a retry creates no
     * second call row and mints no second token.
     */
    async function once(key, produce) {
        if (await state.setIfAbsent(key, '', DEDUPE_TTL_SEC)) {
            try {
                const out = await produce();
                await state.set(key, out || ' ', DEDUPE_TTL_SEC);
                return out;
            }
            catch (e) {
                await state.delete(key).catch(() => { });
                throw e;
            }
        }
        for (let i = 0; i < 60; i++) {
            const prev = await state.get(key);
            if (prev)
                return prev.trim();
            await new Promise((r) => setTimeout(r, 50));
        }
        return '';
    }
    router.post('/voice', verify('voice'), async (req, res, next) => {
        try {
            const b = req.body;
            const callSid = b.CallSid ?? '';
            const to = b.To ?? '';
            if (!/^CA[0-9a-fA-F]{32}$/.test(callSid) || !E164.test(to)) {
                metrics.webhooks.inc({ route: 'voice', outcome: 'bad_params' });
                res.type('text/xml').send(apologyTwiml());
                return;
            }
            // Keyed by the signed CallSid, not by I-Twilio-Idempotency-Token: that header is unsigned, so a captured
            // webhook replayed with a fresh header would otherwise mint a second stream token for a real call.
            const key = `twv:${callSid}`;
            const twiml = await once(key, async () => {
                const tenant = await tenants.resolveNumber(to);
                if (!tenant || !tenant.config) {
                    metrics.webhooks.inc({ route: 'voice', outcome: 'unmapped' });
                    logger.info({ code: 'TEN_ERR_NUMBER_UNMAPPED', callSid, pii: { to } }, 'call to an unmapped or disabled number');
                    return apologyTwiml();
                }
                const from = b.From && E164.test(b.From) ? b.From : null;
                const row = await tenants.withTenant(tenant.id, async (trx) => {
                    const ins = await trx('calls').insert({
                        call_sid: callSid, direction: 'inbound', from_number: from, to_number: to,
                        status: b.CallStatus ?? 'ringing', status_rank: statusRank(b.CallStatus ?? 'ringing') ?? 2,
                    }).onConflict('call_sid').ignore().returning(['id', 'status_rank']);
                    if (ins[0])
                        return ins[0];
                    return (await trx('calls').where({ call_sid: callSid }).first('id', 'status_rank'));
                });
                if (row.status_rank >= TERMINAL_RANK) {
                    // A replay that outlived the dedupe key: the call is over, so it gets no stream and no token.
                    metrics.webhooks.inc({ route: 'voice', outcome: 'replay_of_ended_call' });
                    return hangupTwiml();
                }
                const callId = row.id;
                await tenants.db('platform.call_routes').insert({ call_sid: callSid, tenant_id: tenant.id }).onConflict('call_sid').ignore();
                const callToken = crypto.randomBytes(24).toString('base64url');
                const ticket = { callSid, accountSid: b.AccountSid ?? '', tenantId: tenant.id, callId, from, to, direction: 'inbound', params: {} };
                await state.set(`streamtok:${callToken}`, JSON.stringify(ticket), STREAM_TOKEN_TTL_SEC);
                metrics.webhooks.inc({ route: 'voice', outcome: 'connected' });
                logger.info({ tenantId: tenant.id, callSid, pii: { from } }, 'inbound call answered');
                return streamTwiml({ wsUrl: mediaUrl(cfg.publicBaseUrl), callToken });
            });
            res.type('text/xml').send(twiml || apologyTwiml());
        }
        catch (e) {
            next(e);
        }
    });
    router.post('/status', verify('status'), async (req, res, next) => {
        try {
            const b = req.body;
            const callSid = b.CallSid ?? '';
            const status = b.CallStatus ?? '';
            const rank = statusRank(status);
            const route = /^CA[0-9a-fA-F]{32}$/.test(callSid)
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
            res.status(204).end();
        }
        catch (e) {
            next(e);
        }
    });
    return router;
}
//# sourceMappingURL=webhooks.js.map