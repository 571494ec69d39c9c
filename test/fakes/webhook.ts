/**
 * Loopback fake of a dealership's webhook receiver that verifies Standard Webhooks signatures, for the example
 * plugin package examples/notify-webhook.
 *
 * Documented (Standard Webhooks spec 1.0, as receivers such as Make and the reference libraries implement it):
 * the three headers `webhook-id`, `webhook-timestamp` (Unix seconds) and `webhook-signature` (space-separated
 * `v1,<base64>` entries); the signed content `<id>.<timestamp>.<raw body>`; HMAC-SHA256 keyed with the base64 part
 * of the `whsec_` secret; a timestamp more than 5 minutes off the receiver's clock is refused (replay); any 2xx
 * means accepted. Inferred (receivers differ): a bad or missing signature answers 401, a duplicate `webhook-id`
 * answers 200 without recording it twice. The verifier is written here independently of the plugin on purpose.
 */
import crypto from 'node:crypto';
import {
  FaultInjector, applyTransportFault, readBody, requestUrl, sendJson, startLoopbackServer, type DownMode,
} from './http-util.js';

export interface WebhookDelivery { id: string; timestampSec: number; body: unknown; rawBody: string }

export interface FakeWebhookReceiver {
  url: string;
  /** Accepted deliveries, in order, each `webhook-id` once. */
  deliveries: WebhookDelivery[];
  /** Requests refused for a missing, stale or wrong signature. */
  refused: number;
  setDown(down: boolean, mode?: DownMode, status?: number): void;
  faults: FaultInjector;
  close(): Promise<void>;
}

const TOLERANCE_SEC = 5 * 60;

/** A new `whsec_` secret (24 random bytes, as the spec's libraries generate). */
export function newWebhookSecret(): string {
  return `whsec_${crypto.randomBytes(24).toString('base64')}`;
}

function verify(o: { secret: string; id: string; ts: string; signatures: string; raw: string }): boolean {
  const key = Buffer.from(o.secret.replace(/^whsec_/, ''), 'base64');
  const expected = crypto.createHmac('sha256', key).update(`${o.id}.${o.ts}.${o.raw}`).digest();
  return o.signatures.split(' ').some((entry) => {
    const [version, b64] = entry.split(',', 2);
    if (version !== 'v1' || !b64) return false;
    const got = Buffer.from(b64, 'base64');
    return got.length === expected.length && crypto.timingSafeEqual(got, expected);
  });
}

export async function startFakeWebhookReceiver(o: { secret: string; path?: string; now?: () => number }): Promise<FakeWebhookReceiver> {
  const path = o.path ?? '/hooks/servicelane';
  const now = o.now ?? (() => Date.now());
  const faults = new FaultInjector();
  const state = { deliveries: [] as WebhookDelivery[], refused: 0 };
  const srv = await startLoopbackServer(async (req, res) => {
    const url = requestUrl(req);
    if (req.method !== 'POST' || url.pathname !== path) return sendJson(res, 404, { error: 'not found' });
    const fault = faults.take(req.method, url.pathname);
    if (fault) {
      if (applyTransportFault(req, fault)) return;
      if (fault.kind === 'status') return sendJson(res, fault.status, fault.body ?? { error: `fault ${fault.status}` }, fault.headers);
    }
    const raw = (await readBody(req)).toString('utf8');
    const id = req.headers['webhook-id'];
    const ts = req.headers['webhook-timestamp'];
    const signatures = req.headers['webhook-signature'];
    const fresh = typeof ts === 'string' && /^\d+$/.test(ts) && Math.abs(now() / 1000 - Number(ts)) <= TOLERANCE_SEC;
    if (typeof id !== 'string' || typeof signatures !== 'string' || !fresh || !verify({ secret: o.secret, id, ts, signatures, raw })) {
      state.refused++;
      return sendJson(res, 401, { error: 'invalid signature' });
    }
    if (req.headers['content-type']?.split(';')[0] !== 'application/json') return sendJson(res, 415, { error: 'expected application/json' });
    if (!state.deliveries.some((d) => d.id === id)) state.deliveries.push({ id, timestampSec: Number(ts), body: JSON.parse(raw), rawBody: raw });
    return sendJson(res, 200, { received: true });
  });
  return {
    url: `${srv.url}${path}`,
    get deliveries() { return state.deliveries; },
    get refused() { return state.refused; },
    setDown: (down, mode, status) => faults.setDown(down, mode, status),
    faults,
    close: () => srv.close(),
  };
}
