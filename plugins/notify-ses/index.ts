import { SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
import type { JSONSchemaType } from 'ajv';
import {
  API_VERSION, PluginError, definePlugin, findEgressRefusal, toPluginError,
  type CallOptions, type NotifyMessage, type NotifyProvider, type PluginContext,
} from '../../core/sdk/index.js';

export interface NotifySesSettings {
  /** AWS region of the SES account, e.g. `us-east-1`. */
  region: string;
  /** The sender, e.g. `Valley Honda Service <service@valleyhonda.example>`; its domain must be verified in SES. */
  from: string;
  replyTo?: string;
  /** SES configuration set (event publishing: bounces, complaints). */
  configurationSetName?: string;
  /** Replaces `https://email.<region>.amazonaws.com` (tests: a loopback fake). */
  endpoint?: string;
}

/** An IAM user's key (or temporary credentials) allowed `ses:SendEmail`; stored encrypted, referenced by credentialsRef. */
export interface NotifySesCredentials { accessKeyId: string; secretAccessKey: string; sessionToken?: string }

const PROVIDER = 'ses';

const settingsSchema: JSONSchemaType<NotifySesSettings> = {
  type: 'object', additionalProperties: false, required: ['region', 'from'],
  properties: {
    region: { type: 'string', pattern: '^[a-z]{2}(-[a-z]+)+-[0-9]$' },
    from: { type: 'string', minLength: 3, maxLength: 320 },
    replyTo: { type: 'string', nullable: true, format: 'email' },
    configurationSetName: { type: 'string', nullable: true, pattern: '^[A-Za-z0-9_-]{1,64}$' },
    endpoint: { type: 'string', nullable: true, format: 'uri', pattern: '^https?://', maxLength: 2048 },
  },
};

const credentialsSchema: JSONSchemaType<NotifySesCredentials> = {
  type: 'object', additionalProperties: false, required: ['accessKeyId', 'secretAccessKey'],
  properties: {
    accessKeyId: { type: 'string', pattern: '^[A-Z0-9]{16,128}$' },
    secretAccessKey: { type: 'string', minLength: 16, maxLength: 256 },
    sessionToken: { type: 'string', nullable: true, minLength: 1 },
  },
};

/**
 * SES answers errors by name (the `x-amzn-ErrorType` header). A rejected message or an unverified sender will
 * fail again however often it is sent, so those are final; a throttle was never sent, so it is retryable.
 */
const FINAL_ERRORS: Record<string, 'invalid_request' | 'forbidden'> = {
  MessageRejected: 'invalid_request',
  MailFromDomainNotVerifiedException: 'invalid_request',
  BadRequestException: 'invalid_request',
  NotFoundException: 'invalid_request',
  AccountSuspendedException: 'forbidden',
  SendingPausedException: 'forbidden',
};
const THROTTLES = new Set(['TooManyRequestsException', 'ThrottlingException', 'LimitExceededException']);
const AUTH_ERRORS = new Set(['UnrecognizedClientException', 'InvalidSignatureException', 'SignatureDoesNotMatch', 'InvalidClientTokenId', 'AccessDeniedException', 'ExpiredTokenException']);

function mapSesError(e: unknown): PluginError {
  const refused = findEgressRefusal(e);
  if (refused) return refused;
  const err = e as { name?: string; $metadata?: { httpStatusCode?: number; requestId?: string } };
  const name = err?.name ?? '';
  const status = err?.$metadata?.httpStatusCode;
  const o = { provider: PROVIDER, ...(status ? { status } : {}), ...(err?.$metadata?.requestId ? { providerRequestId: err.$metadata.requestId } : {}), cause: e };
  // The vendor's message may quote the recipient: only the error name goes into ours.
  if (FINAL_ERRORS[name]) return new PluginError(FINAL_ERRORS[name], `ses refused the message (${name})`, { ...o, retryable: false });
  if (THROTTLES.has(name)) return new PluginError('rate_limit', `ses throttled the request (${name})`, o);
  if (AUTH_ERRORS.has(name) || status === 401 || status === 403) return new PluginError('auth', `ses refused the credentials (${name || status})`, { ...o, retryable: false });
  if (status && status >= 500) return new PluginError('upstream', `ses failed (${status})`, o);
  return toPluginError(e, PROVIDER);
}

function createSesNotifier(ctx: PluginContext, o: { settings: NotifySesSettings; credentials: NotifySesCredentials | undefined }): NotifyProvider {
  const { settings, credentials } = o;
  let client: SESv2Client | undefined;
  const api = (): SESv2Client => {
    if (!credentials?.accessKeyId || !credentials.secretAccessKey) {
      throw new PluginError('auth', 'SES access key is not configured', { provider: PROVIDER, retryable: false });
    }
    client ??= new SESv2Client({
      region: settings.region,
      ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
      credentials: { accessKeyId: credentials.accessKeyId, secretAccessKey: credentials.secretAccessKey, ...(credentials.sessionToken ? { sessionToken: credentials.sessionToken } : {}) },
      // One attempt: the `email` queue owns retries (with backoff across minutes), the SDK would add its own 3×.
      maxAttempts: 1,
      // The SDK's own sockets, through the platform's egress policy (no private/metadata hosts).
      requestHandler: { httpAgent: ctx.egress.agents.http, httpsAgent: ctx.egress.agents.https, requestTimeout: 10_000 },
    });
    return client;
  };

  return {
    async send(m: CallOptions & NotifyMessage): Promise<{ messageId: string }> {
      m.signal?.throwIfAborted();
      if (m.to.trim() === '' || m.to.length > 320) throw new PluginError('invalid_request', 'recipient is empty or too long', { provider: PROVIDER });
      const cal = m.calendar;
      const cmd = new SendEmailCommand({
        FromEmailAddress: settings.from,
        Destination: { ToAddresses: [m.to] },
        ...(m.replyTo ?? settings.replyTo ? { ReplyToAddresses: [(m.replyTo ?? settings.replyTo)!] } : {}),
        ...(settings.configurationSetName ? { ConfigurationSetName: settings.configurationSetName } : {}),
        EmailTags: [{ Name: 'tenant', Value: ctx.tenantId.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 256) }],
        Content: {
          Simple: {
            Subject: { Data: m.subject, Charset: 'UTF-8' },
            Body: { Text: { Data: m.text, Charset: 'UTF-8' }, ...(m.html ? { Html: { Data: m.html, Charset: 'UTF-8' } } : {}) },
            // SES v2 Simple content carries attachments; the method parameter makes clients treat it as an invite.
            ...(cal ? {
              Attachments: [{
                FileName: cal.filename ?? 'invite.ics', RawContent: Buffer.from(cal.ics, 'utf8'),
                ContentType: `text/calendar; method=${cal.method}; charset=UTF-8`, ContentDisposition: 'ATTACHMENT' as const,
              }],
            } : {}),
          },
        },
      });
      try {
        const r = await api().send(cmd, { abortSignal: m.signal });
        if (!r.MessageId) throw new PluginError('upstream', 'ses answered without a MessageId', { provider: PROVIDER });
        ctx.logger.info({ messageId: r.MessageId, invite: cal?.method, pii: { to: m.to } }, 'email sent through ses');
        return { messageId: r.MessageId };
      } catch (e) {
        throw mapSesError(e);
      }
    },
    async close() { client?.destroy(); client = undefined; },
  };
}

/** Email through Amazon SES v2 (`SendEmail`, simple content with an optional `.ics` attachment). */
export default definePlugin<'notify', NotifySesSettings, NotifySesCredentials>({
  id: 'notify-ses',
  kind: 'notify',
  version: '1.0.0',
  apiVersion: API_VERSION,
  description: 'Email through Amazon SES v2 (SendEmail), with calendar invites as text/calendar attachments.',
  settingsSchema,
  credentialsSchema,
  capabilities: { delivers: true, email: true, sms: false, calendarInvites: true },
  create: (ctx, { settings, credentials }) => createSesNotifier(ctx, { settings, credentials }),
});
