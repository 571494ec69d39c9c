import type { Knex } from 'knex';
import { parsePhoneNumberFromString } from 'libphonenumber-js';
import type { Jobs } from '../jobs/jobs.js';
import type { Logger } from '../observability/logger.js';
import { metrics } from '../observability/metrics.js';
import type { PluginRegistry } from '../registry/registry.js';
import { isPluginError } from '../sdk/errors.js';
import type { TelephonyProvider } from '../sdk/index.js';
import { isTerminal, statusRank } from '../telephony/call-state.js';
import type { OutboundCallHooks, StatusVerdict } from '../telephony/outbound-webhooks.js';
import type { Tenant, TenantService } from '../tenancy/tenants.js';
import type { OutboundPermit } from '../usage/usage-service.js';
import { LEGAL_WINDOW, nextAllowedTime, type CallWindowPolicy } from './call-window.js';
import type { OutboundLimits } from './call-limits.js';
import type { OutboundDialer } from './reminder-job.js';
import { reminderPolicy } from './reminder-schedule.js';
import { primaryLanguage } from '../i18n/call-language.js';
import { REMINDER_LINES } from '../i18n/reminder-lines.js';

/**
 * Placing reminder calls, exactly once per attempt, and turning Twilio's callbacks into outcomes and retries
 * (docs/reminders.md, "Placing the call").
 *
 * Exactly once: the `outbound-calls` job writes the call intent on the attempt row (dial_key, dial_started_at) and
 * commits BEFORE it asks the provider to create the call, then records the SID. A job that finds an intent without
 * a SID (its worker died between the two, or the request timed out) never calls again blindly: it lists the
 * provider's calls from the dealership's number to the customer since the intent, and adopts the one it finds;
 * only when none exists after `reconcileGraceMs` (long enough for the provider's list to show any call it created)
 * does it write a new intent and dial. Status callbacks carry the attempt in their server-issued URL, so a call
 * whose SID was never recorded is still tied to its attempt by its first callback.
 */
/** The call a dial left live (its SID), or null. */
type LiveCall = { callSid: string } | null;

export interface DialJob {
  tenantId: string; attemptId: string;
  /** Re-queue count while the tenant is at its concurrency cap. */
  n: number;
  /** Set when the drain's sweep re-queued a dial whose job was lost: its lease bucket, so each sweep is a new job id. */
  sweep?: number;
}

/** Outcomes after which the reminder is tried again (per the tenant's retry policy); anything else is final. */
const RETRYABLE = new Set(['no_answer', 'busy', 'failed']);
const MACHINE = new Set(['machine_start', 'machine_end_beep', 'machine_end_silence', 'machine_end_other']);
const STATUS_OUTCOME: Record<string, string> = { 'no-answer': 'no_answer', busy: 'busy', failed: 'failed', canceled: 'failed' };

interface AttemptFacts {
  id: string; reminder_id: string; appointment_id: string; attempt: number; outcome: string; call_sid: string | null;
  dial_started_at: Date | null; dial_tries: number; call_status_rank: number; ended_at: Date | null; amd_result: string | null;
  due_at: Date; rem_starts_at: Date; ignore_window: boolean; appt_status: string | null; appt_starts_at: Date | null; customer_phone: string | null;
  /** Whether the customer's number opted out of reminders. */
  opted_out: boolean;
  /** The number the tenant calls from (its first number), read with the attempt so a dial costs one round trip less. */
  caller_id: string | null;
}

/**
 * Everything a dial or a callback needs about an attempt, in one statement ($1 tenant id, $2 attempt id). Each
 * reminder call reads this a few times (the dial, each status callback), so it is one round trip, not four.
 */
const ATTEMPT_FACTS = `
  select a.id, a.reminder_id, a.appointment_id, a.attempt, a.outcome, a.call_sid, a.dial_started_at, a.dial_tries,
         a.call_status_rank, a.ended_at, a.amd_result, r.due_at, r.starts_at as rem_starts_at, r.ignore_window,
         p.status as appt_status, p.starts_at as appt_starts_at, p.customer_phone,
         exists (select 1 from reminder_opt_outs o where o.phone = p.customer_phone) as opted_out,
         (select n.e164 from platform.phone_numbers n where n.tenant_id = ? order by n.e164 limit 1) as caller_id
    from reminder_attempts a join reminders r on r.id = a.reminder_id left join appointments p on p.id = a.appointment_id
   where a.id = ?`;

export interface OutboundCallsOptions {
  tenants: TenantService;
  registry: Pick<PluginRegistry, 'tryGet'>;
  jobs: Jobs;
  limits: OutboundLimits;
  logger: Logger;
  publicBaseUrl: string;
  /** Calls created per second on the platform's Twilio account (TWILIO_CPS). */
  cps: number;
  /** The account the rate belongs to (the Twilio account SID; tenants on their own subaccount get their own). */
  platformAccount: string;
  clock?: () => Date;
  /** How old an intent without a call must be before a new call may be placed for it (default 60 s). */
  reconcileGraceMs?: number;
  /**
   * The tenant's usage limits (core/usage: `limits.maxConcurrentCalls` across inbound and outbound, monthly
   * minutes). Asked after the reminder slot and before the intent; a refusal re-queues the dial, never drops it.
   */
  usage?: { allowOutbound(o: { tenantId: string; key: string }): Promise<OutboundPermit> };
  /** Delay before a job blocked by the tenant's concurrency cap looks again (default 5 s). */
  capRetryMs?: number;
  /** Ring time before Twilio gives up with no-answer (default 25 s). */
  ringTimeoutSec?: number;
}

export class OutboundCalls implements OutboundDialer, OutboundCallHooks {
  private readonly clock: () => Date;
  private readonly voicemailText = new Map<string, string>();

  constructor(private readonly o: OutboundCallsOptions) {
    this.clock = o.clock ?? (() => new Date());
  }

  /** The worker's clock (tests fix it): what "now" means for send-now and the window checks. */
  now(): Date { return this.clock(); }

  register(jobs: Jobs): void {
    // Dial jobs mostly wait (the call-rate turn, Twilio's answer), so a worker runs many at once; the rate is the limit.
    jobs.register<DialJob>('outbound-calls', (d) => this.dial(d), { concurrency: 16 });
  }

  /** The runner's seam: queue the dial (durable; the job owns retries and reconciliation). No SID yet. */
  async place(o: { tenantId: string; attemptId: string }): Promise<{ callSid: string | null }> {
    await this.enqueue({ tenantId: o.tenantId, attemptId: o.attemptId, n: 0 }, 0);
    return { callSid: null };
  }

  /**
   * The drain's sweep (reminder-drain.ts): an attempt that is due with no call for a lease has lost its dial job (the
   * queue lost it, or the worker died between committing the attempt and queueing the dial). Queued again under a
   * new id per sweep; running it is safe even if the old job was only late: the intent (dial_key) is the guard, so
   * a second run finds the SID, or reconciles with the provider's call list before ever dialling.
   */
  redial(o: { tenantId: string; attemptId: string; sweep: number }): Promise<string> {
    return this.enqueue({ tenantId: o.tenantId, attemptId: o.attemptId, n: 0, sweep: o.sweep }, 0);
  }

  private enqueue(d: DialJob, delayMs: number): Promise<string> {
    const id = `dial-${d.tenantId}-${d.attemptId}-${d.sweep !== undefined ? `s${d.sweep}-` : ''}${d.n}`;
    return this.o.jobs.enqueue('outbound-calls', d, { jobId: id, delayMs, attempts: 8, backoffMs: 5_000 });
  }

  private async telephony(tenantId: string): Promise<TelephonyProvider | null> {
    return this.o.registry.tryGet(tenantId, 'telephony');
  }

  private async callerId(tenantId: string): Promise<string | null> {
    return (await this.o.tenants.listNumbers(tenantId))[0]?.e164 ?? null;
  }

  private async facts(trx: Knex.Transaction, tenantId: string, attemptId: string, lock: boolean): Promise<AttemptFacts | undefined> {
    return (await trx.raw(lock ? `${ATTEMPT_FACTS} for update of a` : ATTEMPT_FACTS, [tenantId, attemptId])).rows[0] as AttemptFacts | undefined;
  }

  private windowPolicy(tenant: Tenant, ignoreWindow: boolean): CallWindowPolicy {
    const cfg = tenant.config!;
    // A platform admin's ignoreWindow drops the dealership's window and closed days, never the legal hours.
    if (ignoreWindow) return { timezone: cfg.timezone, callWindow: { ...LEGAL_WINDOW } };
    return { timezone: cfg.timezone, callWindow: reminderPolicy(cfg).callWindow, businessHours: cfg.businessHours, holidays: cfg.holidays };
  }

  /** One run of the dial job. Idempotent: a rerun finds the SID, the intent, or a finished attempt. */
  async dial(d: DialJob): Promise<void> {
    const tenant = await this.o.tenants.find(d.tenantId);
    if (!tenant?.config) return;
    const policy = reminderPolicy(tenant.config);
    const slot = await this.o.limits.tryLiveSlot({ tenantId: tenant.id, attemptId: d.attemptId, limit: policy.maxConcurrentCalls });
    if (!slot.ok) {
      // Not waited for in the worker: that would hold a worker for one tenant while others could call.
      metrics.reminders.inc({ event: 'concurrency_wait' });
      await this.enqueue({ ...d, n: d.n + 1 }, this.o.capRetryMs ?? 5_000);
      return;
    }
    const permit = this.o.usage ? await this.o.usage.allowOutbound({ tenantId: tenant.id, key: `reminder:${d.attemptId}` }) : null;
    if (permit && !permit.allowed) {
      // Over a usage limit: the call waits (at most an hour between looks), it is not dropped or placed late at night:
      // the run after the wait re-checks the calling window like any other.
      metrics.reminders.inc({ event: 'usage_limit_wait' });
      this.o.logger.info({ tenantId: tenant.id, attemptId: d.attemptId, code: permit.code }, 'reminder call waits for the tenant usage limit');
      await this.o.limits.releaseLiveSlot({ tenantId: tenant.id, attemptId: d.attemptId });
      await this.enqueue({ ...d, n: d.n + 1 }, Math.min(permit.retryAfterSec, 3600) * 1000);
      return;
    }
    let live: LiveCall = null;
    try {
      live = await this.dialHoldingSlot(tenant, d);
    } finally {
      if (!live) await this.o.limits.releaseLiveSlot({ tenantId: tenant.id, attemptId: d.attemptId });
      if (permit?.allowed) await this.settlePermit(tenant.id, d.attemptId, live, permit);
    }
  }

  /** A live call takes the usage lease over (its voice session renews and ends it); otherwise it is freed now. */
  private async settlePermit(tenantId: string, attemptId: string, live: LiveCall, permit: Extract<OutboundPermit, { allowed: true }>): Promise<void> {
    await (live ? permit.bind(live.callSid) : permit.release())
      .catch((e: Error) => this.o.logger.warn({ tenantId, attemptId, err: e.message }, 'usage lease not settled; it expires by itself'));
  }

  /** The live call that now holds the tenant's slot, or null when none does (nothing placed, or it already ended). */
  private async dialHoldingSlot(tenant: Tenant, d: DialJob): Promise<LiveCall> {
    const log = this.o.logger.child({ tenantId: tenant.id, attemptId: d.attemptId });
    const tel = await this.telephony(tenant.id);
    const now = this.clock();
    type Plan = { kind: 'done'; live: LiveCall } | { kind: 'dial'; to: string; from: string; due: Date } | { kind: 'reconcile'; to: string; from: string | null; since: Date };
    const plan = await this.o.tenants.withTenant(tenant.id, async (trx): Promise<Plan> => {
      const f = await this.facts(trx, tenant.id, d.attemptId, true);
      if (!f) return { kind: 'done', live: null };
      if (f.call_sid) return { kind: 'done', live: f.ended_at ? null : { callSid: f.call_sid } };
      if (f.outcome !== 'due') return { kind: 'done', live: null };
      const from = f.caller_id;
      const finish = async (outcome: string, error?: string): Promise<Plan> => {
        await trx('reminder_attempts').where({ id: f.id }).update({ outcome, ...(error ? { dial_error: error } : {}), ended_at: trx.fn.now() });
        await trx('reminders').where({ id: f.reminder_id }).update({ outcome, updated_at: trx.fn.now() });
        metrics.reminderAttemptOutcomes.inc({ outcome, retry: 'no' });
        return { kind: 'done', live: null };
      };
      // An intent without a SID: a call may exist. Reconcile before anything else (the re-checks below must not
      // drop a call that was already placed from the record).
      if (f.dial_started_at) return { kind: 'reconcile', to: f.customer_phone ?? '', from, since: f.dial_started_at };
      // Re-checked here, right before the call: the appointment may have changed while the job waited.
      if (f.appt_status !== 'booked') return finish('skipped_appointment_cancelled');
      if (!f.appt_starts_at || f.appt_starts_at.getTime() !== f.rem_starts_at.getTime()) return finish('skipped_appointment_moved');
      if (!f.customer_phone) return finish('skipped_no_phone');
      if (f.opted_out) return finish('skipped_opted_out');
      if (!tel) return finish('failed', 'tenant has no telephony plugin');
      if (!from) return finish('failed', 'OUT_ERR_NO_CALLER_ID: tenant has no phone number to call from');
      const next = nextAllowedTime({ due: now, policy: this.windowPolicy(tenant, f.ignore_window) });
      if (!next || next.getTime() !== now.getTime()) {
        // The window closed while the job waited (a long backlog): back to the schedule, not called late.
        if (next && next.getTime() < (f.appt_starts_at?.getTime() ?? 0)) {
          await trx('reminder_attempts').where({ id: f.id }).update({ outcome: 'deferred', ended_at: trx.fn.now() });
          await trx('reminders').where({ id: f.reminder_id }).update({ status: 'scheduled', due_at: next, queued_until: null, window_deferrals: trx.raw('window_deferrals + 1'), updated_at: trx.fn.now() });
          return { kind: 'done', live: null };
        }
        return finish('skipped_window_after_appointment');
      }
      // The intent, committed before the provider hears of the call.
      await trx('reminder_attempts').where({ id: f.id }).update({
        dial_key: `${f.reminder_id}-${f.attempt}`, dial_started_at: now, dial_tries: f.dial_tries + 1,
      });
      return { kind: 'dial', to: f.customer_phone, from, due: f.due_at };
    });
    if (plan.kind === 'done') return plan.live;
    const from = plan.from;
    if (!tel || !from) throw new Error('telephony plugin or caller id vanished between the intent and the call'); // retried by the job

    if (plan.kind === 'reconcile') {
      const found = await tel.findCalls({ to: plan.to, from, createdAfter: new Date(plan.since.getTime() - 5_000) });
      const sids = found.map((c) => c.callSid);
      const taken = sids.length ? await this.o.tenants.withTenant(tenant.id, (trx) => trx('reminder_attempts').whereIn('call_sid', sids).pluck('call_sid')) as string[] : [];
      const mine = found.filter((c) => !taken.includes(c.callSid)).at(-1);
      if (mine) {
        await this.recordSid(tenant.id, d.attemptId, mine.callSid);
        metrics.reminderCallsPlaced.inc({ event: 'reconciled' });
        log.info({ callSid: mine.callSid }, 'reminder call found at the provider after a lost answer; not placed again');
        return isTerminal(mine.status) ? null : { callSid: mine.callSid };
      }
      if (now.getTime() - plan.since.getTime() < (this.o.reconcileGraceMs ?? 60_000)) {
        // Too early to know: the job's retry looks again.
        throw new Error('reminder call intent without a call yet; reconciling again later');
      }
      // Proven: no call was created. A new intent, then the call.
      const again = await this.o.tenants.withTenant(tenant.id, async (trx) => {
        const n = await trx('reminder_attempts').where({ id: d.attemptId, dial_started_at: plan.since }).whereNull('call_sid')
          .update({ dial_started_at: now, dial_tries: trx.raw('dial_tries + 1') });
        const f = await this.facts(trx, tenant.id, d.attemptId, false);
        return n === 1 && f ? { to: plan.to, due: f.due_at } : null;
      });
      if (!again) return null;
      log.warn({ since: plan.since.toISOString() }, 'no call found for an old reminder intent; placing it now');
      return this.create({ tenant, attemptId: d.attemptId, tel, from, to: again.to, due: again.due });
    }
    return this.create({ tenant, attemptId: d.attemptId, tel, from, to: plan.to, due: plan.due });
  }

  /** Places the call in the account's next turn; the SID comes back from here, so nothing reads it again. */
  private async create(o: { tenant: Tenant; attemptId: string; tel: TelephonyProvider; from: string; to: string; due: Date }): Promise<LiveCall> {
    const base = `${this.o.publicBaseUrl.replace(/\/$/, '')}/twilio/outbound/${o.tenant.id}/${o.attemptId}`;
    const ownAccount = o.tenant.config?.plugins.telephony?.credentialsRef ? `tenant-${o.tenant.id}` : this.o.platformAccount;
    let callSid: string;
    try {
      ({ result: { callSid } } = await this.o.limits.withCallTurn({ account: ownAccount, cps: this.o.cps }, () => o.tel.placeCall({
        to: o.to, from: o.from, url: `${base}/voice`, statusCallbackUrl: `${base}/status`, amdCallbackUrl: `${base}/amd`,
        // No `initiated`: the REST answer already told us the call exists; each callback costs a request and a write.
        statusCallbackEvents: ['ringing', 'answered', 'completed'], machineDetection: true, timeoutSec: this.o.ringTimeoutSec ?? 25,
      })));
    } catch (e) {
      if (isPluginError(e) && !e.retryable) {
        // Refused for good (an invalid number, an unverified caller id): the attempt failed and the intent is void.
        metrics.reminderCallsPlaced.inc({ event: 'dial_failed' });
        this.o.logger.warn({ tenantId: o.tenant.id, attemptId: o.attemptId, err: e.message }, 'reminder call refused by the provider');
        await this.applyOutcome({ tenantId: o.tenant.id, attemptId: o.attemptId, callSid: null, status: 'failed', error: e.message });
        return null;
      }
      // Maybe created, maybe not: the intent stays, and the job's retry reconciles.
      throw e;
    }
    await this.recordSid(o.tenant.id, o.attemptId, callSid);
    metrics.reminderCallsPlaced.inc({ event: 'placed' });
    metrics.reminderQueueLag.observe(Math.max(0, this.clock().getTime() - o.due.getTime()) / 1000);
    this.o.logger.info({ tenantId: o.tenant.id, attemptId: o.attemptId, callSid }, 'reminder call placed');
    return { callSid };
  }

  /** The SID on the attempt and the call's route to its tenant (for the media stream), in one statement. */
  private async recordSid(tenantId: string, attemptId: string, callSid: string): Promise<void> {
    await this.o.tenants.withTenant(tenantId, (trx) => trx.raw(
      `with sid as (update reminder_attempts set call_sid = ?, placed_at = now() where id = ? and call_sid is null)
       insert into platform.call_routes (call_sid, tenant_id) values (?, ?) on conflict (call_sid) do nothing`,
      [callSid, attemptId, callSid, tenantId]));
  }

  // ---- callbacks (OutboundCallHooks), called by core/telephony/outbound-webhooks.ts after the signature check

  async attempt(o: { tenantId: string; attemptId: string }): Promise<{ callSid: string | null; to: string; from: string | null } | null> {
    const f = await this.o.tenants.withTenant(o.tenantId, (trx) => this.facts(trx, o.tenantId, o.attemptId, false));
    if (!f) return null;
    return { callSid: f.call_sid, to: f.customer_phone ?? '', from: f.caller_id };
  }

  async onStatus(o: { tenantId: string; attemptId: string; callSid: string; status: string }): Promise<StatusVerdict> {
    return this.applyOutcome({ ...o, error: null });
  }

  /**
   * Applies a call status to the attempt (monotonic: a late `ringing` after `completed` changes nothing) and to the
   * tenant's calls row of that call, and, on a final status, settles the outcome: the one already set (voicemail, or
   * the conversation's confirmed/…), else the status's (no_answer/busy/failed, or `answered` for a completed call).
   * Then a retry inside the window while the tenant's policy allows one, or the reminder's final outcome; the
   * live-call slot is released. The attempt is looked up here, not before (a status callback is the commonest
   * request of a reminder call): an unknown attempt or another call than the attempt's changes nothing and is said so.
   */
  private async applyOutcome(o: { tenantId: string; attemptId: string; callSid: string | null; status: string; error: string | null }): Promise<StatusVerdict> {
    const tenant = await this.o.tenants.find(o.tenantId);
    const rank = statusRank(o.status);
    if (!tenant) return 'unknown_attempt';
    if (rank === null) return 'applied'; // not a status that moves anything (the router refuses those before)
    if (!isTerminal(o.status)) {
      // Ringing, answered: only the call's progress moves (monotonic), on the attempt and on the tenant's calls row
      // (there once answered), in one statement; nothing else is decided. `a` is the attempt as it was; `mine` says
      // the callback is about its call (or it has none yet), and nothing is written otherwise.
      const { rows } = await this.o.tenants.withTenant(tenant.id, (trx) => trx.raw(
        `with a as (select call_sid from reminder_attempts where id = ?),
              mine as (select 1 from a where a.call_sid is null or ?::text is null or a.call_sid = ?::text),
              c as (update calls set status = ?, status_rank = ?
                     where ?::text is not null and call_sid = ?::text and status_rank < ? and exists (select 1 from mine)),
              u as (update reminder_attempts
                       set call_sid = coalesce(call_sid, ?::text), placed_at = case when call_sid is null and ?::text is not null then now() else placed_at end,
                           call_status = case when call_status_rank < ? then ? else call_status end, call_status_rank = greatest(call_status_rank, ?),
                           dial_error = coalesce(?, dial_error)
                     where id = ? and (call_sid is null or ?::text is null or call_sid = ?::text))
         select exists (select 1 from a) as found, exists (select 1 from mine) as mine`,
        [o.attemptId, o.callSid, o.callSid, o.status, rank, o.callSid, o.callSid, rank,
          o.callSid, o.callSid, rank, o.status, rank, o.error, o.attemptId, o.callSid, o.callSid])) as { rows: { found: boolean; mine: boolean }[] };
      return !rows[0]?.found ? 'unknown_attempt' : rows[0].mine ? 'applied' : 'call_mismatch';
    }
    const settled = await this.o.tenants.withTenant(tenant.id, async (trx): Promise<StatusVerdict | { outcome: string; retry: boolean }> => {
      const f = await this.facts(trx, tenant.id, o.attemptId, true);
      if (!f) return 'unknown_attempt';
      if (o.callSid && f.call_sid && f.call_sid !== o.callSid) return 'call_mismatch';
      // The tenant's calls row (created when answered) ends too, never moving back; in the same transaction as the
      // attempt, so a status callback costs one.
      if (o.callSid) {
        await trx('calls').where({ call_sid: o.callSid }).andWhere('status_rank', '<', rank)
          .update({ status: o.status, status_rank: rank, ended_at: trx.fn.now() });
      }
      const patch: Record<string, unknown> = {};
      if (o.callSid && !f.call_sid) Object.assign(patch, { call_sid: o.callSid, placed_at: trx.fn.now() });
      if (rank > f.call_status_rank) Object.assign(patch, { call_status: o.status, call_status_rank: rank });
      if (o.error) patch.dial_error = o.error;
      if (f.ended_at) {
        // Settled before (a repeated final callback): only the status may still move.
        if (Object.keys(patch).length) await trx('reminder_attempts').where({ id: f.id }).update(patch);
        return 'applied';
      }
      const outcome = f.outcome !== 'due' ? f.outcome
        : STATUS_OUTCOME[o.status] ?? (f.amd_result && MACHINE.has(f.amd_result) ? 'no_answer' : 'answered');
      Object.assign(patch, { outcome, ended_at: trx.fn.now() });
      await trx('reminder_attempts').where({ id: f.id }).update(patch);
      let retryAt: Date | null = null;
      const policy = tenant.config ? reminderPolicy(tenant.config) : null;
      if (policy && RETRYABLE.has(outcome) && f.attempt < policy.retry.maxAttempts && f.appt_status === 'booked' && f.appt_starts_at) {
        const next = nextAllowedTime({ due: new Date(this.clock().getTime() + policy.retry.intervalMin * 60_000), policy: this.windowPolicy(tenant, false) });
        if (next && next.getTime() < f.appt_starts_at.getTime()) retryAt = next;
      }
      if (retryAt) {
        // Back on the schedule: the drain queues it at retryAt and the runner re-checks everything, as for the first.
        await trx('reminders').where({ id: f.reminder_id }).update({ status: 'scheduled', due_at: retryAt, queued_until: null, updated_at: trx.fn.now() });
      } else {
        await trx('reminders').where({ id: f.reminder_id }).update({ outcome, updated_at: trx.fn.now() });
      }
      return { outcome, retry: retryAt !== null };
    });
    if (typeof settled === 'string') return settled;
    metrics.reminderAttemptOutcomes.inc({ outcome: settled.outcome, retry: settled.retry ? 'yes' : 'no' });
    await this.o.limits.releaseLiveSlot({ tenantId: o.tenantId, attemptId: o.attemptId });
    return 'applied';
  }

  async onAmd(o: { tenantId: string; attemptId: string; callSid: string; answeredBy: string }): Promise<void> {
    const tenant = await this.o.tenants.find(o.tenantId);
    if (!tenant?.config) return;
    const policy = reminderPolicy(tenant.config);
    const machine = MACHINE.has(o.answeredBy);
    // Who answered decides what the attempt will say it was; a conversation's own outcome is never overwritten.
    const outcome = machine ? (policy.voicemail ? 'voicemail' : 'no_answer') : o.answeredBy === 'fax' ? 'failed' : null;
    const changed = await this.o.tenants.withTenant(tenant.id, async (trx) => trx('reminder_attempts').where({ id: o.attemptId })
      .where((q) => q.whereNull('call_sid').orWhere('call_sid', o.callSid)).whereNull('amd_result')
      .update({
        amd_result: o.answeredBy, call_sid: o.callSid,
        // Written once, like the conversation's outcome (answered-reminder.ts): `outcome_at` keeps a conversation
        // that was talking to the machine from overwriting `voicemail` when its stream ends.
        ...(outcome ? {
          outcome: trx.raw(`case when outcome_at is null and outcome = 'due' then ? else outcome end`, [outcome]),
          outcome_at: trx.raw('coalesce(outcome_at, now())'),
        } : {}),
      }));
    if (!changed || !outcome) return;
    const tel = await this.telephony(tenant.id);
    if (!tel) return;
    if (outcome === 'voicemail') {
      // After the beep (DetectMessageEnd): the short message, then hang up. No appointment details: whoever plays
      // the mailbox back may not be the customer.
      const lines = REMINDER_LINES[primaryLanguage(tenant.config)];
      await tel.sayAndHangUp({ callSid: o.callSid, text: this.voicemail(tenant, await this.callerId(tenant.id)), language: lines.sayLanguage });
    } else {
      await tel.hangUp({ callSid: o.callSid });
    }
  }

  /**
   * The cached voicemail line of a tenant, in its first language: its name, that it is a reminder, its number.
   * Nothing about the customer.
   */
  voicemail(tenant: Tenant, callbackNumber: string | null): string {
    const language = tenant.config ? primaryLanguage(tenant.config) : 'en';
    const name = tenant.config?.name ?? (language === 'es' ? 'su agencia' : 'your dealership');
    const key = `${tenant.id}|${language}|${name}|${callbackNumber ?? ''}`;
    let text = this.voicemailText.get(key);
    if (!text) {
      const spoken = callbackNumber ? parsePhoneNumberFromString(callbackNumber)?.formatNational() ?? callbackNumber : null;
      text = REMINDER_LINES[language].voicemail({ dealership: name, callback: spoken });
      if (this.voicemailText.size > 1000) this.voicemailText.clear();
      this.voicemailText.set(key, text);
    }
    return text;
  }
}
