-- A tenant's slug: the short name the Orders API (seed 004) shows as `tenantId` and takes
-- back in `POST /orders` (a mismatch is refused). Made from the name: lower-case, each run
-- of characters other than a-z and 0-9 one '-', trimmed of '-', 'tenant' if nothing is
-- left; a taken one gets '-2', '-3', ... (`storage.users.create_tenant` applies the same
-- rule, with `recap_slug`, to new tenants).
CREATE FUNCTION recap_slug(name text) RETURNS text LANGUAGE sql IMMUTABLE AS
$$ SELECT coalesce(nullif(trim(BOTH '-' FROM
       left(regexp_replace(lower(name), '[^a-z0-9]+', '-', 'g'), 60)), ''), 'tenant') $$;

ALTER TABLE tenants ADD COLUMN slug text;

DO $$
DECLARE
    t record;
    candidate text;
    n integer;
BEGIN
    FOR t IN SELECT id, recap_slug(name) AS base FROM tenants ORDER BY created_at, id LOOP
        candidate := t.base;
        n := 1;
        WHILE EXISTS (SELECT 1 FROM tenants WHERE slug = candidate) LOOP
            n := n + 1;
            candidate := t.base || '-' || n;
        END LOOP;
        UPDATE tenants SET slug = candidate WHERE id = t.id;
    END LOOP;
END $$;

ALTER TABLE tenants ALTER COLUMN slug SET NOT NULL, ADD CONSTRAINT tenants_slug_key UNIQUE (slug);
