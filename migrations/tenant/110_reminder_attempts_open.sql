-- Attempts that are due but have no call yet: what the reminder drain's sweep looks for each pass
-- (core/outbound/reminder-drain.ts) to re-queue a dial whose job was lost. Small by nature (an attempt leaves it
-- as soon as its call is placed or it ends), so the pass costs an index probe, not a scan of the history.
create index reminder_attempts_open on reminder_attempts (coalesce(dial_started_at, started_at))
  where outcome = 'due' and call_sid is null and ended_at is null;
