import express from 'express';
import { ServiceLaneError } from '../../errors.js';
import type { Logger } from '../../observability/logger.js';
import { metrics } from '../../observability/metrics.js';
import type { TenantService } from '../../tenancy/tenants.js';
import type { GoogleConnect } from './connect.js';
import { CALLBACK_PATH, PUSH_PATH } from './google-api.js';
import type { GoogleSync } from './sync.js';

const HEADER_MAX = 512;

function header(req: express.Request, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === 'string' && v.length > 0 && v.length <= HEADER_MAX ? v : undefined;
}

/**
 * The two routes Google itself calls, on PUBLIC_BASE_URL and without an admin token (docs/google.md):
 * - GET CALLBACK_PATH: the browser returning from the consent screen. The signed, single-use state is the
 *   only authority; it names the tenant and the admin who started the flow.
 * - POST PUSH_PATH: a Calendar push notification (empty body, X-Goog-* headers). The channel id, resource id
 *   and the per-channel secret token must all match what we registered, or it is 403 ADM_ERR_PUSH_FORGED and
 *   nothing is queued. A match queues one `calendar-changes` job per Google message number and answers at once.
 */
export function googlePublicRouter(o: { connect: GoogleConnect; sync: GoogleSync; tenants: TenantService; logger: Logger }): express.Router {
  const r = express.Router();

  r.get(CALLBACK_PATH, async (req, res) => {
    const q = req.query;
    const { tenantId, actor } = await o.connect.complete({ state: q.state, code: q.code, error: q.error });
    await o.tenants.audit({ actor, role: 'google_oauth', tenantId, action: 'google.connect', target: 'google', ip: req.ip });
    res.status(200).type('html').send('<!doctype html><meta charset="utf-8"><title>Google Calendar connected</title>'
      + '<p>Google Calendar is connected. Return to ServiceLane to choose the calendar the agent should use.</p>');
  });

  r.post(PUSH_PATH, async (req, res) => {
    const channelId = header(req, 'x-goog-channel-id');
    const state = header(req, 'x-goog-resource-state');
    const match = channelId
      ? await o.sync.connections.byChannel({ channelId, resourceId: header(req, 'x-goog-resource-id'), token: header(req, 'x-goog-channel-token') })
      : null;
    if (!match) {
      metrics.googlePush.inc({ outcome: 'forged' });
      o.logger.warn({ channelId: channelId?.slice(0, 64) ?? null, ip: req.ip }, 'google push refused: unknown channel or wrong token');
      throw new ServiceLaneError('ADM_ERR_PUSH_FORGED', 'unknown push channel or wrong channel token');
    }
    // `sync` only confirms a new channel; there is nothing to fetch yet. A pending channel sends nothing else.
    if (state === 'sync' || match.pending) {
      metrics.googlePush.inc({ outcome: 'sync_ack' });
      res.status(200).end();
      return;
    }
    const messageNumber = header(req, 'x-goog-message-number') ?? '';
    await o.sync.enqueue({ tenantId: match.connection.tenantId, reason: 'push' }, /^\d{1,20}$/.test(messageNumber) ? { dedupe: `push-${channelId}-${messageNumber}` } : {});
    metrics.googlePush.inc({ outcome: 'queued' });
    res.status(200).end();
  });

  return r;
}
