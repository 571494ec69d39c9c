-- Outbound reminder calls (docs/reminders.md, "Placing the call"). The dialer writes the call intent on the attempt
-- BEFORE it asks Twilio to create the call (dial_key, dial_started_at), then records the SID; a worker that died in
-- between finds the intent and reconciles with Twilio's call list instead of calling again. Twilio's status and
-- answering-machine callbacks then move the attempt forward (call_status only ever moves forward: status_rank).
alter table reminder_attempts
  -- The idempotency key of this attempt's call (`<reminderId>-<attempt>`): one call per key, ever.
  add column dial_key        text unique,
  -- When the intent was written (just before calls.create); reconciliation looks for calls created after it.
  add column dial_started_at timestamptz,
  -- How often the intent was written: a second one only after reconciliation proved no call was created.
  add column dial_tries      int not null default 0,
  add column placed_at       timestamptz,
  add column call_status     text,
  add column call_status_rank int not null default -1,
  add column ended_at        timestamptz,
  -- Why the call could not be placed (a refused number, a provider outage after every retry).
  add column dial_error      text;

alter table reminders
  -- The reminder's last word once no further attempt follows (voicemail, no_answer, answered, confirmed, …).
  add column outcome       text,
  -- `manual` rows come from the admin API's "send now"; they are outside the (appointment, hoursBefore) schedule.
  add column kind          text not null default 'scheduled' check (kind in ('scheduled', 'manual')),
  -- A platform admin's "send now, whatever the dealership's window" (the 08:00-21:00 legal hours still apply).
  add column ignore_window boolean not null default false;

-- Manual rows are not part of the schedule: the live-row uniqueness covers scheduled rows only.
drop index reminders_live;
create unique index reminders_live on reminders (appointment_id, hours_before, starts_at)
  where status in ('scheduled', 'due', 'skipped') and kind = 'scheduled';
create index reminder_attempts_dialing on reminder_attempts (dial_started_at) where call_sid is null and dial_started_at is not null;
