import client from 'prom-client';
import { registry } from '../observability/metrics.js';

/**
 * Usage series, by tenant id (a bounded set: the tenants of this deployment). Counted once per call, at
 * its end, from the call's meter; never per frame or per token.
 */
export const usageMetrics = {
  telephonySeconds: new client.Counter({ name: 'sl_usage_telephony_seconds_total', help: 'Metered call time (media stream start to end) by tenant and direction', labelNames: ['tenant', 'direction'] as const, registers: [registry] }),
  sttSeconds: new client.Counter({ name: 'sl_usage_stt_audio_seconds_total', help: 'Caller audio sent to the speech-to-text provider', labelNames: ['tenant', 'provider'] as const, registers: [registry] }),
  llmTokens: new client.Counter({ name: 'sl_usage_llm_tokens_total', help: 'LLM tokens reported by the provider, by kind (prompt, completion)', labelNames: ['tenant', 'provider', 'kind'] as const, registers: [registry] }),
  ttsChars: new client.Counter({ name: 'sl_usage_tts_characters_total', help: 'Characters sent to the text-to-speech provider', labelNames: ['tenant', 'provider'] as const, registers: [registry] }),
  toolCalls: new client.Counter({ name: 'sl_usage_tool_calls_total', help: 'Agent tool executions', labelNames: ['tenant'] as const, registers: [registry] }),
  calls: new client.Counter({ name: 'sl_usage_calls_total', help: 'Metered calls by tenant and direction', labelNames: ['tenant', 'direction'] as const, registers: [registry] }),
  refusals: new client.Counter({ name: 'sl_usage_limit_refusals_total', help: 'Calls refused or held by a tenant limit (concurrent_calls, monthly_minutes) and direction', labelNames: ['tenant', 'limit', 'direction'] as const, registers: [registry] }),
  checkFailures: new client.Counter({ name: 'sl_usage_limit_check_failures_total', help: 'Limit checks that failed (state store or database down); the call was admitted', registers: [registry] }),
  writeFailures: new client.Counter({ name: 'sl_usage_record_failures_total', help: 'Call usage rows that could not be written', registers: [registry] }),
  activeCalls: new client.Gauge({ name: 'sl_usage_active_calls', help: 'Metered live calls in this process, by tenant', labelNames: ['tenant'] as const, registers: [registry] }),
  rollupRuns: new client.Counter({ name: 'sl_usage_rollup_total', help: 'Daily rollup runs per tenant by outcome (ok, failed)', labelNames: ['outcome'] as const, registers: [registry] }),
};
