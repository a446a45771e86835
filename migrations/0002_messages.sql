-- The message log: one row per field edit, keyed by its HLC timestamp string (fixed-width,
-- so text order is time order). Hash-partitioned by tenant so one tenant's history never
-- bloats another's indexes, and so partitions can move to other nodes later (Citus).
-- seq is the server's arrival order, used by bootstrap (see DESIGN.md).
CREATE SEQUENCE messages_seq;

CREATE TABLE messages (
    tenant_id uuid NOT NULL,
    timestamp text NOT NULL,
    dataset text NOT NULL,
    row_id text NOT NULL,
    col text NOT NULL,
    value jsonb,
    user_id uuid,
    seq bigint NOT NULL DEFAULT nextval('messages_seq'),
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, timestamp)
) PARTITION BY HASH (tenant_id);

CREATE TABLE messages_p0 PARTITION OF messages FOR VALUES WITH (MODULUS 8, REMAINDER 0);
CREATE TABLE messages_p1 PARTITION OF messages FOR VALUES WITH (MODULUS 8, REMAINDER 1);
CREATE TABLE messages_p2 PARTITION OF messages FOR VALUES WITH (MODULUS 8, REMAINDER 2);
CREATE TABLE messages_p3 PARTITION OF messages FOR VALUES WITH (MODULUS 8, REMAINDER 3);
CREATE TABLE messages_p4 PARTITION OF messages FOR VALUES WITH (MODULUS 8, REMAINDER 4);
CREATE TABLE messages_p5 PARTITION OF messages FOR VALUES WITH (MODULUS 8, REMAINDER 5);
CREATE TABLE messages_p6 PARTITION OF messages FOR VALUES WITH (MODULUS 8, REMAINDER 6);
CREATE TABLE messages_p7 PARTITION OF messages FOR VALUES WITH (MODULUS 8, REMAINDER 7);

CREATE INDEX messages_tenant_seq ON messages (tenant_id, seq);
