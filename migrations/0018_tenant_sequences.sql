-- A tenant's write order without node-local state (issue 22): each tenant has a row here.
-- Every write of the tenant locks it (storage.common.lock_tenant: FOR UPDATE, held to
-- commit, whichever database node the write enters through; an advisory lock is local to
-- one node), and the tenant's messages take their `seq` from its counter, so `seq` is
-- gap-free commit order within the tenant. Existing tenants continue after their largest
-- `seq` (values from the old global sequence: increasing within a tenant, with gaps).
CREATE TABLE tenant_sequences (
    tenant_id uuid PRIMARY KEY,
    messages bigint NOT NULL DEFAULT 0
);
INSERT INTO tenant_sequences (tenant_id, messages)
SELECT t.id, coalesce((SELECT max(m.seq) FROM messages m WHERE m.tenant_id = t.id), 0)
FROM tenants t;
