import twilio from 'twilio';
import { DateTime } from 'luxon';
import type { AppConfig } from '../config.js';
import { ServiceLaneError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import { metrics } from '../observability/metrics.js';
import type { PluginRegistry } from '../registry/registry.js';
import type { DealershipConfig, Weekday } from '../tenancy/config.js';
import type { Tenant, TenantService } from '../tenancy/tenants.js';
import { signingAccountFor } from './signing-account.js';

/**
 * Inbound voicemail (docs/voicemail.md). A caller reaches `<Record>` two ways: the dealership is closed and its
 * config says `voicemail.whenClosed`, or the assistant's `leave_message` tool hands the live call over. Twilio
 * then posts the signed recording status callback (`/twilio/recording`); the tenant comes from the CallSid's
 * route (never the body), the RecordingUrl must be the Twilio API's own URL for that account and recording (no
 * fetch to any other host), the task is stored first, and the download (account credentials, Basic auth) and
 * the transcription (the tenant's STT plugin, pre-recorded mode) fill it in afterwards.
 */

const WEEKDAYS: readonly Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const DEFAULT_MAX_LENGTH_SEC = 120;
const FETCH_TIMEOUT_MS = 15_000;
const TRANSCRIBE_TIMEOUT_MS = 60_000;
/** Larger than a 10-minute WAV at 8 kHz/16-bit (9.6 MB): anything bigger is not what <Record> produced. */
const MAX_RECORDING_BYTES = 12 * 1024 * 1024;
const RECORDING_PATH = /^\/2010-04-01\/Accounts\/(AC[0-9a-fA-F]{32})\/Recordings\/(RE[0-9a-fA-F]{32})$/;
const RECORDING_SID = /^RE[0-9a-fA-F]{32}$/;
/** The only host a RecordingUrl may name. */
export const TWILIO_API_HOST = 'api.twilio.com';

/** The state key `leave_message` sets (core/tools/voicemail-tools.ts): hand this call to <Record> instead of hanging up. */
export const voicemailRequestKey = (callSid: string): string => `vmreq:${callSid}`;
export const VOICEMAIL_REQUEST_TTL_SEC = 3600;

/** Whether the dealership is closed at `now`: a holiday, a day without hours, or outside every interval. */
export function isClosed(config: Pick<DealershipConfig, 'timezone' | 'businessHours' | 'holidays'>, now: Date): boolean {
  const local = DateTime.fromJSDate(now, { zone: config.timezone });
  if ((config.holidays ?? []).includes(local.toISODate() ?? '')) return true;
  const intervals = config.businessHours[WEEKDAYS[local.weekday - 1]!] ?? [];
  const hhmm = local.toFormat('HH:mm');
  return !intervals.some((i) => hhmm >= i.open && hhmm < i.close);
}

/** Whether an inbound call should go straight to voicemail (default off: the assistant answers around the clock). */
export function voicemailWhenClosed(config: DealershipConfig, now: Date): boolean {
  return config.voicemail?.whenClosed === true && isClosed(config, now);
}

/** `<Say>` then `<Record>`: the status callback carries the recording; `action` only ends the call politely. */
export function recordTwiml(o: { publicBaseUrl: string; config: DealershipConfig; reason: 'closed' | 'requested' }): string {
  const base = o.publicBaseUrl.replace(/\/$/, '');
  const vr = new twilio.twiml.VoiceResponse();
  const greeting = o.config.voicemail?.greeting ?? (o.reason === 'closed'
    ? `Thank you for calling ${o.config.name}. We are closed right now. Please leave your name, number and message after the tone, and we will call you back.`
    : 'Please leave your message after the tone. Press the pound key when you are done.');
  vr.say(greeting);
  vr.record({
    // Without an action Twilio re-requests the current document (the voice webhook) when recording ends.
    action: `${base}/twilio/voicemail-done`, method: 'POST',
    maxLength: o.config.voicemail?.maxLengthSec ?? DEFAULT_MAX_LENGTH_SEC, timeout: 5, finishOnKey: '#', playBeep: true, trim: 'trim-silence',
    recordingStatusCallback: `${base}/twilio/recording`, recordingStatusCallbackMethod: 'POST', recordingStatusCallbackEvent: ['completed', 'absent'],
  });
  // Reached only when nothing was recorded (an empty recording skips `action`).
  vr.say('We did not receive a message. Goodbye.');
  vr.hangup();
  return vr.toString();
}

export function voicemailDoneTwiml(): string {
  const vr = new twilio.twiml.VoiceResponse();
  vr.say('Thank you. We will call you back. Goodbye.');
  vr.hangup();
  return vr.toString();
}

type Body = Record<string, string | undefined>;

/**
 * The Twilio path of a RecordingUrl, when it is exactly `https://api.twilio.com/2010-04-01/Accounts/{the
 * signed AccountSid}/Recordings/{the signed RecordingSid}`; anything else (another host, port, userinfo, query,
 * another account's recording) is TEL_ERR_RECORDING_INVALID and is never fetched.
 */
export function recordingPath(o: { recordingUrl: string | undefined; accountSid: string | undefined; recordingSid: string | undefined }): string {
  const invalid = (why: string) => new ServiceLaneError('TEL_ERR_RECORDING_INVALID', `recording callback refused: ${why}`);
  if (!o.recordingSid || !RECORDING_SID.test(o.recordingSid)) throw invalid('RecordingSid is malformed');
  let u: URL;
  try { u = new URL(o.recordingUrl ?? ''); } catch { throw invalid('RecordingUrl is not a URL'); }
  if (u.protocol !== 'https:' || u.hostname !== TWILIO_API_HOST || u.port !== '' || u.username || u.password || u.search || u.hash) {
    throw invalid('RecordingUrl is not a Twilio API URL');
  }
  const m = RECORDING_PATH.exec(u.pathname);
  if (!m || m[1] !== o.accountSid || m[2] !== o.recordingSid) throw invalid('RecordingUrl names another account or recording');
  return u.pathname;
}

export interface VoicemailDeps { cfg: AppConfig; tenants: TenantService; registry: PluginRegistry; logger: Logger }

/** Handles recording status callbacks: stores the task, then downloads and transcribes in the background. */
export class Voicemail {
  private readonly inflight = new Set<Promise<void>>();

  constructor(private readonly o: VoicemailDeps) {}

  /**
   * Called by the signed `/twilio/recording` route with the verified tenant. Returns the task id when a new
   * voicemail task was stored, null when there was nothing to store (no recording, unknown call, a repeat).
   * Throws TEL_ERR_RECORDING_INVALID before writing anything when the RecordingUrl is not Twilio's.
   */
  async onRecordingStatus(o: { tenant: Tenant | null; body: Body }): Promise<string | null> {
    const b = o.body;
    if (b.RecordingStatus !== 'completed') {
      metrics.voicemails.inc({ outcome: 'absent' });
      this.o.logger.info({ tenantId: o.tenant?.id, callSid: b.CallSid, status: b.RecordingStatus, errorCode: b.ErrorCode }, 'voicemail recording absent or failed');
      return null;
    }
    let path: string;
    try {
      path = recordingPath({ recordingUrl: b.RecordingUrl, accountSid: b.AccountSid, recordingSid: b.RecordingSid });
    } catch (e) {
      metrics.voicemails.inc({ outcome: 'invalid_url' });
      this.o.logger.warn({ tenantId: o.tenant?.id, callSid: b.CallSid, code: 'TEL_ERR_RECORDING_INVALID' }, 'recording callback with a foreign or malformed RecordingUrl refused');
      throw e;
    }
    const tenant = o.tenant;
    if (!tenant) { metrics.voicemails.inc({ outcome: 'unknown_call' }); return null; }
    const duration = Number.parseInt(b.RecordingDuration ?? '', 10);
    const id = await this.o.tenants.withTenant(tenant.id, async (trx) => {
      const call = await trx('calls').where({ call_sid: b.CallSid ?? '' }).first('id', 'from_number') as { id: string; from_number: string | null } | undefined;
      const rows = await trx('callback_tasks').insert({
        call_id: call?.id ?? null, phone: call?.from_number ?? null, reason: 'voicemail', source: 'voicemail',
        recording_sid: b.RecordingSid, recording_url: `https://${TWILIO_API_HOST}${path}`,
        recording_duration_sec: Number.isFinite(duration) && duration >= 0 ? duration : null, transcript_status: 'pending',
      }).onConflict(trx.raw('(recording_sid) where recording_sid is not null')).ignore().returning('id') as { id: string }[];
      return rows[0]?.id ?? null;
    });
    if (!id) { metrics.voicemails.inc({ outcome: 'duplicate' }); return null; }
    metrics.voicemails.inc({ outcome: 'recorded' });
    this.o.logger.info({ tenantId: tenant.id, callSid: b.CallSid, taskId: id }, 'voicemail stored; transcribing');
    const p = this.transcribe({ tenant, taskId: id, path }).finally(() => this.inflight.delete(p));
    this.inflight.add(p);
    return id;
  }

  /** Downloads the WAV with the account's credentials and fills in the task's transcript. Never throws. */
  private async transcribe(o: { tenant: Tenant; taskId: string; path: string }): Promise<void> {
    const { tenant } = o;
    const set = (v: Record<string, unknown>) => this.o.tenants.withTenant(tenant.id, (trx) => trx('callback_tasks').where({ id: o.taskId }).update(v));
    try {
      const account = await signingAccountFor({ cfg: this.o.cfg, tenants: this.o.tenants, tenant });
      if (!account.accountSid || !account.authToken) throw new ServiceLaneError('TEL_ERR_PROVIDER', 'no Twilio account to download the recording with');
      // Fixed origin: Twilio's API (or TWILIO_API_BASE_URL, the tests' fake); the path was checked above.
      const origin = (this.o.cfg.twilio.apiBaseUrl ?? `https://${TWILIO_API_HOST}`).replace(/\/$/, '');
      const res = await fetch(`${origin}${o.path}.wav`, {
        headers: { authorization: `Basic ${Buffer.from(`${account.accountSid}:${account.authToken}`).toString('base64')}` },
        redirect: 'error', signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
      });
      if (!res.ok) throw new ServiceLaneError('TEL_ERR_PROVIDER', `recording download failed (${res.status})`);
      const audio = new Uint8Array(await res.arrayBuffer());
      if (audio.length > MAX_RECORDING_BYTES) throw new ServiceLaneError('TEL_ERR_PROVIDER', 'recording larger than any <Record> produces');
      const stt = await this.o.registry.tryGet(tenant.id, 'stt');
      if (!stt?.transcribe) {
        metrics.voicemails.inc({ outcome: 'transcribe_failed' });
        await set({ transcript_status: 'failed' });
        this.o.logger.warn({ tenantId: tenant.id, taskId: o.taskId }, 'voicemail kept without a transcript: the STT plugin cannot transcribe recordings');
        return;
      }
      const t = await stt.transcribe({ audio, contentType: res.headers.get('content-type') ?? 'audio/x-wav', signal: AbortSignal.timeout(TRANSCRIBE_TIMEOUT_MS) });
      await set({ transcript: t.text.slice(0, 20_000), transcript_language: t.language ?? null, transcript_status: t.text ? 'done' : 'empty' });
      metrics.voicemails.inc({ outcome: 'transcribed' });
      this.o.logger.info({ tenantId: tenant.id, taskId: o.taskId, language: t.language, pii: { transcript: t.text } }, 'voicemail transcribed');
    } catch (e) {
      metrics.voicemails.inc({ outcome: (e as { code?: string }).code === 'TEL_ERR_PROVIDER' ? 'fetch_failed' : 'transcribe_failed' });
      this.o.logger.warn({ tenantId: tenant.id, taskId: o.taskId, err: (e as Error).message }, 'voicemail kept without a transcript');
      await set({ transcript_status: 'failed' }).catch((err: Error) => this.o.logger.error({ tenantId: tenant.id, taskId: o.taskId, err: err.message }, 'could not mark voicemail transcript failed'));
    }
  }

  /** Waits for transcriptions in progress (shutdown, tests). */
  async idle(): Promise<void> {
    while (this.inflight.size) await Promise.allSettled([...this.inflight]);
  }
}
