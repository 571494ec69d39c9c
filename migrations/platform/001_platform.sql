-- Control plane. Table names here never occur in tenant schemas, so a query that escapes tenant
-- scoping can't silently land on a platform table of the same name.
create schema if not exists platform;
create schema if not exists shared;
create extension if not exists btree_gist with schema shared;
create extension if not exists pgcrypto with schema shared;

create table platform.tenants (
  id            text primary key,               -- ulid, lowercase
  slug          text not null unique,
  name          text not null,
  schema_name   text not null unique check (schema_name ~ '^t_[a-z0-9]{20,40}$'),
  status        text not null default 'provisioning'
                check (status in ('provisioning', 'active', 'failed', 'offboarded')),
  config        jsonb not null,
  config_hash   text not null,
  config_errors jsonb,                          -- non-null: the stored config is invalid, tenant disabled
  created_at    timestamptz not null default now(),
  updated_at    timestamptz not null default now(),
  offboarded_at timestamptz
);

create table platform.tenant_migrations (
  tenant_id   text primary key references platform.tenants(id),
  schema_name text not null,
  version     text,                             -- name of the last applied tenant migration
  state       text not null default 'pending' check (state in ('pending', 'current', 'failed')),
  error       text,
  updated_at  timestamptz not null default now()
);

create table platform.phone_numbers (
  e164        text primary key check (e164 ~ '^\+[1-9][0-9]{6,14}$'),
  tenant_id   text not null references platform.tenants(id),
  provider_sid text,
  webhooks_configured boolean not null default false,
  created_at  timestamptz not null default now()
);
create index phone_numbers_tenant on platform.phone_numbers (tenant_id);

create table platform.credentials (
  tenant_id  text not null references platform.tenants(id),
  name       text not null check (name ~ '^[a-z0-9][a-z0-9_.-]{0,63}$'),
  ciphertext bytea not null,
  iv         bytea not null,
  tag        bytea not null,
  updated_at timestamptz not null default now(),
  primary key (tenant_id, name)
);

create table platform.plugin_status (
  tenant_id  text not null references platform.tenants(id),
  slot       text not null,
  plugin_id  text,
  state      text not null check (state in ('ok', 'disabled')),
  error      jsonb,
  updated_at timestamptz not null default now(),
  primary key (tenant_id, slot)
);

create table platform.audit_log (
  id         bigserial primary key,
  at         timestamptz not null default now(),
  actor      text not null,
  role       text not null,
  tenant_id  text,
  action     text not null,
  target     text,
  ip         text,
  details    jsonb
);
create index audit_log_tenant on platform.audit_log (tenant_id, at);

-- CallSid → tenant, so status callbacks and media streams find their tenant without trusting the body.
create table platform.call_routes (
  call_sid   text primary key,
  tenant_id  text not null references platform.tenants(id),
  created_at timestamptz not null default now()
);

-- Postgres-backed soft state (core/state) when REDIS_URL is unset.
create unlogged table platform.kv (
  key        text primary key,
  value      text not null,
  version    bigint not null default 1,
  expires_at timestamptz
);
create index kv_expiry on platform.kv (expires_at) where expires_at is not null;
