import type { Knex } from 'knex';
import type { Logger } from '../observability/logger.js';
import { metrics } from '../observability/metrics.js';
import { PollLoop } from '../jobs/poll-loop.js';

/**
 * The calendar-sync outbox (migrations/platform/003_calendar_sync_outbox.sql). A booking, move or cancellation
 * that an external calendar must mirror writes its intent here in its own transaction; the job is queued
 * right after commit as a fast path, and this loop is the guarantee: a queue that was down (enqueue failed)
 * or lost the job (Redis restarted empty) only delays the dealership's calendar.
 *
 * Row life: written with `available_at = now() + lease` (the fast path gets one lease to finish) → the loop
 * claims due rows (`FOR UPDATE SKIP LOCKED`, so several worker pods never queue the same row at once), queues
 * the job under its deterministic id and pushes `available_at` one lease forward → the job marks the row done
 * in the transaction that records the sync (or the failure, which the periodic resync then owns). A row whose
 * job is still queued or retrying is simply re-added after each lease: the same job id makes that a no-op.
 */
/** Job data is ids only: the handler re-reads the appointment and mirrors whatever it is now. */
export interface CalendarSyncData {
  tenantId: string;
  appointmentId: string;
  /** What prompted the job; the handler decides from the row, so a stale action does no harm. */
  action: 'create' | 'update' | 'cancel';
  /** The row's revision when enqueued; part of the job id so each change gets its own job. */
  revision: number;
}

export const SYNC_OUTBOX_TABLE = 'platform.calendar_sync_outbox';
const DEFAULT_LEASE_MS = 60_000;

export interface SyncOutboxTimings {
  /** Pause between drain passes when the last pass found nothing due (default 1 s). */
  pollMs?: number;
  /** How long a queued row waits for its job before it is queued again (default 60 s). */
  leaseMs?: number;
  /** Delay before a row whose enqueue failed is tried again (default 5 s). */
  retryMs?: number;
  /** Rows claimed per pass (default 100). */
  batch?: number;
  /** Period of the resync sweep over failed and stranded bookings (default 5 min). */
  resyncIntervalMs?: number;
  /** Done rows are deleted after this long (default 7 days). */
  keepDoneMs?: number;
}

/**
 * Records a sync intent inside the caller's transaction (the booking's), so the intent commits or rolls back
 * with the change itself. Idempotent per (tenant, appointment, revision).
 */
export async function writeSyncIntent(trx: Knex.Transaction, o: { data: CalendarSyncData; leaseMs?: number }): Promise<void> {
  const leaseSec = (o.leaseMs ?? DEFAULT_LEASE_MS) / 1000;
  await trx(SYNC_OUTBOX_TABLE).insert({
    tenant_id: o.data.tenantId, appointment_id: o.data.appointmentId, action: o.data.action, revision: o.data.revision,
    available_at: trx.raw('now() + make_interval(secs => ?)', [leaseSec]),
  }).onConflict(['tenant_id', 'appointment_id', 'revision']).ignore();
}

/**
 * Marks an appointment's intents up to `upToRevision` (all of them when omitted) done. Called by the sync job
 * in the transaction that records the outcome, so "synced" and "done" commit together.
 */
export async function markSyncDone(trx: Knex | Knex.Transaction, o: { tenantId: string; appointmentId: string; upToRevision?: number }): Promise<void> {
  const q = trx(SYNC_OUTBOX_TABLE).where({ tenant_id: o.tenantId, appointment_id: o.appointmentId }).whereNull('done_at');
  if (o.upToRevision !== undefined) q.where('revision', '<=', o.upToRevision);
  const n = await q.update({ done_at: trx.fn.now(), last_error: null });
  if (n) metrics.syncOutbox.inc({ outcome: 'done' }, n);
}


interface OutboxRow { id: string; tenant_id: string; appointment_id: string; action: CalendarSyncData['action']; revision: number }

/**
 * The worker-role loop: drains the outbox and, every `resyncIntervalMs`, runs the resync sweep (bookings whose
 * retries ran out during a long outage, and pending ones from before the outbox). It only ever talks to
 * Postgres and the queue, never to a calendar provider, and holds no connection between statements.
 */
export class SyncOutbox {
  private readonly t: Required<SyncOutboxTimings>;
  private readonly loop: PollLoop;
  private queueDown = false;
  private lastResync = 0;

  constructor(private readonly o: {
    db: Knex;
    logger: Logger;
    /** Queues one sync job under its deterministic id (enqueueCalendarSync); throws when the queue is down. */
    enqueue: (data: CalendarSyncData) => Promise<unknown>;
    timings?: SyncOutboxTimings;
    /** The periodic sweep (Scheduler.resyncAll); returns how many bookings it queued. */
    resync?: (o: { sweep: string }) => Promise<number>;
  }) {
    const t = o.timings ?? {};
    this.t = {
      pollMs: t.pollMs ?? 1000, leaseMs: t.leaseMs ?? DEFAULT_LEASE_MS, retryMs: t.retryMs ?? 5000, batch: t.batch ?? 100,
      resyncIntervalMs: t.resyncIntervalMs ?? 5 * 60_000, keepDoneMs: t.keepDoneMs ?? 7 * 24 * 3600_000,
    };
    this.loop = new PollLoop({
      pass: () => this.tick(), fallbackMs: this.t.pollMs,
      onError: (e) => o.logger.warn({ err: e.message }, 'calendar sync outbox pass failed; retrying'),
    });
  }

  /** The lease a freshly written intent gets before the loop may queue it (the fast path's window). */
  get leaseMs(): number { return this.t.leaseMs; }

  /** Starts the loop (worker and all roles). */
  start(): void {
    this.lastResync = Date.now();
    this.loop.start();
  }

  private async tick(): Promise<number> {
    let claimed = 0;
    try {
      claimed = await this.drainOnce();
      if (Date.now() - this.lastResync >= this.t.resyncIntervalMs) {
        this.lastResync = Date.now();
        await this.resyncOnce();
      }
    } catch (e) {
      // Postgres unreachable: the rows are safe where they are; try again on the next pass.
      this.o.logger.warn({ err: (e as Error).message }, 'calendar sync outbox pass failed; retrying');
    }
    // A full batch means more is due: go again at once instead of waiting a poll.
    return claimed >= this.t.batch ? 0 : this.t.pollMs;
  }

  /**
   * One drain pass: claims due rows (one statement; SKIP LOCKED keeps concurrent pods apart), queues each, and
   * on a queue failure puts the rest back for `retryMs`. Returns how many rows were claimed.
   */
  async drainOnce(): Promise<number> {
    const leaseSec = this.t.leaseMs / 1000;
    const res = await this.o.db.raw(
      `update ${SYNC_OUTBOX_TABLE} set available_at = now() + make_interval(secs => ?), attempts = attempts + 1
       where id in (select id from ${SYNC_OUTBOX_TABLE} where done_at is null and available_at <= now()
                    order by available_at, id limit ? for update skip locked)
       returning id, tenant_id, appointment_id, action, revision`, [leaseSec, this.t.batch]);
    const rows = res.rows as OutboxRow[];
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i]!;
      const data: CalendarSyncData = { tenantId: r.tenant_id, appointmentId: r.appointment_id, action: r.action, revision: r.revision };
      try {
        await this.o.enqueue(data);
        metrics.syncOutbox.inc({ outcome: 'enqueued' });
        if (this.queueDown) { this.queueDown = false; this.o.logger.info('calendar sync queue reachable again; outbox draining'); }
      } catch (e) {
        // The queue is down: this row and the rest of the batch wait retryMs (not a whole lease).
        const rest = rows.slice(i).map((x) => x.id);
        metrics.syncOutbox.inc({ outcome: 'enqueue_failed' }, rest.length);
        if (!this.queueDown) {
          this.queueDown = true;
          this.o.logger.warn({ err: (e as Error).message, pending: rest.length }, 'calendar sync queue unreachable; outbox rows kept for retry');
        }
        await this.o.db(SYNC_OUTBOX_TABLE).whereIn('id', rest)
          .update({ available_at: this.o.db.raw('now() + make_interval(secs => ?)', [this.t.retryMs / 1000]), last_error: String((e as { code?: string }).code ?? 'enqueue_failed') });
        break;
      }
    }
    return rows.length;
  }

  /** One resync sweep plus the purge of old done rows. The sweep id is the interval's bucket, so pods running
   * the same sweep queue the same job ids (deduplicated) instead of one job per pod. */
  async resyncOnce(): Promise<number> {
    await this.o.db(SYNC_OUTBOX_TABLE).whereNotNull('done_at')
      .where('done_at', '<', this.o.db.raw('now() - make_interval(secs => ?)', [this.t.keepDoneMs / 1000])).delete();
    if (!this.o.resync) return 0;
    const sweep = Math.floor(Date.now() / this.t.resyncIntervalMs).toString(36);
    const n = await this.o.resync({ sweep });
    if (n) metrics.syncOutbox.inc({ outcome: 'resync_queued' }, n);
    return n;
  }

  /** Stops the loop and waits for a pass in progress. */
  close(): Promise<void> {
    return this.loop.close();
  }
}

