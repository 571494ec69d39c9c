-- One row per metered call, written once when the voice session ends (core/usage/usage-service.ts). The
-- figures are what the providers were actually sent or reported, counted in the session by wrappers
-- (core/usage/call-meter.ts): μ-law bytes pushed to the STT, tokens from the LLM's streamed usage, characters
-- sent to the TTS socket, tool executions. `call_id` is the key, so a replayed write changes nothing.
create table call_usage (
  call_id               uuid primary key references calls(id),
  call_sid              text not null,
  direction             text not null check (direction in ('inbound', 'outbound')),
  started_at            timestamptz not null,
  ended_at              timestamptz not null,
  telephony_ms          bigint not null check (telephony_ms >= 0),
  stt_audio_ms          bigint not null check (stt_audio_ms >= 0),
  llm_prompt_tokens     bigint not null check (llm_prompt_tokens >= 0),
  llm_completion_tokens bigint not null check (llm_completion_tokens >= 0),
  llm_requests          int not null check (llm_requests >= 0),
  tts_chars             bigint not null check (tts_chars >= 0),
  tool_calls            int not null check (tool_calls >= 0),
  stt_provider          text not null,
  llm_provider          text not null,
  llm_model             text not null default '',
  tts_provider          text not null,
  end_reason            text,
  recorded_at           timestamptz not null default now()
);
-- The monthly-minutes check and the daily rollup both scan by start time.
create index call_usage_started on call_usage (started_at);
