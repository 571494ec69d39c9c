import type { Knex } from 'knex';
import type { Logger } from '../observability/logger.js';
import { metrics } from '../observability/metrics.js';
import type { DealershipConfig } from '../tenancy/config.js';
import type { EmailKind } from './email-content.js';
import { PollLoop } from './poll-loop.js';

/**
 * The confirmation-email outbox (migrations/platform/020_email_outbox.sql). A booking, move or cancellation
 * writes its email intent here in its own transaction (the scheduler's, beside its reminders); the `email` job
 * is queued right after commit as a fast path, and this loop is the guarantee that a queue outage or a lost
 * job only delays the email. Same row life as the calendar-sync outbox (core/scheduling/sync-outbox.ts): a row is
 * claimed with FOR UPDATE SKIP LOCKED, queued under its deterministic job id, its `available_at` pushed one
 * lease forward, and closed by the job in the transaction that records the outcome.
 */
export const EMAIL_OUTBOX_TABLE = 'platform.email_outbox';
const DEFAULT_LEASE_MS = 60_000;

export interface EmailJobData { tenantId: string; appointmentId: string; revision: number; kind: EmailKind }

/** Whether a tenant sends confirmations at all: a notify slot is configured and `emails.enabled` isn't false. */
export function emailsEnabled(config: Pick<DealershipConfig, 'emails' | 'plugins'>): boolean {
  return !!config.plugins.notify && config.emails?.enabled !== false;
}

/**
 * Records an email intent inside the caller's transaction, when the tenant sends emails. Idempotent per
 * (tenant, appointment, revision). Returns the job data for the fast path, or null when nothing was written.
 */
export async function writeEmailIntent(trx: Knex.Transaction, o: {
  tenantId: string; config: Pick<DealershipConfig, 'emails' | 'plugins'>; appointment: { id: string; revision: number }; kind: EmailKind; leaseMs?: number;
}): Promise<EmailJobData | null> {
  if (!emailsEnabled(o.config)) return null;
  const data: EmailJobData = { tenantId: o.tenantId, appointmentId: o.appointment.id, revision: o.appointment.revision, kind: o.kind };
  await trx(EMAIL_OUTBOX_TABLE).insert({
    tenant_id: data.tenantId, appointment_id: data.appointmentId, revision: data.revision, kind: data.kind,
    available_at: trx.raw('now() + make_interval(secs => ?)', [(o.leaseMs ?? DEFAULT_LEASE_MS) / 1000]),
  }).onConflict(['tenant_id', 'appointment_id', 'revision']).ignore();
  return data;
}

/** Closes an appointment version's intent; called by the job in the transaction that records the outcome. */
export async function markEmailDone(trx: Knex | Knex.Transaction, o: { tenantId: string; appointmentId: string; revision?: number }): Promise<void> {
  const q = trx(EMAIL_OUTBOX_TABLE).where({ tenant_id: o.tenantId, appointment_id: o.appointmentId }).whereNull('done_at');
  if (o.revision !== undefined) q.where({ revision: o.revision });
  const n = await q.update({ done_at: trx.fn.now(), last_error: null });
  if (n) metrics.emailOutbox.inc({ outcome: 'done' }, n);
}

export interface EmailOutboxTimings { pollMs?: number; leaseMs?: number; retryMs?: number; batch?: number; keepDoneMs?: number }

/** The worker-role loop that queues due email intents. Talks only to Postgres and the queue. */
export class EmailOutbox {
  private readonly t: Required<EmailOutboxTimings>;
  private readonly loop: PollLoop;
  private lastPurge = 0;

  constructor(private readonly o: { db: Knex; logger: Logger; enqueue: (data: EmailJobData) => Promise<unknown>; timings?: EmailOutboxTimings }) {
    const t = o.timings ?? {};
    this.t = { pollMs: t.pollMs ?? 1000, leaseMs: t.leaseMs ?? DEFAULT_LEASE_MS, retryMs: t.retryMs ?? 5000, batch: t.batch ?? 100, keepDoneMs: t.keepDoneMs ?? 7 * 24 * 3600_000 };
    this.loop = new PollLoop({
      pass: () => this.tick(), fallbackMs: this.t.pollMs,
      onError: (e) => o.logger.warn({ err: e.message }, 'email outbox pass failed; retrying'),
    });
  }

  get leaseMs(): number { return this.t.leaseMs; }

  start(): void {
    this.loop.start();
  }

  private async tick(): Promise<number> {
    let claimed = 0;
    try {
      claimed = await this.drainOnce();
      if (Date.now() - this.lastPurge > 3600_000) {
        this.lastPurge = Date.now();
        await this.o.db(EMAIL_OUTBOX_TABLE).whereNotNull('done_at').where('done_at', '<', this.o.db.raw('now() - make_interval(secs => ?)', [this.t.keepDoneMs / 1000])).delete();
      }
    } catch (e) {
      // Postgres unreachable: the rows are safe where they are; try again on the next pass.
      this.o.logger.warn({ err: (e as Error).message }, 'email outbox pass failed; retrying');
    }
    return claimed >= this.t.batch ? 0 : this.t.pollMs;
  }

  /** One pass: claims due rows, queues each; on a queue failure the rest wait `retryMs`. Returns rows claimed. */
  async drainOnce(): Promise<number> {
    const res = await this.o.db.raw(
      `update ${EMAIL_OUTBOX_TABLE} set available_at = now() + make_interval(secs => ?), attempts = attempts + 1
       where id in (select id from ${EMAIL_OUTBOX_TABLE} where done_at is null and available_at <= now()
                    order by available_at, id limit ? for update skip locked)
       returning id, tenant_id, appointment_id, revision, kind`, [this.t.leaseMs / 1000, this.t.batch]);
    const rows = res.rows as { id: string; tenant_id: string; appointment_id: string; revision: number; kind: EmailKind }[];
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i]!;
      try {
        await this.o.enqueue({ tenantId: r.tenant_id, appointmentId: r.appointment_id, revision: r.revision, kind: r.kind });
        metrics.emailOutbox.inc({ outcome: 'enqueued' });
      } catch (e) {
        const rest = rows.slice(i).map((x) => x.id);
        metrics.emailOutbox.inc({ outcome: 'enqueue_failed' }, rest.length);
        this.o.logger.warn({ err: (e as Error).message, pending: rest.length }, 'email queue unreachable; outbox rows kept for retry');
        await this.o.db(EMAIL_OUTBOX_TABLE).whereIn('id', rest)
          .update({ available_at: this.o.db.raw('now() + make_interval(secs => ?)', [this.t.retryMs / 1000]), last_error: String((e as { code?: string }).code ?? 'enqueue_failed') });
        break;
      }
    }
    return rows.length;
  }

  close(): Promise<void> {
    return this.loop.close();
  }
}
