-- A reminder call a person answered (docs/reminders.md, "When a person answers"). The attempt row links the call
-- it became (its transcript is the call's call_events) and records when the conversation wrote its outcome:
-- `outcome_at` is set exactly once, by the first of confirm / reschedule / cancel / opt-out / wrong person, or by
-- the end of the call when none of them happened. Every later write is refused by `where outcome_at is null`.
alter table reminder_attempts add column call_id uuid references calls(id);
alter table reminder_attempts add column outcome_at timestamptz;
create index reminder_attempts_call on reminder_attempts (call_id) where call_id is not null;
