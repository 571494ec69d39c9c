-- One vehicle (or, for a booking without a vehicle, one customer) can hold only one bay at a time. The bay
-- exclusion in 001_init only protects a bay; two calls could each book the same car into a different bay.
-- Postgres enforces it, like the bay rule, so two concurrent calls can't both win (docs/caller-verification.md).
--
-- Existing tenants may already hold such overlaps, and an exclusion constraint can't be added NOT VALID, so
-- the migration must not fail on them: of each overlapping group the EARLIEST booked row (created_at, id)
-- stays under the rule and every later overlapping row is marked `overlap_exempt`. Nothing is cancelled or
-- moved by a migration (a customer may be relying on either booking); staff find the marked rows with
-- `where overlap_exempt` and resolve them, and moving one (reschedule) clears the mark and puts it back
-- under the rule. The kept rows never overlap each other: any row with an earlier overlapping row is marked.
alter table appointments add column overlap_exempt boolean not null default false;

update appointments a set overlap_exempt = true
 where a.status <> 'cancelled' and a.vehicle_id is not null
   and exists (
     select 1 from appointments b
      where b.vehicle_id = a.vehicle_id and b.status <> 'cancelled' and b.id <> a.id
        and tstzrange(b.starts_at, b.ends_at, '[)') && tstzrange(a.starts_at, a.ends_at, '[)')
        and (b.created_at, b.id) < (a.created_at, a.id));

update appointments a set overlap_exempt = true
 where a.status <> 'cancelled' and a.vehicle_id is null
   and exists (
     select 1 from appointments b
      where b.customer_id = a.customer_id and b.vehicle_id is null and b.status <> 'cancelled' and b.id <> a.id
        and tstzrange(b.starts_at, b.ends_at, '[)') && tstzrange(a.starts_at, a.ends_at, '[)')
        and (b.created_at, b.id) < (a.created_at, a.id));

-- The scheduler tells these two apart from the bay rule by name (core/scheduling/scheduler.ts): a bay
-- conflict means "try the next bay", these mean "this car/customer is already booked then".
alter table appointments
  add constraint appointments_vehicle_no_overlap exclude using gist
    (vehicle_id with =, tstzrange(starts_at, ends_at, '[)') with &&)
    where (status <> 'cancelled' and vehicle_id is not null and not overlap_exempt),
  add constraint appointments_customer_no_overlap exclude using gist
    (customer_id with =, tstzrange(starts_at, ends_at, '[)') with &&)
    where (status <> 'cancelled' and vehicle_id is null and not overlap_exempt);
