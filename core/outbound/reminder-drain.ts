import type { Logger } from '../observability/logger.js';
import { metrics } from '../observability/metrics.js';
import type { TenantService } from '../tenancy/tenants.js';
import type { ReminderJobData } from './reminder-job.js';
import { PollLoop } from '../jobs/poll-loop.js';

/**
 * The worker-role loop that turns `scheduled` reminder rows into `reminders` jobs shortly before they are due.
 * The rows are the truth (written in the booking's transaction, core/outbound/reminder-schedule.ts); jobs are
 * only how a row gets run at its time, so a queue that was down or lost its jobs (Redis restarted empty) only
 * delays a reminder by a lease, and a job left behind by a move finds its row superseded and does nothing.
 *
 * Why queue late (a lookahead of minutes) instead of at booking time: a reminder 48 h out would sit in the queue
 * for two days, through every move and cancellation of its appointment; queued minutes before its time, a job
 * almost always runs the row as it is, and the queue holds only what is due soon.
 *
 * Row life: claimed (`FOR UPDATE SKIP LOCKED`, so several worker pods never queue the same row at once) when
 * `due_at` is within the lookahead and it is not leased → `queued_until = due_at + lease` → queued under its
 * deterministic id (a re-add after a lost job is the same id, so a kept job deduplicates) → the job moves the row
 * out of `scheduled` (due, skipped) or to a later due time (the calling window), which the next pass queues.
 * Cost: one small query per tenant per pass (the rows live in each tenant's schema); the default poll of 15 s
 * keeps 1,000 tenants near 70 queries a second on an indexed, usually empty range.
 */
export interface ReminderDrainTimings {
  /** Pause between passes (default 15 s). */
  pollMs?: number;
  /** How far ahead of its due time a row is queued (default 5 min). */
  lookaheadMs?: number;
  /** How long after its due time a queued row waits for its job before it is queued again (default 10 min). */
  leaseMs?: number;
  /** Delay before rows whose enqueue failed are tried again (default 10 s). */
  retryMs?: number;
  /** Rows claimed per tenant per pass (default 200). */
  batch?: number;
}

export class ReminderDrain {
  private readonly t: Required<ReminderDrainTimings>;
  private readonly clock: () => Date;
  private readonly loop: PollLoop;
  /** Tenants whose drain query failed, logged once each (a tenant on an old schema fails every pass). */
  private readonly failing = new Set<string>();

  constructor(private readonly o: {
    tenants: TenantService;
    logger: Logger;
    /** Queues one run (enqueueReminder); throws when the queue is down. */
    enqueue: (data: ReminderJobData) => Promise<unknown>;
    /** Queues the dial of an attempt whose dial job was lost (OutboundCalls.redial); absent: no sweep. */
    redial?: (o: { tenantId: string; attemptId: string; sweep: number }) => Promise<unknown>;
    clock?: () => Date;
    timings?: ReminderDrainTimings;
  }) {
    const t = o.timings ?? {};
    this.t = {
      pollMs: t.pollMs ?? 15_000, lookaheadMs: t.lookaheadMs ?? 5 * 60_000, leaseMs: t.leaseMs ?? 10 * 60_000,
      retryMs: t.retryMs ?? 10_000, batch: t.batch ?? 200,
    };
    this.clock = o.clock ?? (() => new Date());
    this.loop = new PollLoop({
      pass: async () => { await this.drainOnce(); return this.t.pollMs; }, fallbackMs: this.t.pollMs,
      onError: (e) => o.logger.warn({ err: e.message }, 'reminder drain pass failed; retrying next pass'),
    });
  }

  start(): void {
    this.loop.start();
  }

  /** One pass over every tenant. Returns how many rows were queued. */
  async drainOnce(): Promise<number> {
    let queued = 0;
    for (const tenant of await this.o.tenants.list()) {
      // Offboarded tenants are drained too: their rows run once and are recorded as skipped, not left pending.
      if (tenant.status === 'provisioning' || tenant.status === 'failed') continue;
      try {
        queued += await this.drainTenant(tenant.id);
        this.failing.delete(tenant.id);
      } catch (e) {
        if (!this.failing.has(tenant.id)) {
          this.failing.add(tenant.id);
          this.o.logger.warn({ tenantId: tenant.id, err: (e as Error).message }, 'reminder drain failed for a tenant; its reminders wait');
        }
      }
    }
    return queued;
  }

  private async drainTenant(tenantId: string): Promise<number> {
    const queued = await this.queueDue(tenantId);
    if (this.o.redial) await this.sweepDials(tenantId);
    return queued;
  }

  /**
   * Attempts due for a whole lease without a call (outcome `due`, no SID, not ended, no intent or an intent that old):
   * their dial job is gone (Redis lost it, or the worker died after the attempt committed and before the dial was
   * queued). Their dial is queued again; the dial's own intent and reconciliation keep it to one call.
   */
  private async sweepDials(tenantId: string): Promise<void> {
    const now = this.clock();
    const stale = new Date(now.getTime() - this.t.leaseMs);
    const ids = await this.o.tenants.withTenant(tenantId, (trx) => trx('reminder_attempts')
      .where({ outcome: 'due' }).whereNull('call_sid').whereNull('ended_at')
      .where(trx.raw('coalesce(dial_started_at, started_at)'), '<=', stale)
      .orderBy('started_at').limit(this.t.batch).pluck('id')) as string[];
    const sweep = Math.floor(now.getTime() / this.t.leaseMs);
    for (const attemptId of ids) {
      await this.o.redial!({ tenantId, attemptId, sweep });
      metrics.reminders.inc({ event: 'dial_requeued' });
    }
    if (ids.length) this.o.logger.warn({ tenantId, attempts: ids.length }, 'reminder attempts without a call for a lease: dial queued again');
  }

  private async queueDue(tenantId: string): Promise<number> {
    const now = this.clock();
    const rows = await this.o.tenants.withTenant(tenantId, async (trx) => (await trx.raw(
      `update reminders set queued_until = greatest(due_at, ?::timestamptz) + make_interval(secs => ?)
        where id in (select id from reminders
                      where status = 'scheduled' and due_at <= ?::timestamptz + make_interval(secs => ?)
                        and (queued_until is null or queued_until <= ?::timestamptz)
                      order by due_at, id limit ? for update skip locked)
        returning id, due_at`,
      [now, this.t.leaseMs / 1000, now, this.t.lookaheadMs / 1000, now, this.t.batch])).rows as { id: string; due_at: Date }[]);
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i]!;
      try {
        await this.o.enqueue({ tenantId, reminderId: r.id, dueAtMs: r.due_at.getTime() });
        metrics.reminders.inc({ event: 'enqueued' });
      } catch (e) {
        // The queue is down: this row and the rest wait retryMs instead of a whole lease.
        const rest = rows.slice(i).map((x) => x.id);
        metrics.reminders.inc({ event: 'enqueue_failed' }, rest.length);
        this.o.logger.warn({ tenantId, pending: rest.length, err: (e as Error).message }, 'reminder queue unreachable; rows kept for retry');
        await this.o.tenants.withTenant(tenantId, (trx) => trx('reminders').whereIn('id', rest)
          .update({ queued_until: new Date(this.clock().getTime() + this.t.retryMs) }));
        return i;
      }
    }
    return rows.length;
  }

  close(): Promise<void> {
    return this.loop.close();
  }
}
