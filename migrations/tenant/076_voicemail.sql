-- Inbound voicemail (docs/voicemail.md): a message a caller leaves becomes a callback task carrying the Twilio
-- recording and its transcript. The task is written when Twilio reports the recording (before any download), so a
-- failed download or transcription still leaves the advisor a task with the recording to listen to.
alter table callback_tasks
  add column source                 text not null default 'agent' check (source in ('agent', 'voicemail')),
  add column recording_sid          text check (recording_sid ~ '^RE[0-9a-fA-F]{32}$'),
  add column recording_url          text,
  add column recording_duration_sec int check (recording_duration_sec >= 0),
  add column transcript             text,
  add column transcript_language    text,
  add column transcript_status      text check (transcript_status in ('pending', 'done', 'empty', 'failed'));
-- Twilio retries a callback it thinks failed: one task per recording.
create unique index callback_tasks_recording on callback_tasks (recording_sid) where recording_sid is not null;
create index callback_tasks_source on callback_tasks (source, created_at);
