-- crm-builtin: call logs against a customer, and the indexes behind its name search.
create table crm_interactions (
  id          uuid primary key default gen_random_uuid(),
  customer_id uuid not null references customers(id),
  call_id     text not null,
  started_at  timestamptz not null,
  duration_ms int not null check (duration_ms >= 0),
  outcome     text not null check (outcome in ('booked', 'cancelled', 'rescheduled', 'info', 'transferred', 'callback', 'voicemail', 'other')),
  summary     text not null,
  created_at  timestamptz not null default now(),
  -- Post-call logging runs from a retrying job: the second attempt must find the first row, not add one.
  unique (customer_id, call_id)
);
create index crm_interactions_customer on crm_interactions (customer_id, started_at desc);

-- Name search is a case-insensitive prefix match; text_pattern_ops lets `lower(x) like 'abc%'` use the index
-- whatever the database collation (the 001 index on lower(last_name) only serves equality under non-C collations).
create index customers_first_name_prefix on customers (lower(first_name) text_pattern_ops);
create index customers_last_name_prefix on customers (lower(last_name) text_pattern_ops);
create index customers_full_name_prefix on customers ((lower(first_name || ' ' || last_name)) text_pattern_ops);
