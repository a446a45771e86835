-- Every tenant table's keys include tenant_id (issue 22): with tenants spread over Citus
-- workers, a table is distributed by tenant_id, and a distributed table's primary key and
-- unique constraints must contain it. `conflicts`, `outbox` and `airtable_runs` had a
-- bigserial key of their own; their ids stay unique (the sequences are global), the key
-- becomes (tenant_id, id). The tables that stay global, and why, are listed in DESIGN.md
-- ("Scaling past one machine") and held by tests/server/test_sql_rules.py.
ALTER TABLE conflicts DROP CONSTRAINT conflicts_pkey, ADD PRIMARY KEY (tenant_id, id);
ALTER TABLE outbox DROP CONSTRAINT outbox_pkey, ADD PRIMARY KEY (tenant_id, id);
ALTER TABLE airtable_runs DROP CONSTRAINT airtable_runs_pkey, ADD PRIMARY KEY (tenant_id, id);
-- The new keys are the (tenant_id, id) indexes these tables had beside their old keys.
DROP INDEX conflicts_tenant;
DROP INDEX outbox_tenant_feed;
DROP INDEX airtable_runs_tenant;
