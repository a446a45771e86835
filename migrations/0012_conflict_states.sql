-- Each party's say on a conflict notice, kept on the server so that every device of that
-- user shows the same: dismissed, or resolved (the loser re-applied the value). A state
-- change moves the notice up the user's feed (`seq`, which replaces `id` as the feed's
-- order), so devices that already hold it get it again, with its state. A re-apply is told
-- to the rep whose value it replaced: kind 'reapplied'.
ALTER TABLE conflicts DROP CONSTRAINT conflicts_kind_check;
ALTER TABLE conflicts ADD CONSTRAINT conflicts_kind_check
    CHECK (kind IN ('superseded', 'overwrote', 'deleted', 'reapplied'));
ALTER TABLE conflicts ADD COLUMN winner_state text CHECK (winner_state IN ('dismissed', 'resolved'));
ALTER TABLE conflicts ADD COLUMN loser_state text CHECK (loser_state IN ('dismissed', 'resolved'));
CREATE SEQUENCE conflicts_seq;
ALTER TABLE conflicts ADD COLUMN seq bigint;
UPDATE conflicts SET seq = id;
SELECT setval('conflicts_seq', coalesce(max(id), 0) + 1, false) FROM conflicts;
ALTER TABLE conflicts ALTER COLUMN seq SET DEFAULT nextval('conflicts_seq');
ALTER TABLE conflicts ALTER COLUMN seq SET NOT NULL;
CREATE INDEX conflicts_feed ON conflicts (tenant_id, seq);
