-- Console accounts (docs/console.md). Users belong to the platform (platform_admin, tenant_id null) or to
-- exactly one tenant (tenant_admin, tenant_viewer). Secrets are stored only as hashes: passwords as Argon2id,
-- session ids and invitation tokens as sha256, so a read of these tables cannot be replayed as a login.
create table platform.users (
  id            uuid primary key default gen_random_uuid(),
  email         text not null unique check (email = lower(email) and length(email) between 3 and 254),
  password_hash text not null,
  role          text not null check (role in ('platform_admin', 'tenant_admin', 'tenant_viewer')),
  tenant_id     text references platform.tenants(id),
  failed_logins int not null default 0,
  locked_until  timestamptz,
  created_at    timestamptz not null default now(),
  check ((role = 'platform_admin') = (tenant_id is null))
);
create index users_tenant on platform.users (tenant_id);

create table platform.sessions (
  id_hash      text primary key,
  user_id      uuid not null references platform.users(id) on delete cascade,
  csrf_token   text not null,
  created_at   timestamptz not null default now(),
  expires_at   timestamptz not null,
  last_seen_at timestamptz not null default now()
);
create index sessions_user on platform.sessions (user_id);

create table platform.invitations (
  token_hash  text primary key,
  email       text not null check (email = lower(email)),
  role        text not null check (role in ('platform_admin', 'tenant_admin', 'tenant_viewer')),
  tenant_id   text references platform.tenants(id),
  invited_by  text not null,
  created_at  timestamptz not null default now(),
  expires_at  timestamptz not null,
  accepted_at timestamptz,
  check ((role = 'platform_admin') = (tenant_id is null))
);
