-- Calendar mirroring state. `revision` counts changes to what an external calendar shows (book, move, cancel);
-- the sync job records the revision it pushed, so a late or duplicate job sees there is nothing left to do.
alter table appointments
  add column revision        int not null default 1,
  add column synced_revision int,
  add column sync_error      text,
  add column synced_at       timestamptz,
  -- The service's display name at booking time, so renaming or removing a service type keeps history readable.
  add column service_name    text;

-- The resync sweep finds unsynced bookings without scanning the table.
create index appointments_sync_pending on appointments (updated_at) where sync_state in ('pending', 'failed');
