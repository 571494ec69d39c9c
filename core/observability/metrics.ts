import client from 'prom-client';

/**
 * One registry per process. Metric objects are created here, once, so every module counts into the same
 * series and tests can read values without scraping text.
 */
export const registry = new client.Registry();
client.collectDefaultMetrics({ register: registry });

export const metrics = {
  httpRequests: new client.Counter({ name: 'sl_http_requests_total', help: 'HTTP requests by route group and status', labelNames: ['group', 'status'] as const, registers: [registry] }),
  pluginCalls: new client.Histogram({ name: 'sl_plugin_call_seconds', help: 'Plugin method latency', labelNames: ['plugin', 'method', 'outcome'] as const, buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [registry] }),
  pluginErrors: new client.Counter({ name: 'sl_plugin_errors_total', help: 'Plugin errors by category', labelNames: ['plugin', 'category'] as const, registers: [registry] }),
  breakerState: new client.Gauge({ name: 'sl_breaker_open', help: '1 while a plugin breaker is open', labelNames: ['plugin'] as const, registers: [registry] }),
  activeCalls: new client.Gauge({ name: 'sl_active_calls', help: 'Live media streams in this process', registers: [registry] }),
  mediaFramesDropped: new client.Counter({ name: 'sl_media_frames_dropped_total', help: 'Malformed or unexpected media frames dropped', labelNames: ['reason'] as const, registers: [registry] }),
  mediaFrames: new client.Counter({ name: 'sl_media_frames_total', help: 'Media frames forwarded by voice, counted per call (never per frame)', labelNames: ['direction'] as const, registers: [registry] }),
  bargeIns: new client.Counter({ name: 'sl_barge_ins_total', help: 'Caller interruptions', labelNames: ['kind'] as const, registers: [registry] }),
  turnStage: new client.Histogram({ name: 'sl_turn_stage_seconds', help: 'Per-turn latency by stage (stt_final→llm_first_token, →first_clause, →tts_first_byte, →first_audio_out)', labelNames: ['stage'] as const, buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5], registers: [registry] }),
  toolCalls: new client.Histogram({ name: 'sl_tool_call_seconds', help: 'Agent tool latency', labelNames: ['tool', 'outcome'] as const, buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: [registry] }),
  webhooks: new client.Counter({ name: 'sl_twilio_webhooks_total', help: 'Twilio webhooks by route and outcome', labelNames: ['route', 'outcome'] as const, registers: [registry] }),
  queueJobs: new client.Gauge({ name: 'sl_queue_jobs', help: 'Jobs per queue and state (waiting, active, delayed), sampled by worker processes every 15 s', labelNames: ['queue', 'state'] as const, registers: [registry] }),
  jobs: new client.Counter({ name: 'sl_jobs_total', help: 'Jobs by queue and outcome', labelNames: ['queue', 'outcome'] as const, registers: [registry] }),
  bookings: new client.Counter({ name: 'sl_bookings_total', help: 'Booking attempts by outcome (booked, idempotent, slot_taken, invalid; retry_conflict and retry_deadlock count races resolved by a new transaction)', labelNames: ['outcome'] as const, registers: [registry] }),
  calendarDegraded: new client.Counter({ name: 'sl_calendar_busy_degraded_total', help: 'Availability computed from Postgres only because the external calendar failed', labelNames: ['reason'] as const, registers: [registry] }),
  cacheFlushes: new client.Counter({ name: 'sl_cache_flushes_total', help: 'Whole tenancy-cache flushes: epoch (a change seen by revalidation, e.g. a lost message), resubscribed (pub/sub reconnected)', labelNames: ['reason'] as const, registers: [registry] }),
  subscriberReconnects: new client.Counter({ name: 'sl_state_subscriber_reconnects_total', help: 'Pub/sub subscriber connections lost and re-established (messages in between were missed)', labelNames: ['backend'] as const, registers: [registry] }),
  publishFailures: new client.Counter({ name: 'sl_cache_invalidation_publish_failures_total', help: 'Cache invalidations that could not be published after retries; peers converge by revalidation (CACHE_REVALIDATE_MS)', registers: [registry] }),
  calendarSync: new client.Counter({ name: 'sl_calendar_sync_total', help: 'Calendar mirroring outcomes (created, updated, cancelled, up_to_date, failed, …)', labelNames: ['outcome'] as const, registers: [registry] }),
  rateLimitFallback: new client.Counter({ name: 'sl_rate_limit_local_total', help: 'Admin requests counted by the per-process limiter because the state store failed', labelNames: ['limiter'] as const, registers: [registry] }),
  telephonyKeyFallback: new client.Counter({ name: 'sl_telephony_key_fallback_total', help: 'Webhook dedupe / stream-token operations served by Postgres because the state store failed', labelNames: ['op'] as const, registers: [registry] }),
  reminders: new client.Counter({ name: 'sl_reminders_total', help: 'Reminder rows by event (scheduled, superseded, cancelled, enqueued, enqueue_failed, deferred, due)', labelNames: ['event'] as const, registers: [registry] }),
  reminderSkips: new client.Counter({ name: 'sl_reminder_skips_total', help: 'Reminders skipped at run time, by reason (appointment_cancelled, opted_out, reminders_disabled, …)', labelNames: ['reason'] as const, registers: [registry] }),
  reminderCallOutcomes: new client.Counter({ name: 'sl_reminder_call_outcomes_total', help: 'Outcomes recorded by reminder calls a person answered (confirmed, rescheduled, cancelled, opted_out, wrong_person, not_available, identity_unconfirmed, answered)', labelNames: ['outcome'] as const, registers: [registry] }),
  reminderCallsPlaced: new client.Counter({ name: 'sl_reminder_calls_placed_total', help: 'Reminder calls created at the telephony provider (placed), found again by reconciliation after a crash (reconciled), or refused (dial_failed)', labelNames: ['event'] as const, registers: [registry] }),
  reminderAttemptOutcomes: new client.Counter({ name: 'sl_reminder_attempt_outcomes_total', help: 'Reminder call attempts settled by the dialer, by final outcome (answered, voicemail, no_answer, busy, failed, confirmed, …) and whether a retry follows', labelNames: ['outcome', 'retry'] as const, registers: [registry] }),
  reminderQueueLag: new client.Histogram({ name: 'sl_reminder_queue_lag_seconds', help: 'From a reminder attempt being due to its call being created (rate limits, concurrency caps, queue backlog)', buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600], registers: [registry] }),
  syncOutbox: new client.Counter({ name: 'sl_calendar_sync_outbox_total', help: 'Calendar-sync outbox rows by outcome (enqueued, enqueue_failed, done, resync_queued)', labelNames: ['outcome'] as const, registers: [registry] }),
  emails: new client.Counter({ name: 'sl_emails_total', help: 'Confirmation emails by outcome (sent, no_address, superseded, duplicate, rejected, failed, retry)', labelNames: ['outcome'] as const, registers: [registry] }),
  emailOutbox: new client.Counter({ name: 'sl_email_outbox_total', help: 'Email outbox rows by outcome (enqueued, enqueue_failed, done)', labelNames: ['outcome'] as const, registers: [registry] }),
  voicemails: new client.Counter({ name: 'sl_voicemails_total', help: 'Inbound voicemails by outcome (recorded, transcribed, absent, invalid_url, fetch_failed, transcribe_failed, duplicate)', labelNames: ['outcome'] as const, registers: [registry] }),
  googleSync: new client.Counter({ name: 'sl_google_sync_total', help: 'Google Calendar mirror events by outcome (synced, full_resync, token_gone, superseded, needs_reconnect, channel_opened, error)', labelNames: ['outcome'] as const, registers: [registry] }),
  googlePush: new client.Counter({ name: 'sl_google_push_total', help: 'Google push notifications by outcome (queued, sync_ack, forged, enqueue_failed)', labelNames: ['outcome'] as const, registers: [registry] }),
};
