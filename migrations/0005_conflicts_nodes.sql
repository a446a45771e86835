-- Conflicts found while applying messages, kept so both reps involved can be told.
CREATE TABLE conflicts (
    id bigserial PRIMARY KEY,
    tenant_id uuid NOT NULL,
    kind text NOT NULL CHECK (kind IN ('superseded', 'overwrote', 'deleted')),
    dataset text NOT NULL,
    row_id text NOT NULL,
    col text NOT NULL,
    winner_value jsonb,
    winner_ts text NOT NULL,
    winner_user uuid,
    loser_value jsonb,
    loser_ts text NOT NULL,
    loser_user uuid,
    detected_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX conflicts_tenant ON conflicts (tenant_id, id);

-- Which user each node id (a device's replica) belongs to, and when it last synced.
CREATE TABLE nodes (
    tenant_id uuid NOT NULL,
    node text NOT NULL,
    user_id uuid NOT NULL,
    first_seen timestamptz NOT NULL DEFAULT now(),
    last_seen timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, node)
);
