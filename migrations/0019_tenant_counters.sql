-- The other per-tenant orders from the tenant's own row (issue 22), as 0018 did for
-- messages: a conflict notice's feed position (`conflicts.seq`) and an event's id
-- (`outbox.id`, the relay's and the events feed's order) were values of global sequences.
-- A sequence hands out values when a statement runs, not when it commits, and under Citus
-- from a different range on each node, so a reader paging by "after N" could skip a value
-- that committed late. Both now come from counters on the tenant's `tenant_sequences` row,
-- bumped by the statement that writes them, which holds the row lock to commit: gap-free
-- commit order within the tenant. Each counter continues after the tenant's largest value.
-- `conflicts.id` (a notice's identity, never an order) and `airtable_runs.id` (a run's
-- identity) stay sequence values: unique, keyed with tenant_id.
ALTER TABLE tenant_sequences
    ADD COLUMN conflicts bigint NOT NULL DEFAULT 0,
    ADD COLUMN outbox bigint NOT NULL DEFAULT 0;
UPDATE tenant_sequences s SET
    conflicts = coalesce((SELECT max(c.seq) FROM conflicts c WHERE c.tenant_id = s.tenant_id), 0),
    outbox = coalesce((SELECT max(o.id) FROM outbox o WHERE o.tenant_id = s.tenant_id), 0);
-- messages.seq has come from the counter since 0018; its old default goes too, so nothing
-- can number a message from the global sequence by leaving `seq` out.
ALTER TABLE messages ALTER COLUMN seq DROP DEFAULT;
DROP SEQUENCE messages_seq;
ALTER TABLE conflicts ALTER COLUMN seq DROP DEFAULT;
DROP SEQUENCE conflicts_seq;
ALTER TABLE outbox ALTER COLUMN id DROP DEFAULT;
DROP SEQUENCE outbox_id_seq;
