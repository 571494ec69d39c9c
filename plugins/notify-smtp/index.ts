import nodemailer from 'nodemailer';
import type { JSONSchemaType } from 'ajv';
import {
  API_VERSION, PluginError, definePlugin, findEgressRefusal, toPluginError,
  type CallOptions, type NotifyMessage, type NotifyProvider, type PluginContext,
} from '../../core/sdk/index.js';

export interface NotifySmtpSettings {
  host: string;
  /** 587 (STARTTLS) by default; 465 with `secure: true`. */
  port?: number;
  /** TLS from the first byte (port 465); otherwise STARTTLS is required unless `allowPlaintext`. */
  secure?: boolean;
  /** Development relays only (a local catcher): send without TLS. */
  allowPlaintext?: boolean;
  /** The sender, e.g. `Valley Honda Service <service@valleyhonda.example>`. */
  from: string;
  replyTo?: string;
}

/** The relay's login, when it wants one; stored encrypted and referenced by credentialsRef. */
export interface NotifySmtpCredentials { user?: string; pass?: string }

const PROVIDER = 'smtp';
const TIMEOUT_MS = 10_000;

const settingsSchema: JSONSchemaType<NotifySmtpSettings> = {
  type: 'object', additionalProperties: false, required: ['host', 'from'],
  properties: {
    host: { type: 'string', minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9.:\\[\\]-]+$' },
    port: { type: 'integer', nullable: true, minimum: 1, maximum: 65535 },
    secure: { type: 'boolean', nullable: true },
    allowPlaintext: { type: 'boolean', nullable: true },
    from: { type: 'string', minLength: 3, maxLength: 320 },
    replyTo: { type: 'string', nullable: true, format: 'email' },
  },
};

const credentialsSchema: JSONSchemaType<NotifySmtpCredentials> = {
  type: 'object', additionalProperties: false, required: [],
  dependentRequired: { user: ['pass'], pass: ['user'] },
  properties: { user: { type: 'string', nullable: true, minLength: 1 }, pass: { type: 'string', nullable: true, minLength: 1 } },
};

/**
 * SMTP reply codes: 5xx is a permanent refusal (a bad recipient, a sender the relay won't take), 4xx a temporary
 * one (421/450: too many connections or messages, a rate limit; 451 and the rest: a local failure at the relay);
 * nodemailer puts the code on `responseCode`. Socket errors (ECONNREFUSED …) mean nothing was sent.
 */
function mapSmtpError(e: unknown): PluginError {
  const refused = findEgressRefusal(e);
  if (refused) return refused;
  const err = e as { code?: string; responseCode?: number; command?: string };
  const rc = err?.responseCode;
  if (err?.code === 'EAUTH' || rc === 535 || rc === 530) return new PluginError('auth', `smtp relay refused the login (${rc ?? err.code})`, { provider: PROVIDER, retryable: false, cause: e });
  if (typeof rc === 'number' && rc >= 500) return new PluginError('invalid_request', `smtp relay refused the message (${rc} at ${err.command ?? 'send'})`, { provider: PROVIDER, status: rc, retryable: false, cause: e });
  if (typeof rc === 'number' && rc >= 400) {
    return new PluginError(rc === 421 || rc === 450 ? 'rate_limit' : 'upstream', `smtp relay deferred the message (${rc})`, { provider: PROVIDER, status: rc, retryable: true, cause: e });
  }
  if (err?.code === 'ETIMEDOUT' || err?.code === 'ESOCKET' || err?.code === 'ECONNECTION' || err?.code === 'EDNS') {
    return new PluginError('connectivity', `smtp relay unreachable (${err.code})`, { provider: PROVIDER, cause: e });
  }
  return toPluginError(e, PROVIDER);
}

function createSmtpNotifier(ctx: PluginContext, o: { settings: NotifySmtpSettings; credentials: NotifySmtpCredentials | undefined }): NotifyProvider {
  const s = o.settings;
  const port = s.port ?? (s.secure ? 465 : 587);
  const transport = nodemailer.createTransport({
    host: s.host, port, secure: s.secure ?? false,
    requireTLS: !(s.secure ?? false) && !(s.allowPlaintext ?? false),
    ignoreTLS: s.allowPlaintext ?? false,
    ...(o.credentials?.user ? { auth: { user: o.credentials.user, pass: o.credentials.pass ?? '' } } : {}),
    connectionTimeout: TIMEOUT_MS, greetingTimeout: TIMEOUT_MS, socketTimeout: TIMEOUT_MS,
  });
  return {
    async send(m: CallOptions & NotifyMessage): Promise<{ messageId: string }> {
      m.signal?.throwIfAborted();
      if (m.to.trim() === '' || m.to.length > 320) throw new PluginError('invalid_request', 'recipient is empty or too long', { provider: PROVIDER });
      try {
        // nodemailer opens its own socket: the address check of the egress policy runs first (SMTP brings its own TLS).
        await ctx.egress.check(`https://${s.host.includes(':') && !s.host.startsWith('[') ? `[${s.host}]` : s.host}:${port}/`);
        const send = transport.sendMail({
          from: s.from, to: m.to, subject: m.subject, text: m.text,
          ...(m.html ? { html: m.html } : {}),
          ...(m.replyTo ?? s.replyTo ? { replyTo: m.replyTo ?? s.replyTo } : {}),
          // A text/calendar alternative (clients show the invite) plus an .ics attachment.
          ...(m.calendar ? { icalEvent: { method: m.calendar.method, filename: m.calendar.filename ?? 'invite.ics', content: m.calendar.ics } } : {}),
        });
        const info = await (m.signal ? Promise.race([send, new Promise<never>((_, reject) => {
          m.signal!.addEventListener('abort', () => reject(new PluginError('timeout', 'smtp send aborted', { provider: PROVIDER })), { once: true });
        })]) : send);
        const messageId = String(info.messageId ?? '');
        if (!messageId) throw new PluginError('upstream', 'smtp relay returned no message id', { provider: PROVIDER });
        ctx.logger.info({ messageId, invite: m.calendar?.method, pii: { to: m.to } }, 'email sent through smtp');
        return { messageId };
      } catch (e) {
        throw mapSmtpError(e);
      }
    },
    async close() { transport.close(); },
  };
}

/** Email through any SMTP relay (nodemailer): the dealership's own mail server, or a provider's SMTP endpoint. */
export default definePlugin<'notify', NotifySmtpSettings, NotifySmtpCredentials>({
  id: 'notify-smtp',
  kind: 'notify',
  version: '1.0.0',
  apiVersion: API_VERSION,
  description: 'Email through an SMTP relay (nodemailer), with calendar invites as text/calendar parts.',
  settingsSchema,
  credentialsSchema,
  capabilities: { delivers: true, email: true, sms: false, calendarInvites: true },
  create: (ctx, { settings, credentials }) => createSmtpNotifier(ctx, { settings, credentials }),
});
