-- The per-tenant merkle trie as a flat map path -> (hash, count): a batch updates only the
-- paths its new messages touch (hash = hash # delta, count = count + n), never one blob.
CREATE TABLE merkle_nodes (
    tenant_id uuid NOT NULL,
    path text NOT NULL,
    hash integer NOT NULL,
    count bigint NOT NULL,
    PRIMARY KEY (tenant_id, path)
);
