-- The relay's claim reads a tenant's unpublished events in id order, and checks that no
-- earlier one is leased or backing off. With only the (tenant_id, id) key and an index on
-- next_attempt_at, both scans walked every event of the tenant, published or not (5.6 ms a
-- claim at 9k events in the many-reps benchmark, and growing until retention prunes): this
-- index holds only the unpublished ones, a handful.
CREATE INDEX outbox_due ON outbox (tenant_id, id) WHERE published_at IS NULL;
