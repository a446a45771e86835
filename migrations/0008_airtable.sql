-- The Airtable bridge: one connector per tenant, the link between each Airtable record and
-- the pre-order (and flow) it mirrors, the run history, and the request log that keeps every
-- server process together under Airtable's per-base rate limit.
CREATE TABLE airtable_connectors (
    tenant_id uuid PRIMARY KEY REFERENCES tenants (id),
    base_id text NOT NULL,
    table_name text NOT NULL,
    api_key_enc text NOT NULL,          -- Fernet token: encrypted at rest, never returned
    field_map jsonb NOT NULL,
    schedule_s integer NOT NULL DEFAULT 300,
    node text NOT NULL,                 -- the bridge's own node id: its edits replicate as any other
    last_ts text,                       -- the last HLC timestamp the bridge issued
    import_after text,                  -- Airtable modified-time watermark (ISO, ms)
    export_seq bigint NOT NULL DEFAULT 0,  -- messages.seq already considered for write-back
    state text NOT NULL DEFAULT 'idle' CHECK (state IN ('idle', 'ok', 'error')),
    last_error text,
    last_run_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE airtable_links (
    tenant_id uuid NOT NULL,
    record_id text NOT NULL,
    pre_order_id uuid NOT NULL,
    flow_id uuid,                       -- null: a pre-order with no lines, as one record
    fields jsonb NOT NULL,              -- {logical field: [value in Airtable, Recap register ts]}
    PRIMARY KEY (tenant_id, record_id)
);
CREATE INDEX airtable_links_pre_order ON airtable_links (tenant_id, pre_order_id);
CREATE INDEX airtable_links_flow ON airtable_links (tenant_id, flow_id);

CREATE TABLE airtable_runs (
    id bigserial PRIMARY KEY,
    tenant_id uuid NOT NULL,
    trigger text NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    status text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'ok', 'error')),
    summary jsonb
);
CREATE INDEX airtable_runs_tenant ON airtable_runs (tenant_id, id DESC);

-- Send times of the latest requests to each base, across every process (see limiter.py).
CREATE TABLE airtable_rate (
    base_id text PRIMARY KEY,
    sent timestamptz[] NOT NULL DEFAULT '{}',
    penalty_until timestamptz
);
