import { ServiceLaneError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import { metrics } from '../observability/metrics.js';
import type { PluginRegistry } from '../registry/registry.js';
import { isPluginError } from '../sdk/index.js';
import type { TenantService } from '../tenancy/tenants.js';
import { buildEmail, inviteSequence } from './email-content.js';
import { markEmailDone, type EmailJobData } from './email-outbox.js';
import type { JobInfo, Jobs } from './jobs.js';

/**
 * The `email` queue's handler: one confirmation email per appointment version (docs/email.md).
 *
 * Exactly-once as far as our side can make it: the job runs under a per-appointment advisory lock and first
 * looks for the version's `appointment_emails` row, so a duplicate or repeated job sends nothing; the row is
 * written in the same transaction as the send's success. The window left is a crash between the provider's
 * 200 and our commit (SES v2 SendEmail and SMTP take no idempotency key: docs/email.md); the next attempt then sends again.
 */

export type EmailOutcome = 'sent' | 'no_address' | 'superseded' | 'duplicate' | 'missing' | 'tenant_gone' | 'disabled' | 'rejected' | 'failed';

/** Deterministic, ':'-free: one job per appointment version. */
export function emailJobId(d: EmailJobData): string {
  return `email-${d.tenantId}-${d.appointmentId}-r${d.revision}`;
}

const DEFAULT_RETRY = { attempts: 8, backoffMs: 10_000 };

export async function enqueueEmail(jobs: Jobs, data: EmailJobData, retry: { attempts?: number; backoffMs?: number } = {}): Promise<string> {
  return jobs.enqueue('email', data, { jobId: emailJobId(data), attempts: retry.attempts ?? DEFAULT_RETRY.attempts, backoffMs: retry.backoffMs ?? DEFAULT_RETRY.backoffMs });
}

export interface EmailJobDeps { tenants: TenantService; registry: PluginRegistry; logger: Logger; clock?: () => Date }

// A pragmatic address check: the provider has the last word; this only keeps obvious junk out of a send.
const EMAIL_RE = /^[^\s@<>()",;]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/;

interface ApptRow { id: string; customer_id: string; customer_name: string | null; service_name: string | null; service_type: string; starts_at: Date; ends_at: Date; revision: number }

export async function runEmailJob(deps: EmailJobDeps, data: EmailJobData, job: JobInfo): Promise<{ outcome: EmailOutcome; messageId?: string }> {
  const { tenants, registry, logger } = deps;
  const log = { tenantId: data.tenantId, appointmentId: data.appointmentId, revision: data.revision, kind: data.kind };
  const tenant = await tenants.find(data.tenantId);
  if (!tenant || tenant.status !== 'active' || !tenant.config) {
    // Offboarded (or a config that no longer validates): nothing will send it; close the intent.
    if (tenant) await markEmailDone(tenants.db, { tenantId: data.tenantId, appointmentId: data.appointmentId, revision: data.revision });
    metrics.emails.inc({ outcome: 'tenant_gone' });
    return { outcome: 'tenant_gone' };
  }
  const config = tenant.config;
  const lastAttempt = job.attemptsMade + 1 >= job.attempts;
  const now = deps.clock?.() ?? new Date();

  const r = await tenants.withTenant(data.tenantId, async (trx): Promise<{ outcome: EmailOutcome | 'retry'; messageId?: string; error?: ServiceLaneError }> => {
    await trx.raw('select pg_advisory_xact_lock(hashtextextended(?, 0))', [`email:${data.tenantId}:${data.appointmentId}`]);
    const done = () => markEmailDone(trx, { tenantId: data.tenantId, appointmentId: data.appointmentId, revision: data.revision });
    const prior = await trx('appointment_emails').where({ appointment_id: data.appointmentId, revision: data.revision }).first('status', 'message_id');
    if (prior) { await done(); return { outcome: 'duplicate', ...(prior.message_id ? { messageId: prior.message_id as string } : {}) }; }
    const row = await trx('appointments').where({ id: data.appointmentId })
      .first('id', 'customer_id', 'customer_name', 'service_name', 'service_type', 'starts_at', 'ends_at', 'revision') as ApptRow | undefined;
    if (!row) { await done(); return { outcome: 'missing' }; }
    const record = (o: { status: string; recipient?: string | null; provider?: string; messageId?: string; errorCode?: string }) => trx('appointment_emails').insert({
      appointment_id: row.id, revision: data.revision, kind: data.kind, sequence: inviteSequence(data.revision), status: o.status,
      recipient: o.recipient ?? null, provider: o.provider ?? null, message_id: o.messageId ?? null, error_code: o.errorCode ?? null,
    });
    // A newer version is already committed: its own email describes the appointment; this one would be stale.
    if (row.revision > data.revision) { await record({ status: 'superseded' }); await done(); return { outcome: 'superseded' }; }
    const slot = config.plugins.notify;
    if (!slot || config.emails?.enabled === false) { await done(); return { outcome: 'disabled' }; }

    const crm = await registry.get(data.tenantId, 'crm');
    const customer = await crm.getCustomer({ id: row.customer_id });
    const to = customer?.email?.trim();
    if (!to || !EMAIL_RE.test(to)) { await record({ status: 'no_address' }); await done(); return { outcome: 'no_address' }; }

    const message = buildEmail({
      kind: data.kind, to, config, now,
      appointment: {
        id: row.id, revision: data.revision, startsAt: row.starts_at, endsAt: row.ends_at,
        serviceName: row.service_name ?? config.serviceTypes.find((s) => s.id === row.service_type)?.name ?? row.service_type,
        customerName: customer ? `${customer.firstName} ${customer.lastName}`.trim() : row.customer_name ?? 'Customer',
      },
    });
    const notify = await registry.get(data.tenantId, 'notify');
    try {
      const sent = await notify.send(message);
      await record({ status: 'sent', recipient: to, provider: slot.plugin, messageId: sent.messageId });
      await done();
      return { outcome: 'sent', messageId: sent.messageId };
    } catch (e) {
      const why = isPluginError(e) ? `${e.category}${e.status ? ` ${e.status}` : ''}` : (e as { code?: string }).code ?? 'error';
      if (isPluginError(e) && !e.retryable) {
        await record({ status: 'rejected', recipient: to, provider: slot.plugin, errorCode: 'JOB_ERR_EMAIL_REJECTED' });
        await done();
        return { outcome: 'rejected', error: new ServiceLaneError('JOB_ERR_EMAIL_REJECTED', `${slot.plugin} refused the confirmation email (${why})`, { provider: slot.plugin, reason: why }) };
      }
      const error = new ServiceLaneError('JOB_ERR_EMAIL_SEND', `${slot.plugin} could not send the confirmation email (${why})`, { provider: slot.plugin, reason: why }, { cause: e });
      if (lastAttempt) {
        await record({ status: 'failed', recipient: to, provider: slot.plugin, errorCode: 'JOB_ERR_EMAIL_SEND' });
        await done();
        return { outcome: 'failed', error };
      }
      // Nothing recorded: the retry must be free to send.
      return { outcome: 'retry', error };
    }
  });

  metrics.emails.inc({ outcome: r.outcome });
  // Thrown after commit, so the recorded outcome stays: JOB_ERR_EMAIL_REJECTED (422) stops retrying at once,
  // JOB_ERR_EMAIL_SEND (502) retries with backoff until the last attempt records it failed.
  if (r.error) {
    logger.warn({ ...log, code: r.error.code, attempt: job.attemptsMade + 1, err: r.error.message }, r.outcome === 'retry' ? 'confirmation email failed; will retry' : 'confirmation email failed for good');
    throw r.error;
  }
  logger.info({ ...log, outcome: r.outcome, messageId: r.messageId }, 'confirmation email job done');
  return { outcome: r.outcome as EmailOutcome, ...(r.messageId ? { messageId: r.messageId } : {}) };
}

/** Registers the `email` worker. Each job holds a connection during the provider call, so concurrency stays low. */
export function registerEmailJobs(o: EmailJobDeps & { jobs: Jobs; concurrency?: number }): void {
  o.jobs.register<EmailJobData>('email', (data, job) => runEmailJob(o, data, job), { concurrency: o.concurrency ?? 4 });
}
