import { ServiceLaneError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { CrmConnector } from '../sdk/index.js';
import type { WithTenant } from '../tenancy/with-tenant.js';

/** The crm-log job's data: ids only (no PII in queues). */
export interface CrmLogJob { tenantId: string; callId: string }

type Outcome = Parameters<CrmConnector['logInteraction']>[0]['outcome'];

interface CallRow {
  id: string; call_sid: string; direction: string; customer_id: string | null; outcome: string | null; summary: string | null;
  started_at: Date; ended_at: Date | null; crm_logged_at: Date | null;
}

const OUTCOMES: ReadonlySet<string> = new Set(['booked', 'cancelled', 'rescheduled', 'info', 'transferred', 'callback', 'voicemail', 'other']);

/** The job id for a call: one log per call however often the job is enqueued. */
export function crmLogJobId(o: CrmLogJob): string {
  return `crmlog-${o.tenantId}-${o.callId}`;
}

/**
 * After a call: logs the interaction to the tenant's CRM (logInteraction) and stamps calls.crm_logged_at.
 * Idempotent: a rerun finds the stamp (and CRMs dedupe on customer + call id), so retries never add a
 * second log. Calls with no verified customer have nobody to log against and are skipped.
 */
export function createCrmLogHandler(o: {
  withTenant: WithTenant;
  crm: (tenantId: string) => Promise<CrmConnector>;
  logger: Logger;
}): (data: CrmLogJob) => Promise<{ logged: boolean; reason?: string; externalId?: string }> {
  return async (data) => {
    const call: CallRow | undefined = await o.withTenant(data.tenantId, (trx) => trx('calls').where({ id: data.callId }).first());
    if (!call) throw new ServiceLaneError('JOB_ERR_STALE', 'call not found', { callId: data.callId });
    if (call.crm_logged_at) return { logged: false, reason: 'already_logged' };
    if (!call.customer_id) return { logged: false, reason: 'no_customer' };
    const started = call.started_at;
    const ended = call.ended_at ?? new Date();
    const outcome: Outcome = call.outcome && OUTCOMES.has(call.outcome) ? call.outcome as Outcome : 'other';
    const crm = await o.crm(data.tenantId);
    const r = await crm.logInteraction({
      customerId: call.customer_id,
      callId: call.call_sid,
      startedAt: started.toISOString(),
      durationMs: Math.max(0, ended.getTime() - started.getTime()),
      summary: call.summary ?? `${call.direction === 'outbound' ? 'Outbound' : 'Inbound'} call handled by the voice agent.`,
      outcome,
    });
    await o.withTenant(data.tenantId, (trx) => trx('calls').where({ id: call.id }).whereNull('crm_logged_at').update({ crm_logged_at: trx.fn.now() }));
    o.logger.info({ tenantId: data.tenantId, callId: call.id, outcome }, 'call logged to CRM');
    return { logged: true, externalId: r.externalId };
  };
}
