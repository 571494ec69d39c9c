// Fake Twilio webhook driver: builds the form params Twilio posts (voice, status, AMD, stream status)
// and signs them with the SDK's own algorithm against the app's PUBLIC url, which is what the app
// must validate against even though the request reaches it on a loopback address.
import { randomBytes } from 'node:crypto';
import twilio from 'twilio';

export type WebhookParams = Record<string, string>;

export function newSid(prefix: string): string {
  return prefix + randomBytes(16).toString('hex');
}

/** `Tue, 31 Aug 2010 20:36:28 +0000`, the date format of Twilio's v2010 API and its callbacks. */
export function rfc2822(d: Date): string {
  return d.toUTCString().replace('GMT', '+0000');
}

/** X-Twilio-Signature for a form webhook: HMAC-SHA1 over the full public URL plus sorted params. */
export function signTwilioWebhook(opts: { authToken: string; url: string; params: WebhookParams }): string {
  return twilio.getExpectedTwilioSignature(opts.authToken, opts.url, opts.params);
}

export interface PostWebhookOptions {
  /** Where the request is actually sent, e.g. the app's `http://127.0.0.1:<port>`. */
  baseUrl: string;
  /** PUBLIC_BASE_URL the app validates against, e.g. `https://agent.example.com`. */
  publicUrl: string;
  /** Path plus optional query, e.g. `/twilio/voice`. */
  path: string;
  params: WebhookParams;
  authToken: string;
  headers?: Record<string, string>;
  /** Sent as I-Twilio-Idempotency-Token (Twilio sets it on retries of the same event). */
  idempotencyToken?: string;
  /** Override the computed signature (e.g. a bad one); null omits the header. */
  signature?: string | null;
  method?: 'POST' | 'GET';
}

export interface WebhookResponse {
  status: number;
  body: string;
  headers: Headers;
  /** The signature that was sent (undefined when omitted). */
  signature?: string;
}

/** Form-encode, sign and POST a webhook the way Twilio does. */
export async function postWebhook(opts: PostWebhookOptions): Promise<WebhookResponse> {
  const method = opts.method ?? 'POST';
  const publicUrl = opts.publicUrl.replace(/\/$/, '') + opts.path;
  const form = new URLSearchParams(opts.params).toString();
  // Twilio signs GET webhooks over the URL with the params in its query string and no body params.
  const signedUrl = method === 'GET' ? publicUrl + (publicUrl.includes('?') ? '&' : '?') + form : publicUrl;
  const signature = opts.signature === undefined
    ? signTwilioWebhook({ authToken: opts.authToken, url: signedUrl, params: method === 'GET' ? {} : opts.params })
    : opts.signature ?? undefined;
  const headers: Record<string, string> = {
    'content-type': 'application/x-www-form-urlencoded',
    'user-agent': 'TwilioProxy/1.1',
    accept: '*/*',
    ...(signature !== undefined ? { 'x-twilio-signature': signature } : {}),
    ...(opts.idempotencyToken ? { 'i-twilio-idempotency-token': opts.idempotencyToken } : {}),
    ...opts.headers,
  };
  const target = opts.baseUrl.replace(/\/$/, '') + opts.path;
  const res = method === 'GET'
    ? await fetch(target + (target.includes('?') ? '&' : '?') + form, { method, headers })
    : await fetch(target, { method, headers, body: form });
  return { status: res.status, body: await res.text(), headers: res.headers, signature };
}

export interface CallParamsBase {
  accountSid: string;
  callSid?: string;
  from: string;
  to: string;
}

/** The params of the voice webhook Twilio posts when a call reaches a number (inbound by default). */
export function voiceWebhookParams(o: CallParamsBase & { callStatus?: string; direction?: string; extra?: WebhookParams }): WebhookParams {
  const direction = o.direction ?? 'inbound';
  return {
    AccountSid: o.accountSid,
    ApiVersion: '2010-04-01',
    CallSid: o.callSid ?? newSid('CA'),
    CallStatus: o.callStatus ?? 'ringing',
    ...(direction === 'inbound' ? { CallToken: randomBytes(24).toString('hex') } : {}),
    Called: o.to,
    CalledCity: '',
    CalledCountry: 'US',
    CalledState: '',
    CalledZip: '',
    Caller: o.from,
    CallerCity: '',
    CallerCountry: 'US',
    CallerState: '',
    CallerZip: '',
    Direction: direction,
    From: o.from,
    FromCity: '',
    FromCountry: 'US',
    FromState: '',
    FromZip: '',
    StirVerstat: 'TN-Validation-Passed-A',
    To: o.to,
    ToCity: '',
    ToCountry: 'US',
    ToState: '',
    ToZip: '',
    ...o.extra,
  };
}

/** A call-progress statusCallback (`CallStatus` initiated/ringing/in-progress/completed/busy/no-answer/failed/canceled). */
export function statusCallbackParams(o: CallParamsBase & {
  callStatus: string;
  sequenceNumber: number;
  direction?: string;
  /** Seconds; sets CallDuration and Duration (minutes, rounded up) on terminal statuses. */
  callDuration?: number;
  timestamp?: Date;
  answeredBy?: string;
  sipResponseCode?: string;
  extra?: WebhookParams;
}): WebhookParams {
  const p: WebhookParams = {
    AccountSid: o.accountSid,
    ApiVersion: '2010-04-01',
    CallSid: o.callSid ?? newSid('CA'),
    CallStatus: o.callStatus,
    CallbackSource: 'call-progress-events',
    Called: o.to,
    Caller: o.from,
    Direction: o.direction ?? 'outbound-api',
    From: o.from,
    SequenceNumber: String(o.sequenceNumber),
    Timestamp: rfc2822(o.timestamp ?? new Date()),
    To: o.to,
  };
  if (o.callDuration !== undefined) {
    p.CallDuration = String(o.callDuration);
    p.Duration = String(Math.ceil(o.callDuration / 60));
  }
  if (o.answeredBy !== undefined) p.AnsweredBy = o.answeredBy;
  if (o.sipResponseCode !== undefined) p.SipResponseCode = o.sipResponseCode;
  else if (['completed', 'busy', 'no-answer', 'failed', 'canceled'].includes(o.callStatus)) {
    p.SipResponseCode = { completed: '200', busy: '486', 'no-answer': '487', failed: '500', canceled: '487' }[o.callStatus] ?? '200';
  }
  return { ...p, ...o.extra };
}

/** The async AMD callback (`AnsweredBy`: human, machine_start, machine_end_beep, …, fax, unknown). */
export function amdCallbackParams(o: { accountSid: string; callSid: string; answeredBy: string; machineDetectionDuration?: number }): WebhookParams {
  return {
    AccountSid: o.accountSid,
    AnsweredBy: o.answeredBy,
    CallSid: o.callSid,
    MachineDetectionDuration: String(o.machineDetectionDuration ?? 2400),
  };
}

/** The <Stream statusCallback> POST (`StreamEvent`: stream-started, stream-stopped, stream-error). */
export function streamStatusParams(o: { accountSid: string; callSid: string; streamSid: string; streamEvent: string; streamName?: string; streamError?: string; timestamp?: Date }): WebhookParams {
  const p: WebhookParams = {
    AccountSid: o.accountSid,
    CallSid: o.callSid,
    StreamSid: o.streamSid,
    StreamName: o.streamName ?? o.streamSid,
    StreamEvent: o.streamEvent,
    Timestamp: (o.timestamp ?? new Date()).toISOString(),
  };
  if (o.streamError !== undefined) p.StreamError = o.streamError;
  return p;
}

/** The <Record recordingStatusCallback> POST (`RecordingStatus`: in-progress, completed, absent, failed). */
export function recordingStatusParams(o: {
  accountSid: string; callSid: string; recordingSid: string; recordingUrl: string;
  status?: 'in-progress' | 'completed' | 'absent' | 'failed'; durationSec?: number; errorCode?: string; startTime?: Date;
}): WebhookParams {
  const p: WebhookParams = {
    AccountSid: o.accountSid,
    CallSid: o.callSid,
    RecordingSid: o.recordingSid,
    RecordingUrl: o.recordingUrl,
    RecordingStatus: o.status ?? 'completed',
    RecordingDuration: String(o.durationSec ?? 5),
    RecordingChannels: '1',
    RecordingStartTime: rfc2822(o.startTime ?? new Date()),
    RecordingSource: 'RecordVerb',
    RecordingTrack: 'both',
  };
  if (o.errorCode !== undefined) p.ErrorCode = o.errorCode;
  return p;
}
