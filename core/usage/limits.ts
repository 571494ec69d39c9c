import { DateTime } from 'luxon';
import type { ErrorCode } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { DealershipConfig } from '../tenancy/config.js';
import type { LeaseStore } from './leases.js';
import { usageMetrics } from './metrics.js';
import type { WithTenant } from '../tenancy/with-tenant.js';

/**
 * A lease outlives the gap between the voice webhook (where it is taken) and the media stream (whose session
 * renews it): Twilio dials the stream within the stream token's 60 s. A live call renews every third of it,
 * so a crashed process's calls free their slots within this long.
 */
export const LEASE_TTL_MS = 90_000;

export type LimitName = 'concurrent_calls' | 'monthly_minutes';

export type Admission =
  | { ok: true; leased: boolean }
  | { ok: false; code: Extract<ErrorCode, 'USG_ERR_CONCURRENT_CALLS' | 'USG_ERR_MONTHLY_MINUTES'>; limit: LimitName; detail: Record<string, number> };


/** First instant of the current calendar month on the dealership's clock. */
export function monthStart(now: Date, zone: string): Date {
  return DateTime.fromJSDate(now).setZone(zone).startOf('month').toJSDate();
}

/**
 * The per-tenant limits of the tenant config's `limits` block: the monthly-minutes cap (from the tenant's
 * own call_usage rows, so exact and shared by every process) and the concurrent-call cap (leases in the
 * state store). A check that cannot run — store or database down — admits the call: refusing callers
 * because soft state is unreachable would hurt the dealership more than a few minutes over a cap.
 */
export class CallLimits {
  constructor(private readonly o: { leases: LeaseStore; withTenant: WithTenant; logger: Logger; clock?: () => Date }) {}

  private now(): Date { return this.o.clock ? this.o.clock() : new Date(); }

  /** Metered call time so far this month (ms), from the rows written at each call's end. */
  async usedThisMonthMs(o: { tenantId: string; zone: string }): Promise<number> {
    const since = monthStart(this.now(), o.zone);
    const r = await this.o.withTenant(o.tenantId, (trx) => trx('call_usage').where('started_at', '>=', since).sum<{ ms: string | null }[]>('telephony_ms as ms'));
    return Number(r[0]?.ms ?? 0);
  }

  /**
   * Checks the monthly cap, then takes a concurrent-call lease under `leaseId` when the tenant has a cap.
   * A refusal takes nothing. Unconfigured limits cost no I/O at all.
   */
  async admit(o: { tenantId: string; config: Pick<DealershipConfig, 'limits' | 'timezone'>; leaseId: string; direction: 'inbound' | 'outbound' }): Promise<Admission> {
    const lim = o.config.limits;
    if (!lim?.maxConcurrentCalls && !lim?.monthlyMinutes) return { ok: true, leased: false };
    try {
      if (lim.monthlyMinutes) {
        const usedMs = await this.usedThisMonthMs({ tenantId: o.tenantId, zone: o.config.timezone });
        if (usedMs >= lim.monthlyMinutes * 60_000) {
          usageMetrics.refusals.inc({ tenant: o.tenantId, limit: 'monthly_minutes', direction: o.direction });
          return { ok: false, code: 'USG_ERR_MONTHLY_MINUTES', limit: 'monthly_minutes', detail: { usedMinutes: Math.floor(usedMs / 60_000), monthlyMinutes: lim.monthlyMinutes } };
        }
      }
      if (lim.maxConcurrentCalls) {
        const r = await this.o.leases.acquire({ tenantId: o.tenantId, id: o.leaseId, max: lim.maxConcurrentCalls, ttlMs: LEASE_TTL_MS });
        if (!r.granted) {
          usageMetrics.refusals.inc({ tenant: o.tenantId, limit: 'concurrent_calls', direction: o.direction });
          return { ok: false, code: 'USG_ERR_CONCURRENT_CALLS', limit: 'concurrent_calls', detail: { activeCalls: r.active, maxConcurrentCalls: lim.maxConcurrentCalls } };
        }
        return { ok: true, leased: true };
      }
      return { ok: true, leased: false };
    } catch (e) {
      usageMetrics.checkFailures.inc();
      this.o.logger.warn({ code: 'USG_ERR_LIMIT_CHECK_FAILED', tenantId: o.tenantId, err: (e as Error).message }, 'usage limit could not be checked; call admitted');
      return { ok: true, leased: false };
    }
  }
}
