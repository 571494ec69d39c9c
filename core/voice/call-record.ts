import type { Logger } from '../observability/logger.js';
import type { StateStore } from '../state/store.js';
import type { CallStart } from '../telephony/media-link.js';
import type { CallIdentity } from '../tools/identity.js';
import type { WithTenant } from '../tenancy/with-tenant.js';
import { CallEventLog, type CallEventKind } from './call-log.js';
import type { EndReason } from './call-events.js';
import { crmLogJobId, type CrmLogJob } from './post-call.js';

export interface JobsPort {
  enqueue<T>(queue: 'crm-log', data: T, o?: { jobId?: string }): Promise<string>;
}

export interface CallRecordInit {
  start: CallStart;
  withTenant: WithTenant;
  state: StateStore;
  jobs?: JobsPort;
  logger: Logger;
  stateTtlSec: number;
  /** What the record reads from the live call when it writes: caller turns so far and who the caller is. */
  snapshot: () => { turns: number; identity: CallIdentity };
}

/**
 * The call record: what a call leaves behind. The event log (call_events, batched), the soft state document
 * other processes read, the outcome (set by an ending, or derived from the tools that succeeded), the callback
 * task a failed call leaves for staff, and the end-of-call writes (call row, CRM log job). Split out of
 * CallSession; none of it is on the audio path, and none of it may end a live call when a store is down.
 */
export class CallRecord {
  readonly log: CallEventLog;
  /** Tools that succeeded during the call (the outcome and the summary name them). */
  readonly actions = new Set<string>();
  /** Set by an ending that decides it (transferred, callback); otherwise derived at the end. */
  outcome: string | null = null;
  private stateDown = false;
  private stateWrite: Promise<void> = Promise.resolve();
  private readonly stateKey: string;
  private readonly startedAt = Date.now();

  constructor(private readonly o: CallRecordInit) {
    this.stateKey = `voice:call:${o.start.callSid}`;
    this.log = new CallEventLog({ tenantId: o.start.tenantId, callId: o.start.callId, withTenant: o.withTenant, logger: o.logger });
  }

  add(kind: CallEventKind, payload: Record<string, unknown>): void {
    this.log.add(kind, payload);
  }

  /** Soft state for other processes; the call itself runs from memory, so a store outage only gets logged. */
  saveState(status = 'live'): void {
    const doc = this.stateDoc(status);
    const ttl = this.o.stateTtlSec;
    this.stateWrite = this.stateWrite.then(async () => {
      try {
        const updated = await this.o.state.updateDoc(this.stateKey, () => doc, ttl);
        if (!updated) await this.o.state.createDoc(this.stateKey, doc, ttl);
        if (this.stateDown) { this.stateDown = false; this.o.logger.info('state store reachable again'); }
      } catch (e) {
        if (!this.stateDown) {
          this.stateDown = true;
          this.o.logger.warn({ err: (e as Error).message }, 'state store unavailable; the call continues from in-process state');
        }
      }
    });
  }

  /** A task for staff to call back (the caller was promised one); a failed write is logged, never thrown. */
  async storeCallbackTask(reason: string): Promise<void> {
    const s = this.o.start;
    try {
      await this.o.withTenant(s.tenantId, (trx) => trx('callback_tasks').insert({ call_id: s.callId, phone: s.from, reason }));
    } catch (e) {
      this.o.logger.error({ err: (e as Error).message, reason }, 'callback task could not be stored');
    }
  }

  /**
   * The end-of-call writes, in order: the call_end event and the rest of the log, the call row (ended_at,
   * customer, outcome, summary), the state document, the CRM log job. Each failure is logged and the next
   * write still runs. Returns the outcome.
   */
  async finish(o: { reason: EndReason; framesIn: number; framesOut: number }): Promise<string> {
    const s = this.o.start;
    const { turns, identity } = this.o.snapshot();
    const outcome = this.deriveOutcome(identity);
    this.log.add('call_end', { reason: o.reason, outcome, turns, framesIn: o.framesIn, framesOut: o.framesOut });
    await this.log.flush();
    const customerId = identity.verifiedCustomerId ?? identity.createdCustomerId ?? null;
    const summary = `${s.direction === 'outbound' ? 'Outbound' : 'Inbound'} call with the voice agent, ${turns} caller turn(s); outcome: ${outcome}${this.actions.size ? `; tools used: ${[...this.actions].sort().join(', ')}` : ''}.`;
    await this.o.withTenant(s.tenantId, (trx) => trx('calls').where({ id: s.callId }).update({
      ended_at: trx.raw('coalesce(ended_at, now())'), customer_id: customerId, outcome, summary,
    })).catch((e: unknown) => this.o.logger.error({ err: (e as Error).message }, 'call row update failed'));
    this.saveState('ended');
    await this.stateWrite;
    if (this.o.jobs) {
      const job: CrmLogJob = { tenantId: s.tenantId, callId: s.callId };
      await this.o.jobs.enqueue('crm-log', job, { jobId: crmLogJobId(job) })
        .catch((e: unknown) => this.o.logger.error({ err: (e as Error).message }, 'crm-log job could not be enqueued'));
    }
    return outcome;
  }

  private deriveOutcome(identity: CallIdentity): string {
    if (this.outcome) return this.outcome;
    // A reminder call's outcome is the one its tools wrote to the attempt (confirmed, rescheduled, opted_out, …).
    const reminder = identity.reminder?.outcome;
    if (reminder) return reminder;
    if (this.actions.has('book_appointment')) return 'booked';
    if (this.actions.has('reschedule_appointment')) return 'rescheduled';
    if (this.actions.has('cancel_appointment')) return 'cancelled';
    return 'info';
  }

  private stateDoc(status: string): Record<string, unknown> {
    const s = this.o.start;
    const { turns, identity: id } = this.o.snapshot();
    return {
      tenantId: s.tenantId, callSid: s.callSid, callId: s.callId, streamSid: s.streamSid,
      direction: s.direction, status, startedAt: this.startedAt, turns,
      identity: { verifiedCustomerId: id.verifiedCustomerId, candidates: id.candidateCustomerIds.length, verificationAttempts: id.verificationAttempts },
      updatedAt: Date.now(),
    };
  }
}
