import { DateTime } from 'luxon';
import type { Logger } from '../observability/logger.js';
import type { SttProvider, TtsProvider } from '../sdk/index.js';
import type { StateStore } from '../state/store.js';
import type { DealershipConfig } from '../tenancy/config.js';
import { insertCallbackTask } from '../tools/callback-tasks.js';
import { CallMeter, meterLlm, meterStt, meterTools, meterTts, type DeltaStream } from './call-meter.js';
import { LeaseStore } from './leases.js';
import { CallLimits, LEASE_TTL_MS, type Admission } from './limits.js';
import { usageMetrics } from './metrics.js';
import type { WithTenant } from '../tenancy/with-tenant.js';


/** The tenant facts usage needs (core/tenancy's Tenant satisfies it). */
export interface UsageTenant { id: string; name: string; config: DealershipConfig | null }

export interface UsageServiceInit {
  state: StateStore;
  tenants: { getActive(id: string): Promise<UsageTenant>; withTenant: WithTenant };
  logger: Logger;
  clock?: () => Date;
}

/** What an outbound dialer gets back from {@link UsageService.allowOutbound}. */
export type OutboundPermit =
  | {
    allowed: true;
    /** After Twilio returned the CallSid: the slot now belongs to the call (its voice session renews it). */
    bind(callSid: string): Promise<void>;
    /** The call was not placed after all: frees the slot at once (otherwise it expires by itself). */
    release(): Promise<void>;
  }
  | { allowed: false; code: 'USG_ERR_CONCURRENT_CALLS' | 'USG_ERR_MONTHLY_MINUTES'; retryAfterSec: number };

/** What telephony's voice webhook gets: go ahead, or what to say instead. */
export type InboundVerdict = { admitted: true } | { admitted: false; code: string; say: string };

export interface MeterCallInput {
  tenantId: string;
  callSid: string;
  callId: string;
  direction: 'inbound' | 'outbound';
  pluginIds: { stt: string; llm: string; tts: string };
  model?: string;
}

/** One metered call: wrap its providers, then `close` once its session has cleaned up. */
export interface MeteredCall {
  readonly meter: CallMeter;
  stt(p: SttProvider): SttProvider;
  tts(p: TtsProvider): TtsProvider;
  llm<A>(s: DeltaStream<A>): DeltaStream<A>;
  tools<T extends { execute: (...a: never[]) => Promise<unknown> }>(t: T): T;
  close(o: { reason: string }): Promise<void>;
}

/** Retry hint for an outbound call held by a limit: a slot frees when a call ends; a month ends once. */
const CONCURRENT_RETRY_SEC = 60;

/**
 * Usage metering and per-tenant limits (docs/usage.md). Voice hands each call's providers to
 * {@link meterCall} (counters on the hot path, one row at the end); telephony asks {@link admitInbound}
 * before minting a media stream; the outbound dialer asks {@link allowOutbound} before placing a call.
 */
export class UsageService {
  readonly leases: LeaseStore;
  readonly limits: CallLimits;
  /** Usage rows being written: shutdown waits for them before the database goes (see flush). */
  private readonly writing = new Set<Promise<void>>();

  constructor(private readonly o: UsageServiceInit) {
    this.leases = new LeaseStore({ state: o.state, clock: o.clock ? () => o.clock!().getTime() : undefined });
    // A method of TenantService: called through the object, never detached.
    this.limits = new CallLimits({ leases: this.leases, withTenant: (id, fn) => o.tenants.withTenant(id, fn), logger: o.logger, clock: o.clock });
  }

  /**
   * The voice webhook's question for an inbound call whose row exists. Over a limit: a callback task is
   * stored (when the caller's number is known), the call row gets outcome `over_limit`, and the answer says
   * what the caller should hear; telephony turns that into TwiML (with the transfer, when configured).
   */
  async admitInbound(o: { tenantId: string; callSid: string; from: string | null }): Promise<InboundVerdict> {
    const t = await this.o.tenants.getActive(o.tenantId);
    if (!t.config) return { admitted: true };
    const a = await this.limits.admit({ tenantId: t.id, config: t.config, leaseId: o.callSid, direction: 'inbound' });
    if (a.ok) return { admitted: true };
    this.o.logger.info({ code: a.code, tenantId: t.id, callSid: o.callSid, ...a.detail }, 'inbound call over a usage limit; polite line instead of the agent');
    try {
      await this.o.tenants.withTenant(t.id, async (trx) => {
        if (o.from) await insertCallbackTask(trx, { callSid: o.callSid, phone: o.from, reason: `usage_limit:${a.limit}` });
        await trx('calls').where({ call_sid: o.callSid }).update({ outcome: 'over_limit' });
      });
    } catch (e) {
      this.o.logger.error({ tenantId: t.id, callSid: o.callSid, err: (e as Error).message }, 'over-limit callback task could not be stored');
    }
    const name = t.config.name || t.name;
    const say = o.from
      ? `Thank you for calling ${name}. All of our lines are busy right now. We have your number, and someone from our service team will call you back shortly. Goodbye.`
      : `Thank you for calling ${name}. All of our lines are busy right now. Please call again in a little while. Goodbye.`;
    return { admitted: false, code: a.code, say };
  }

  /**
   * Twilio's final status for a call: frees its concurrent-call lease, so a caller who hung up before the
   * media stream connected doesn't hold a slot until the lease expires. Never fails the webhook.
   */
  async callEnded(o: { tenantId: string; callSid: string }): Promise<void> {
    await this.leases.release({ tenantId: o.tenantId, id: o.callSid })
      .catch((e: unknown) => this.o.logger.warn({ tenantId: o.tenantId, callSid: o.callSid, err: (e as Error).message }, 'usage lease release failed; it expires by itself'));
  }

  /**
   * For the outbound dialer, before it places a call: checks the monthly cap and takes a concurrent-call
   * slot under `key` (any id unique to this attempt, e.g. `reminder:<attemptId>`). Not allowed → wait
   * `retryAfterSec` and ask again; nothing was taken. Allowed → `bind(callSid)` once Twilio answered with the
   * CallSid, or `release()` when placing failed.
   */
  async allowOutbound(o: { tenantId: string; key: string }): Promise<OutboundPermit> {
    const t = await this.o.tenants.getActive(o.tenantId);
    const leaseId = `outbound:${o.key}`;
    const a: Admission = t.config ? await this.limits.admit({ tenantId: t.id, config: t.config, leaseId, direction: 'outbound' }) : { ok: true, leased: false };
    if (!a.ok) {
      const retryAfterSec = a.limit === 'monthly_minutes' ? this.secondsToNextMonth(t.config!.timezone) : CONCURRENT_RETRY_SEC;
      return { allowed: false, code: a.code, retryAfterSec };
    }
    const leased = a.leased;
    return {
      allowed: true,
      bind: async (callSid) => { if (leased) await this.leases.rebind({ tenantId: t.id, from: leaseId, to: callSid, ttlMs: LEASE_TTL_MS }); },
      release: async () => { if (leased) await this.leases.release({ tenantId: t.id, id: leaseId }); },
    };
  }

  private secondsToNextMonth(zone: string): number {
    const now = this.o.clock ? this.o.clock() : new Date();
    const next = DateTime.fromJSDate(now).setZone(zone).startOf('month').plus({ months: 1 });
    return Math.max(60, Math.ceil((next.toMillis() - now.getTime()) / 1000));
  }

  /**
   * Meters one call: its providers are wrapped so the session counts without knowing it, its lease (if
   * any) is renewed while it lives, and `close` writes the tenant's call_usage row and the Prometheus totals.
   */
  meterCall(c: MeterCallInput): MeteredCall {
    const meter = new CallMeter();
    const startedAt = this.o.clock ? this.o.clock() : new Date();
    const lease = { tenantId: c.tenantId, id: c.callSid, ttlMs: LEASE_TTL_MS };
    const renew = setInterval(() => {
      this.leases.renew(lease).then(
        // No lease to renew (the tenant has no concurrency cap, or it ran out during an outage): stop asking.
        (held) => { if (!held) clearInterval(renew); },
        (e: unknown) => this.o.logger.warn({ tenantId: c.tenantId, callSid: c.callSid, err: (e as Error).message }, 'usage lease renewal failed; it expires unless the next one succeeds'),
      );
    }, LEASE_TTL_MS / 3);
    renew.unref();
    usageMetrics.activeCalls.inc({ tenant: c.tenantId });
    let closed = false;
    return {
      meter,
      stt: (p) => meterStt(p, meter),
      tts: (p) => meterTts(p, meter),
      llm: (s) => meterLlm(s, meter),
      tools: (t) => meterTools(t, meter),
      close: async ({ reason }) => {
        if (closed) return;
        closed = true;
        clearInterval(renew);
        usageMetrics.activeCalls.dec({ tenant: c.tenantId });
        const endedAt = this.o.clock ? this.o.clock() : new Date();
        const done = Promise.all([
          this.record({ c, meter, startedAt, endedAt, reason }),
          this.leases.release(lease).catch((e: unknown) => this.o.logger.warn({ tenantId: c.tenantId, callSid: c.callSid, err: (e as Error).message }, 'usage lease release failed; it expires by itself')),
        ]).then(() => undefined);
        this.writing.add(done);
        try { await done; } finally { this.writing.delete(done); }
      },
    };
  }

  /**
   * Waits for usage rows still being written. Shutdown runs it after voice has drained its calls (each call's
   * row is started as its session ends) and before the database pool closes, so a drained call is metered.
   */
  async flush(): Promise<void> {
    await Promise.allSettled([...this.writing]);
  }

  private async record(o: { c: MeterCallInput; meter: CallMeter; startedAt: Date; endedAt: Date; reason: string }): Promise<void> {
    const { c, meter: m } = o;
    const telephonyMs = Math.max(0, o.endedAt.getTime() - o.startedAt.getTime());
    const tenant = c.tenantId;
    usageMetrics.calls.inc({ tenant, direction: c.direction });
    usageMetrics.telephonySeconds.inc({ tenant, direction: c.direction }, telephonyMs / 1000);
    usageMetrics.sttSeconds.inc({ tenant, provider: c.pluginIds.stt }, m.sttAudioMs / 1000);
    usageMetrics.llmTokens.inc({ tenant, provider: c.pluginIds.llm, kind: 'prompt' }, m.llmPromptTokens);
    usageMetrics.llmTokens.inc({ tenant, provider: c.pluginIds.llm, kind: 'completion' }, m.llmCompletionTokens);
    usageMetrics.ttsChars.inc({ tenant, provider: c.pluginIds.tts }, m.ttsChars);
    usageMetrics.toolCalls.inc({ tenant }, m.toolCalls);
    try {
      await this.o.tenants.withTenant(tenant, (trx) => trx('call_usage').insert({
        call_id: c.callId, call_sid: c.callSid, direction: c.direction, started_at: o.startedAt, ended_at: o.endedAt,
        telephony_ms: telephonyMs, stt_audio_ms: m.sttAudioMs, llm_prompt_tokens: m.llmPromptTokens, llm_completion_tokens: m.llmCompletionTokens,
        llm_requests: m.llmRequests, tts_chars: m.ttsChars, tool_calls: m.toolCalls,
        stt_provider: c.pluginIds.stt, llm_provider: c.pluginIds.llm, llm_model: c.model ?? '', tts_provider: c.pluginIds.tts, end_reason: o.reason,
      }).onConflict('call_id').ignore());
    } catch (e) {
      usageMetrics.writeFailures.inc();
      this.o.logger.error({ tenantId: tenant, callSid: c.callSid, err: (e as Error).message, usage: { telephonyMs, sttAudioMs: m.sttAudioMs, prompt: m.llmPromptTokens, completion: m.llmCompletionTokens, ttsChars: m.ttsChars, toolCalls: m.toolCalls } }, 'call usage row could not be written; figures are in this line');
    }
  }
}
