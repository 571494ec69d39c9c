import { DateTime } from 'luxon';
import { ServiceLaneError } from '../errors.js';
import { PollLoop } from '../jobs/poll-loop.js';
import type { Logger } from '../observability/logger.js';
import { usageMetrics } from './metrics.js';
import type { WithTenant } from '../tenancy/with-tenant.js';


export interface RollupTenant { id: string; status: string; config: { timezone: string } | null }

export interface UsageRollupInit {
  tenants: { list(): Promise<RollupTenant[]>; withTenant: WithTenant };
  logger: Logger;
  clock?: () => Date;
  /** How often the worker loop runs (default 10 minutes). */
  intervalMs?: number;
}

const DAY_RE = /^\d{4}-\d{2}-\d{2}$/;

/**
 * Rolls each tenant's call_usage rows up into platform.usage_daily, one row per local day and provider
 * combination. Each run recomputes whole days and replaces them in one transaction, under a per-tenant
 * advisory lock, so it is exactly-once by construction: re-running it, running it on two workers at once,
 * or running it after a late row arrived all leave the same figures. A day is the dealership's calendar day
 * (its `timezone`), so a DST day holds 23 or 25 hours of calls, as the dealership's own reports would.
 */
export class UsageRollup {
  /** A run now, then one `intervalMs` after each run ends (a failed run is logged and retried then too). */
  private readonly loop: PollLoop;

  constructor(private readonly o: UsageRollupInit) {
    const intervalMs = o.intervalMs ?? 600_000;
    this.loop = new PollLoop({
      pass: async () => { await this.rollupAll(); return intervalMs; },
      fallbackMs: intervalMs,
      onError: (e) => this.o.logger.error({ err: e.message }, 'usage rollup run failed'),
    });
  }

  private now(): Date { return this.o.clock ? this.o.clock() : new Date(); }

  /**
   * Replaces `usage_daily` for one tenant's local days `fromDay`..`toDay` (inclusive, `YYYY-MM-DD`) with
   * sums over its call_usage rows that started on those days. Returns the number of rows written.
   */
  async rollupTenant(o: { tenantId: string; zone: string; fromDay: string; toDay: string }): Promise<number> {
    if (!DAY_RE.test(o.fromDay) || !DAY_RE.test(o.toDay)) throw new ServiceLaneError('ADM_ERR_VALIDATION', 'rollup days must be YYYY-MM-DD', { fromDay: o.fromDay, toDay: o.toDay });
    const start = DateTime.fromISO(o.fromDay, { zone: o.zone }).startOf('day');
    const end = DateTime.fromISO(o.toDay, { zone: o.zone }).startOf('day').plus({ days: 1 });
    return this.o.tenants.withTenant(o.tenantId, async (trx) => {
      // Serialises runs for this tenant: without it two workers could both delete, then both insert.
      await trx.raw('select pg_advisory_xact_lock(hashtext(?))', [`usage_rollup:${o.tenantId}`]);
      await trx('platform.usage_daily').where({ tenant_id: o.tenantId }).andWhere('day', '>=', o.fromDay).andWhere('day', '<=', o.toDay).delete();
      // The range on started_at uses the index; the group key converts each start to the local date.
      const r = await trx.raw(`
        insert into platform.usage_daily (tenant_id, day, stt_provider, llm_provider, llm_model, tts_provider,
          calls_inbound, calls_outbound, inbound_ms, outbound_ms, stt_audio_ms, llm_prompt_tokens, llm_completion_tokens, tts_chars, tool_calls)
        select ?, (started_at at time zone ?)::date, stt_provider, llm_provider, llm_model, tts_provider,
          count(*) filter (where direction = 'inbound'), count(*) filter (where direction = 'outbound'),
          coalesce(sum(telephony_ms) filter (where direction = 'inbound'), 0), coalesce(sum(telephony_ms) filter (where direction = 'outbound'), 0),
          sum(stt_audio_ms), sum(llm_prompt_tokens), sum(llm_completion_tokens), sum(tts_chars), sum(tool_calls)
        from call_usage
        where started_at >= ? and started_at < ?
        group by 2, stt_provider, llm_provider, llm_model, tts_provider`,
      [o.tenantId, o.zone, start.toJSDate(), end.toJSDate()]) as { rowCount: number };
      return r.rowCount;
    });
  }

  /**
   * Every active tenant's last `days` local days (default 2: yesterday, so a call that ended after midnight
   * is counted, and today so far). One failing tenant is logged and counted; the rest still roll up.
   */
  async rollupAll(o: { days?: number } = {}): Promise<{ tenants: number; failed: number }> {
    const days = Math.max(1, o.days ?? 2);
    const now = this.now();
    let ok = 0;
    let failed = 0;
    for (const t of await this.o.tenants.list()) {
      if (t.status !== 'active') continue;
      const zone = t.config?.timezone ?? 'UTC';
      const today = DateTime.fromJSDate(now).setZone(zone);
      try {
        await this.rollupTenant({ tenantId: t.id, zone, fromDay: today.minus({ days: days - 1 }).toISODate()!, toDay: today.toISODate()! });
        ok++;
        usageMetrics.rollupRuns.inc({ outcome: 'ok' });
      } catch (e) {
        failed++;
        usageMetrics.rollupRuns.inc({ outcome: 'failed' });
        this.o.logger.error({ tenantId: t.id, err: (e as Error).message }, 'usage rollup failed for a tenant; the next run retries it');
      }
    }
    return { tenants: ok, failed };
  }

  /** The worker loop: a run now, then every `intervalMs`. */
  start(): void {
    this.loop.start();
  }

  close(): Promise<void> {
    return this.loop.close();
  }
}
