-- Cache epoch: one counter that moves whenever a cached platform fact changes (a tenant's status or config,
-- a number's owner, a credential). Every process caches tenants and number routes in memory; pub/sub tells
-- peers at once, and this counter bounds staleness when a message is lost: a process re-reads it at most
-- every CACHE_REVALIDATE_MS and drops its caches when it moved (core/tenancy/tenants.ts, docs in README
-- "Caches across processes"). Statement triggers bump it inside the writing transaction, so no code path can
-- change these tables without moving the epoch, and the new value is visible exactly when the change is.
create table platform.cache_epoch (
  id    boolean primary key default true check (id),  -- exactly one row
  epoch bigint not null
);
insert into platform.cache_epoch (id, epoch) values (true, 1);

create function platform.bump_cache_epoch() returns trigger language plpgsql as $$
begin
  update platform.cache_epoch set epoch = epoch + 1;
  return null;
end $$;

create trigger tenants_cache_epoch after insert or update or delete or truncate on platform.tenants
  for each statement execute function platform.bump_cache_epoch();
create trigger phone_numbers_cache_epoch after insert or update or delete or truncate on platform.phone_numbers
  for each statement execute function platform.bump_cache_epoch();
create trigger credentials_cache_epoch after insert or update or delete or truncate on platform.credentials
  for each statement execute function platform.bump_cache_epoch();
