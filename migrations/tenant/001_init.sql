-- Runs with search_path set to the tenant schema only: every name below is unqualified on purpose.
create table customers (
  id          uuid primary key default gen_random_uuid(),
  first_name  text not null check (length(first_name) between 1 and 100),
  last_name   text not null check (length(last_name) between 1 and 100),
  phone       text check (phone ~ '^\+[1-9][0-9]{6,14}$'),
  email       text,
  zip         text,
  external_ref text,
  notes       text,
  created_at  timestamptz not null default now(),
  updated_at  timestamptz not null default now()
);
create index customers_phone on customers (phone);
create index customers_last_name on customers (lower(last_name));

create table vehicles (
  id          uuid primary key default gen_random_uuid(),
  customer_id uuid not null references customers(id),
  vin         text check (vin ~ '^[A-HJ-NPR-Z0-9]{17}$'),
  year        int check (year between 1950 and 2100),
  make        text,
  model       text,
  mileage     int check (mileage >= 0),
  created_at  timestamptz not null default now()
);
create index vehicles_customer on vehicles (customer_id);
create unique index vehicles_vin on vehicles (vin) where vin is not null;

create table service_history (
  id           uuid primary key default gen_random_uuid(),
  vehicle_id   uuid not null references vehicles(id),
  performed_at timestamptz not null,
  service_type text not null,
  description  text,
  mileage      int,
  cost_cents   int
);
create index service_history_vehicle on service_history (vehicle_id, performed_at desc);

create table appointments (
  id            uuid primary key default gen_random_uuid(),
  -- The CRM plugin's ids (builtin: customers.id; Twenty: person ids), so no foreign keys here.
  customer_id   text not null,
  vehicle_id    text,
  customer_name text,
  customer_phone text,
  resource_id   text not null,
  service_type  text not null,
  starts_at     timestamptz not null,
  ends_at       timestamptz not null check (ends_at > starts_at),
  status        text not null default 'booked' check (status in ('booked', 'cancelled', 'completed', 'no_show')),
  source        text not null default 'voice',
  call_sid      text,
  notes         text,
  cancel_reason text,
  idempotency_key text unique,
  external_event_id text,
  sync_state    text not null default 'none' check (sync_state in ('none', 'pending', 'synced', 'failed')),
  created_at    timestamptz not null default now(),
  updated_at    timestamptz not null default now(),
  -- The authority against double booking: one resource, one half-open interval, whatever Redis says.
  constraint appointments_no_overlap exclude using gist
    (resource_id with =, tstzrange(starts_at, ends_at, '[)') with &&) where (status <> 'cancelled')
);
create index appointments_customer on appointments (customer_id, starts_at);
create index appointments_range on appointments (starts_at, ends_at) where status <> 'cancelled';

create table calls (
  id            uuid primary key default gen_random_uuid(),
  call_sid      text not null unique,
  direction     text not null check (direction in ('inbound', 'outbound')),
  from_number   text,
  to_number     text,
  status        text not null default 'initiated',
  status_rank   int not null default 0,
  customer_id   text,
  outcome       text,
  summary       text,
  started_at    timestamptz not null default now(),
  ended_at      timestamptz,
  crm_logged_at timestamptz
);
create index calls_started on calls (started_at desc);

create table call_events (
  id       bigserial primary key,
  call_id  uuid not null references calls(id),
  at       timestamptz not null default now(),
  kind     text not null,
  payload  jsonb not null
);
create index call_events_call on call_events (call_id, id);

create table callback_tasks (
  id         uuid primary key default gen_random_uuid(),
  call_id    uuid references calls(id),
  phone      text,
  reason     text not null,
  status     text not null default 'open' check (status in ('open', 'done')),
  created_at timestamptz not null default now()
);

create table plugin_kv (
  plugin_id  text not null,
  key        text not null,
  value      jsonb not null,
  expires_at timestamptz,
  primary key (plugin_id, key)
);
