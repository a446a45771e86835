-- The orders dashboard over Airtable (seed 002, issue 18).
--  * A connector's `mode`: 'lines' (one Airtable record per order line, the bridge's first
--    shape) or 'orders' (one record per order: Order ID, Customer, Status, Order Total,
--    Created At, Updated At, Priority; Airtable is the source of truth).
--  * `pre_order_totals`: every pre-order's total in cents by the one rule of
--    `sync_server.services.records.order_total`: the total set on it, else the sum over its
--    live, not cancelled lines of floor(quantity x price + 0.5), the line's price defaulting
--    to its product's unit price; null while no line has both. The dashboard's SQL reads it
--    here, so the rule is written once in SQL (tests compare it with the Python rule).
ALTER TABLE airtable_connectors ADD COLUMN mode text NOT NULL DEFAULT 'lines'
    CHECK (mode IN ('lines', 'orders'));

CREATE VIEW pre_order_totals AS
SELECT o.tenant_id, o.id,
       coalesce(o.total_cents, (
           SELECT sum(floor(f.quantity * coalesce(f.price_cents, p.unit_price_cents) + 0.5))::bigint
           FROM pre_order_flows f
           LEFT JOIN products p ON p.tenant_id = f.tenant_id AND p.id = f.product_id
           WHERE f.tenant_id = o.tenant_id AND f.pre_order_id = o.id
             AND f.tombstone IS DISTINCT FROM 1 AND f.status IS DISTINCT FROM 'cancelled'
       )) AS total_cents
FROM pre_orders o;

