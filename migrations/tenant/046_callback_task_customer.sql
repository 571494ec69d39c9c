-- A callback task may be about an account rather than the caller: verify_customer escalates an account under a
-- guessing attack to a human, and the advisor must call the number ON FILE for that account (never the number
-- that called, which may be the attacker's). Plugin ids, so text and no foreign key, as in appointments.
alter table callback_tasks add column customer_id text;
create index callback_tasks_open on callback_tasks (created_at) where status = 'open';
