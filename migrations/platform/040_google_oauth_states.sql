-- Pending Google OAuth consents (core/integrations/google/oauth-state.ts). One row per "connect" click: the
-- `state` sent to Google is this row's id plus an HMAC, so a forged state is refused before any lookup, and
-- the row makes it single-use (consumed by an UPDATE … WHERE consumed_at IS NULL), bound to the tenant and the
-- admin who started it, and short-lived. The PKCE verifier never leaves the server.
create table platform.google_oauth_states (
  id            text primary key,
  tenant_id     text not null references platform.tenants(id),
  actor         text not null,
  code_verifier text not null,
  expires_at    timestamptz not null,
  consumed_at   timestamptz,
  created_at    timestamptz not null default now()
);
create index google_oauth_states_expiry on platform.google_oauth_states (expires_at);
