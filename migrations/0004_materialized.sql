-- Materialized state: per row, each field's winning value and its timestamp (<col>_ts),
-- maintained by the LWW rule as messages are applied, so reads are plain SQL.

CREATE TABLE partners (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL,
    name text,
    name_ts text,
    short_name text,
    short_name_ts text,
    tombstone smallint,
    tombstone_ts text,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE products (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL,
    name text,
    name_ts text,
    sku text,
    sku_ts text,
    unit_weight double precision,
    unit_weight_ts text,
    tombstone smallint,
    tombstone_ts text,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE pre_orders (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL,
    partner_id uuid,
    partner_id_ts text,
    delivery_date date,
    delivery_date_ts text,
    status text,
    status_ts text,
    created_at text,
    created_at_ts text,
    tombstone smallint,
    tombstone_ts text,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE pre_order_flows (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL,
    pre_order_id uuid,
    pre_order_id_ts text,
    product_id uuid,
    product_id_ts text,
    quantity double precision,
    quantity_ts text,
    weight double precision,
    weight_ts text,
    tombstone smallint,
    tombstone_ts text,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE profiles (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL,
    name text,
    name_ts text,
    email text,
    email_ts text,
    avatar text,
    avatar_ts text,
    tombstone smallint,
    tombstone_ts text,
    PRIMARY KEY (tenant_id, id)
);

CREATE INDEX pre_orders_by_date ON pre_orders (tenant_id, delivery_date);
CREATE INDEX pre_order_flows_by_order ON pre_order_flows (tenant_id, pre_order_id);
