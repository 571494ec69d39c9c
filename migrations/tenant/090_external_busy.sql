-- Busy time mirrored from the dealership's own Google Calendar (events staff create there), kept current by
-- push notifications and incremental sync (core/integrations/google/sync.ts). Availability reads this table
-- instead of asking Google on every request. Our own bookings are not mirrored here: they are appointments.
create table external_busy (
  source     text not null,
  event_id   text not null,
  starts_at  timestamptz not null,
  ends_at    timestamptz not null,
  updated_at timestamptz not null default now(),
  primary key (source, event_id),
  check (ends_at > starts_at)
);
create index external_busy_range on external_busy using gist (tstzrange(starts_at, ends_at));
