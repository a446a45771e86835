-- REST API support: idempotency keys, the transactional outbox of business events, and
-- per-tenant integration settings; the keyset index for listing pre-orders.
CREATE TABLE idempotency_keys (
    tenant_id uuid NOT NULL,
    key text NOT NULL,
    request_hash text NOT NULL,
    status integer NOT NULL,
    response jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, key)
);

CREATE TABLE outbox (
    id bigserial PRIMARY KEY,
    tenant_id uuid NOT NULL,
    event_type text NOT NULL,
    aggregate_id uuid NOT NULL,
    payload jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz,
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error text
);
CREATE INDEX outbox_unpublished ON outbox (next_attempt_at) WHERE published_at IS NULL;
CREATE INDEX outbox_tenant_feed ON outbox (tenant_id, id);

CREATE TABLE tenant_settings (
    tenant_id uuid PRIMARY KEY REFERENCES tenants (id),
    webhook_url text
);

CREATE INDEX pre_orders_keyset ON pre_orders (tenant_id, (coalesce(created_at, '')) DESC, id DESC);
CREATE INDEX pre_orders_partner ON pre_orders (tenant_id, partner_id);
