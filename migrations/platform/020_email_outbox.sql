-- Confirmation-email intents (docs/email.md), written in the same transaction as the booking, move or
-- cancellation that causes them, so a queue outage delays a customer's confirmation but never loses it. The
-- worker's loop (core/jobs/email-outbox.ts) claims due rows with FOR UPDATE SKIP LOCKED and queues the `email`
-- job; the job closes its row in the transaction that records what it did (tenant table appointment_emails).
-- Ids only: the recipient is looked up in the tenant's CRM when the job runs.
create table platform.email_outbox (
  id             bigserial primary key,
  tenant_id      text not null references platform.tenants(id),
  appointment_id uuid not null,
  -- The appointment's revision after the change: one email per appointment version.
  revision       int not null,
  kind           text not null check (kind in ('booked', 'moved', 'cancelled')),
  available_at   timestamptz not null default now(),
  attempts       int not null default 0,
  last_error     text,
  created_at     timestamptz not null default now(),
  done_at        timestamptz,
  unique (tenant_id, appointment_id, revision)
);
create index email_outbox_due on platform.email_outbox (available_at) where done_at is null;
