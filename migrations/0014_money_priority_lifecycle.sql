-- Money, priority and a lifecycle (issue 18; crdt/schema.py is the model):
--  * products carry a unit price, a line its own price (null: the product's) and status;
--  * a pre-order carries a total (null: the sum of its lines) and a priority;
--  * a pre-order's status runs pending -> confirmed -> processing -> shipped -> delivered
--    -> closed, or cancelled (DESIGN.md, "Statuses"). Status is a text column, so the
--    wider set needs no change here.
-- Each new field is an LWW register like the others: a value and its timestamp.
ALTER TABLE products ADD COLUMN unit_price_cents bigint, ADD COLUMN unit_price_cents_ts text;
ALTER TABLE pre_orders ADD COLUMN total_cents bigint, ADD COLUMN total_cents_ts text,
    ADD COLUMN priority text, ADD COLUMN priority_ts text;
ALTER TABLE pre_order_flows ADD COLUMN price_cents bigint, ADD COLUMN price_cents_ts text,
    ADD COLUMN status text, ADD COLUMN status_ts text;
