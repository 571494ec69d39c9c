-- One Google Calendar connection per tenant (core/integrations/google/connections.ts). The refresh token is
-- not here: it is the tenant's encrypted credential (platform.tenant_credentials, name in credential_name).
-- In the platform schema because a push notification names only its channel: the channel id must lead to the
-- tenant before anything tenant-scoped is touched.
create table platform.google_connections (
  tenant_id          text primary key references platform.tenants(id),
  status             text not null check (status in ('connected', 'needs_reconnect')),
  credential_name    text not null,
  calendar_id        text,
  granted_scope      text not null default '',
  connected_by       text not null,
  connected_at       timestamptz not null default now(),
  last_error         text,
  -- push channel (events.watch); the token is kept as a SHA-256 hash: enough to verify, useless if leaked
  channel_id         text unique,
  channel_resource_id text,
  channel_token_hash bytea,
  channel_expires_at timestamptz,
  -- a channel being opened: Google sends its `sync` message before events.watch has even answered
  pending_channel_id text,
  pending_channel_token_hash bytea,
  -- incremental sync (events.list syncToken); sync_generation orders concurrent syncs (compare-and-set)
  sync_token         text,
  sync_generation    bigint not null default 0,
  last_synced_at     timestamptz,
  updated_at         timestamptz not null default now()
);
create index google_connections_channel_expiry on platform.google_connections (channel_expires_at) where channel_id is not null;
