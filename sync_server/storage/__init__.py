"""The storage layer: every SQL statement the server runs, and nothing else. One module per
area; handlers, services, the relay and the Airtable bridge call these functions and never
write SQL themselves.

    common       connection type, value conversions, the tenant write lock
    messages     the message log: insert, ranges, pages by sequence
    merkle       the trie as rows: deltas, nodes, the whole trie
    registers    each row's LWW registers: read, upsert, live rows
    apply        one batch of messages applied in one transaction (uses the above)
    records      the REST API's reads of pre-orders, flows, partners and products
    conflicts    conflicts found while applying, and each user's feed of them
    outbox       business events (the transactional outbox), webhooks, live notices
    idempotency  stored answers of idempotent creates
    snapshot     the pages of a new device's bootstrap
    users        tenants, users, and which user each device node belongs to
    connectors   the Airtable connector: settings, runs, links, the shared rate budget
    summary      the dashboard's aggregates

Writes of a tenant are serialized by a transaction-scoped advisory lock (`common`): the
read-merge-write of registers and the merkle XOR are race-free, and `seq` order equals
commit order within a tenant. Identifiers interpolated into SQL come only from
`crdt.schema.DATASETS`, never from input.
"""
