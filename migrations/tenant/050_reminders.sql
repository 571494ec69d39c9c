-- Reminder calls (docs/reminders.md). One row per (appointment, hoursBefore, appointment start): written by the
-- scheduler in the same transaction as the booking, move or cancellation that causes it, so a reminder can never
-- outlive the appointment time it was computed for. A move marks the old rows `superseded` and writes new ones; a
-- cancellation marks them `cancelled`. The worker's drain loop (core/outbound/reminder-drain.ts) queues a job for
-- each `scheduled` row shortly before it is due; the job re-reads everything here before doing anything.
create table reminders (
  id             uuid primary key default gen_random_uuid(),
  appointment_id uuid not null references appointments(id),
  hours_before   int not null check (hours_before between 1 and 168),
  -- The appointment start this reminder was computed for: the run-time check compares it with the row's current start.
  starts_at      timestamptz not null,
  -- When it should ring: starts_at - hours_before, then moved forward by the calling window when it falls outside.
  due_at         timestamptz not null,
  status         text not null default 'scheduled'
                 check (status in ('scheduled', 'due', 'skipped', 'cancelled', 'superseded')),
  -- Until when the job queued for this row owns it; the drain queues the row again after that (a lost job).
  queued_until   timestamptz,
  -- How often the calling window moved due_at forward (visible, so "why did it ring at 08:00" has an answer).
  window_deferrals int not null default 0,
  skip_reason    text,
  created_at     timestamptz not null default now(),
  updated_at     timestamptz not null default now()
);
-- At most one live reminder per appointment start and offset; superseded/cancelled history stays beside it.
create unique index reminders_live on reminders (appointment_id, hours_before, starts_at) where status in ('scheduled', 'due', 'skipped');
create index reminders_appointment on reminders (appointment_id);
create index reminders_drain on reminders (due_at) where status = 'scheduled';

-- Every run of a reminder that got past the stale check: a skip (outcome `skipped_<reason>`) or a call that is due
-- (outcome `due` until a dialer places it; then the call SID, AMD result and the call's outcome are filled in).
create table reminder_attempts (
  id             uuid primary key default gen_random_uuid(),
  reminder_id    uuid not null references reminders(id),
  appointment_id uuid not null references appointments(id),
  attempt        int not null check (attempt >= 1),
  scheduled_at   timestamptz not null,
  started_at     timestamptz not null default now(),
  call_sid       text,
  amd_result     text,
  outcome        text not null,
  created_at     timestamptz not null default now(),
  unique (reminder_id, attempt)
);
create index reminder_attempts_appointment on reminder_attempts (appointment_id, created_at);

-- "Don't call me again", per number: appointments carry the CRM's customer id (Twenty, Salesforce, … ids, not
-- rows of `customers`), so the number the reminder would dial is the one key every CRM shares.
create table reminder_opt_outs (
  phone       text primary key check (phone ~ '^\+[1-9][0-9]{6,14}$'),
  source      text not null default 'admin',
  created_at  timestamptz not null default now()
);
