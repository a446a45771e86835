-- Node identity (DESIGN.md, "Node ids"): every node id that writes is registered before
-- its messages are stored, so no one can write under another's node id.
--  * a device's node belongs to one user of one tenant (kind 'device');
--  * the Airtable bridge's node belongs to its tenant's connector (kind 'bridge', no user);
--  * each server process's node is reserved for every tenant (system_nodes): REST writes
--    carry it, so no device may ever register it.
ALTER TABLE nodes ALTER COLUMN user_id DROP NOT NULL;
ALTER TABLE nodes ADD COLUMN kind text NOT NULL DEFAULT 'device'
    CHECK (kind IN ('device', 'bridge'));
ALTER TABLE nodes ADD CONSTRAINT nodes_device_has_user
    CHECK ((kind = 'device') = (user_id IS NOT NULL));
CREATE INDEX nodes_node ON nodes (node);

CREATE TABLE system_nodes (
    node text PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('server')),
    reserved_at timestamptz NOT NULL DEFAULT now()
);

INSERT INTO nodes (tenant_id, node, user_id, kind)
SELECT tenant_id, node, NULL, 'bridge' FROM airtable_connectors
ON CONFLICT (tenant_id, node) DO NOTHING;
