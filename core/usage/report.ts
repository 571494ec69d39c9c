import type { Knex } from 'knex';
import type { WithTenant } from '../tenancy/with-tenant.js';


export type Granularity = 'day' | 'month';

/** One period's figures. Seconds carry milliseconds as decimals; tokens and characters are exact counts. */
export interface UsageTotals {
  calls: number;
  callsInbound: number;
  callsOutbound: number;
  inboundSeconds: number;
  outboundSeconds: number;
  sttAudioSeconds: number;
  llmPromptTokens: number;
  llmCompletionTokens: number;
  ttsCharacters: number;
  toolCalls: number;
}

export interface UsagePeriod extends UsageTotals { period: string }
export interface ProviderUsage extends UsageTotals { sttProvider: string; llmProvider: string; llmModel: string; ttsProvider: string }
export interface TenantPeriod extends UsagePeriod { tenantId: string }

/** Column order of the CSV exports (and of the totals in each JSON item). */
export const TOTAL_FIELDS: readonly (keyof UsageTotals)[] = [
  'calls', 'callsInbound', 'callsOutbound', 'inboundSeconds', 'outboundSeconds', 'sttAudioSeconds',
  'llmPromptTokens', 'llmCompletionTokens', 'ttsCharacters', 'toolCalls',
];

type Row = Record<string, string | number | null>;
const num = (v: string | number | null | undefined): number => Number(v ?? 0);

function totals(r: Row): UsageTotals {
  return {
    calls: num(r.calls_inbound) + num(r.calls_outbound), callsInbound: num(r.calls_inbound), callsOutbound: num(r.calls_outbound),
    inboundSeconds: num(r.inbound_ms) / 1000, outboundSeconds: num(r.outbound_ms) / 1000, sttAudioSeconds: num(r.stt_audio_ms) / 1000,
    llmPromptTokens: num(r.llm_prompt_tokens), llmCompletionTokens: num(r.llm_completion_tokens), ttsCharacters: num(r.tts_chars), toolCalls: num(r.tool_calls),
  };
}

// Sums over call_usage rows (one per call).
const CALL_SUMS = `count(*) filter (where direction = 'inbound') as calls_inbound, count(*) filter (where direction = 'outbound') as calls_outbound,
  coalesce(sum(telephony_ms) filter (where direction = 'inbound'), 0) as inbound_ms, coalesce(sum(telephony_ms) filter (where direction = 'outbound'), 0) as outbound_ms,
  coalesce(sum(stt_audio_ms), 0) as stt_audio_ms, coalesce(sum(llm_prompt_tokens), 0) as llm_prompt_tokens, coalesce(sum(llm_completion_tokens), 0) as llm_completion_tokens,
  coalesce(sum(tts_chars), 0) as tts_chars, coalesce(sum(tool_calls), 0) as tool_calls`;
// Sums over usage_daily rows (already summed per day).
const DAILY_SUMS = `sum(calls_inbound) as calls_inbound, sum(calls_outbound) as calls_outbound, sum(inbound_ms) as inbound_ms, sum(outbound_ms) as outbound_ms,
  sum(stt_audio_ms) as stt_audio_ms, sum(llm_prompt_tokens) as llm_prompt_tokens, sum(llm_completion_tokens) as llm_completion_tokens,
  sum(tts_chars) as tts_chars, sum(tool_calls) as tool_calls`;

/** `day` → 'YYYY-MM-DD', `month` → 'YYYY-MM', from a local date expression. */
const periodExpr = (g: Granularity, dateSql: string): string => g === 'month' ? `to_char(${dateSql}, 'YYYY-MM')` : `to_char(${dateSql}, 'YYYY-MM-DD')`;

/**
 * One tenant's usage over [from, to), read from its own call_usage rows (so today's calls count as soon as
 * they end, before any rollup), by the dealership's local day or month, plus the range by provider.
 */
export async function tenantUsage(o: { withTenant: WithTenant; tenantId: string; zone: string; from: Date; to: Date; granularity: Granularity }): Promise<{ items: UsagePeriod[]; byProvider: ProviderUsage[] }> {
  return o.withTenant(o.tenantId, async (trx) => {
    const period = periodExpr(o.granularity, '(started_at at time zone ?)::date');
    const byPeriod = await trx.raw(`select ${period} as period, ${CALL_SUMS} from call_usage where started_at >= ? and started_at < ? group by 1 order by 1`,
      [o.zone, o.from, o.to]) as { rows: Row[] };
    const byProvider = await trx.raw(`select stt_provider, llm_provider, llm_model, tts_provider, ${CALL_SUMS} from call_usage
      where started_at >= ? and started_at < ? group by 1, 2, 3, 4 order by 1, 2, 3, 4`, [o.from, o.to]) as { rows: Row[] };
    return {
      items: byPeriod.rows.map((r) => ({ period: String(r.period), ...totals(r) })),
      byProvider: byProvider.rows.map((r) => ({ sttProvider: String(r.stt_provider), llmProvider: String(r.llm_provider), llmModel: String(r.llm_model), ttsProvider: String(r.tts_provider), ...totals(r) })),
    };
  });
}

/**
 * Every tenant's usage from the daily rollup, local days `fromDay`..`toDay` inclusive, per tenant and period.
 * Reads only platform.usage_daily: one query however many tenants there are.
 */
export async function platformUsage(o: { db: Knex; fromDay: string; toDay: string; granularity: Granularity }): Promise<TenantPeriod[]> {
  const r = await o.db.raw(`select tenant_id, ${periodExpr(o.granularity, 'day')} as period, ${DAILY_SUMS} from platform.usage_daily
    where day >= ?::date and day <= ?::date group by 1, 2 order by 2, 1`, [o.fromDay, o.toDay]) as { rows: Row[] };
  return r.rows.map((row) => ({ tenantId: String(row.tenant_id), period: String(row.period), ...totals(row) }));
}

/** RFC 4180 CSV: header row, CRLF line ends, fields quoted when they hold a comma, quote or line break. */
export function toCsv(columns: readonly string[], rows: readonly Record<string, unknown>[]): string {
  const cell = (v: unknown): string => {
    const s = v === null || v === undefined ? '' : String(v);
    // A leading =, +, - or @ would be a formula in a spreadsheet; provider ids are ours, but be safe.
    const safe = /^[=+\-@]/.test(s) && !/^-?\d/.test(s) ? `'${s}` : s;
    return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
  };
  return [columns.join(','), ...rows.map((r) => columns.map((c) => cell(r[c])).join(','))].join('\r\n') + '\r\n';
}
