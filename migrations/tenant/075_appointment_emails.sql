-- What happened to each confirmation email (docs/email.md): one row per appointment version (revision), written
-- by the `email` job under a per-appointment lock before it reports success, so a repeated job finds the row and
-- sends nothing. `sequence` is the iCalendar SEQUENCE the invite carried (revision - 1).
create table appointment_emails (
  id             uuid primary key default gen_random_uuid(),
  appointment_id uuid not null references appointments(id),
  revision       int not null,
  kind           text not null check (kind in ('booked', 'moved', 'cancelled')),
  sequence       int not null,
  -- sent; no_address (the customer has no usable email); superseded (a newer version was due first);
  -- rejected (the provider refused it for good); failed (retries ran out).
  status         text not null check (status in ('sent', 'no_address', 'superseded', 'rejected', 'failed')),
  recipient      text,
  provider       text,
  message_id     text,
  error_code     text,
  created_at     timestamptz not null default now(),
  unique (appointment_id, revision)
);
