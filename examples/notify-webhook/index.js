// @ts-check
/**
 * @acme/servicelane-notify-webhook — a third-party ServiceLane notify plugin, shipped as an npm package.
 *
 * Each notification (appointment confirmations, staff alerts) is POSTed as JSON to the dealership's own endpoint
 * (their Zapier/Make/n8n flow, their DMS bridge), signed the Standard Webhooks way: `webhook-id`,
 * `webhook-timestamp` and `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">` with the
 * `whsec_…` secret. The receiver verifies with any Standard Webhooks library and de-duplicates on `webhook-id`.
 *
 * It imports only `@servicelane/sdk` (which the platform resolves to the SDK it runs) and Node built-ins: no
 * ServiceLane internals, no database, no other plugin. It reaches the network only through `ctx.http`, so the
 * platform's egress policy and timeouts apply to it like to any first-party plugin.
 */
import { Buffer } from 'node:buffer';
import { createHash, createHmac, randomUUID } from 'node:crypto';
import { PluginError, definePlugin, fromHttpStatus, toPluginError } from '@servicelane/sdk';

/** @typedef {import('./index.js').WebhookSettings} WebhookSettings */
/** @typedef {import('./index.js').WebhookCredentials} WebhookCredentials */
/** @typedef {import('@servicelane/sdk').PluginContext} PluginContext */
/** @typedef {import('@servicelane/sdk').NotifyProvider} NotifyProvider */
/** @typedef {import('@servicelane/sdk').NotifyMessage} NotifyMessage */

const PROVIDER = 'webhook';
const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * The `webhook-signature` header value for one delivery.
 * @param {{ secret: string; id: string; timestampSec: number; body: string }} o
 * @returns {string}
 */
export function sign(o) {
  const key = Buffer.from(o.secret.slice('whsec_'.length), 'base64');
  return `v1,${createHmac('sha256', key).update(`${o.id}.${o.timestampSec}.${o.body}`).digest('base64')}`;
}

/**
 * One signed POST. Resolves with the delivery id; rejects with a PluginError whose category says whether core may
 * try again (a 429 or 5xx: the receiver did not take it; a 4xx: it never will).
 * @param {PluginContext} ctx
 * @param {{ settings: WebhookSettings; secret: string; id: string; payload: unknown; signal?: AbortSignal }} o
 * @returns {Promise<string>}
 */
async function deliver(ctx, o) {
  const id = o.id;
  const timestampSec = Math.floor(ctx.clock.now() / 1000);
  const body = JSON.stringify(o.payload);
  let res;
  try {
    res = await ctx.http(o.settings.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'webhook-id': id,
        'webhook-timestamp': String(timestampSec),
        'webhook-signature': sign({ secret: o.secret, id, timestampSec, body }),
      },
      body,
      signal: o.signal,
      timeoutMs: o.settings.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    });
  } catch (e) {
    throw toPluginError(e, PROVIDER);
  }
  // The body is not ours to interpret; drain it so the connection can be reused.
  await res.arrayBuffer().catch(() => undefined);
  if (!res.ok) throw fromHttpStatus(res.status, `webhook endpoint answered ${res.status}`, { provider: PROVIDER });
  return id;
}

/**
 * The `webhook-id` of a message: the same for the same message, so a resend is recognisable. Core retries `send`
 * after a timeout, when the receiver may in fact have taken the message; Standard Webhooks receivers de-duplicate
 * on this id, so the retry reaches them as a resend, not as a second message.
 * @param {string} tenantId
 * @param {NotifyMessage} m
 * @returns {string}
 */
function messageId(tenantId, m) {
  const h = createHash('sha256');
  for (const part of [tenantId, m.to, m.subject, m.text, m.html ?? '', m.replyTo ?? '', m.calendar?.method ?? '', m.calendar?.ics ?? '']) h.update(`${part.length}:${part}`);
  return `msg_${h.digest('hex').slice(0, 32)}`;
}

/**
 * @param {PluginContext} ctx
 * @param {{ settings: WebhookSettings; credentials: WebhookCredentials }} config
 * @returns {NotifyProvider}
 */
function createWebhookNotifier(ctx, { settings, credentials }) {
  return {
    async send(o) {
      o.signal?.throwIfAborted();
      if (o.to.trim() === '' || o.to.length > 320) throw new PluginError('invalid_request', 'recipient is empty or too long', { provider: PROVIDER });
      /** @type {NotifyMessage} */
      const message = { to: o.to, subject: o.subject, text: o.text };
      if (o.html !== undefined) message.html = o.html;
      if (o.replyTo !== undefined) message.replyTo = o.replyTo;
      if (o.calendar !== undefined) message.calendar = o.calendar;
      const payload = { type: 'notification.created', timestamp: new Date(ctx.clock.now()).toISOString(), data: message };
      const id = await deliver(ctx, { settings, secret: credentials.signingSecret, id: messageId(ctx.tenantId, message), payload, signal: o.signal });
      ctx.logger.info({ messageId: id, pii: { to: o.to } }, 'notification delivered to the webhook endpoint');
      return { messageId: id };
    },
  };
}

// JSON Schemas as plain data; the registry validates tenant settings and credentials against them with ajv.
const settingsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    url: { type: 'string', format: 'uri', pattern: '^https?://', maxLength: 2048 },
    timeoutMs: { type: 'integer', minimum: 1000, maximum: 30_000, nullable: true },
  },
  required: ['url'],
};

const credentialsSchema = {
  type: 'object',
  additionalProperties: false,
  // Standard Webhooks secrets: "whsec_" + base64 of 24–64 random bytes.
  properties: { signingSecret: { type: 'string', pattern: '^whsec_[A-Za-z0-9+/]{32,88}={0,2}$' } },
  required: ['signingSecret'],
};

export default definePlugin(/** @type {import('@servicelane/sdk').PluginManifest<'notify', WebhookSettings, WebhookCredentials>} */ ({
  id: 'notify-webhook',
  kind: 'notify',
  version: '1.0.0',
  // The SDK contract this package was written against (not the host's current one): the registry refuses a
  // mismatch at load instead of failing mid-call.
  apiVersion: 1,
  description: 'Delivers each notification as a signed JSON webhook (Standard Webhooks) to the dealership\'s endpoint.',
  settingsSchema: /** @type {never} */ (settingsSchema),
  credentialsSchema: /** @type {never} */ (credentialsSchema),
  // The endpoint delivers onward (email, SMS, a DMS); this plugin can't promise which, so it claims neither.
  capabilities: { delivers: true, email: false, sms: false, calendarInvites: false },
  /** A signed `ping` event: proves the URL answers and the receiver accepts the secret, without a real message. */
  async testConnection(ctx, { settings, credentials }) {
    try {
      await deliver(ctx, { settings, secret: credentials.signingSecret, id: `msg_${randomUUID().replaceAll('-', '')}`, payload: { type: 'ping', timestamp: new Date(ctx.clock.now()).toISOString(), data: {} } });
      return { ok: true };
    } catch (e) {
      const err = toPluginError(e, PROVIDER);
      return { ok: false, detail: err.category === 'auth' || err.category === 'forbidden' ? 'the endpoint refused the signature (check the signing secret)' : err.message };
    }
  },
  create: (ctx, config) => createWebhookNotifier(ctx, config),
}));
