-- Per-tenant, per-day usage (the day on the dealership's own calendar, so a DST day has 23 or 25 hours), one
-- row per provider combination. Written only by the rollup (core/usage/rollup.ts), which recomputes whole
-- days from the tenant's call_usage rows and replaces them in one transaction: running it twice, or after a
-- late call row arrives, gives the same figures (idempotent, never incremented).
create table platform.usage_daily (
  tenant_id             text not null references platform.tenants(id),
  day                   date not null,
  stt_provider          text not null,
  llm_provider          text not null,
  llm_model             text not null,
  tts_provider          text not null,
  calls_inbound         int not null,
  calls_outbound        int not null,
  inbound_ms            bigint not null,
  outbound_ms           bigint not null,
  stt_audio_ms          bigint not null,
  llm_prompt_tokens     bigint not null,
  llm_completion_tokens bigint not null,
  tts_chars             bigint not null,
  tool_calls            bigint not null,
  rolled_up_at          timestamptz not null default now(),
  primary key (tenant_id, day, stt_provider, llm_provider, llm_model, tts_provider)
);
create index usage_daily_day on platform.usage_daily (day);
