-- Calendar-sync intents (the outbox), written in the same transaction as the booking, move or cancellation
-- that causes them, so a queue outage can delay a dealership's calendar but never lose a change. A worker
-- loop (core/jobs/sync-outbox.ts) claims due rows with FOR UPDATE SKIP LOCKED and queues the sync job; the
-- job marks its rows done in the transaction that records the sync. In the platform schema so one query
-- drains every tenant; rows carry ids only (the job re-reads the appointment inside its tenant).
create table platform.calendar_sync_outbox (
  id             bigserial primary key,
  tenant_id      text not null references platform.tenants(id),
  appointment_id uuid not null,
  action         text not null check (action in ('create', 'update', 'cancel')),
  revision       int not null,
  -- When the drain loop may (re)queue the row: pushed forward by a lease each time it is handed to a queue,
  -- so a job lost with its Redis is queued again once the lease runs out.
  available_at   timestamptz not null default now(),
  attempts       int not null default 0,
  last_error     text,
  created_at     timestamptz not null default now(),
  done_at        timestamptz,
  unique (tenant_id, appointment_id, revision)
);
create index calendar_sync_outbox_due on platform.calendar_sync_outbox (available_at) where done_at is null;
create index calendar_sync_outbox_appointment on platform.calendar_sync_outbox (tenant_id, appointment_id) where done_at is null;
