-- Who created each row: the user whose message first wrote it (null for rows the server
-- wrote on no user's behalf, e.g. the Airtable import or the seed). Set once, when the
-- row is inserted (storage.registers.write), never by a later edit; the dashboard's
-- "Created by" column shows it. Existing rows take the sender of their first stored
-- message.
ALTER TABLE partners ADD COLUMN created_by uuid;
ALTER TABLE products ADD COLUMN created_by uuid;
ALTER TABLE pre_orders ADD COLUMN created_by uuid;
ALTER TABLE pre_order_flows ADD COLUMN created_by uuid;
ALTER TABLE profiles ADD COLUMN created_by uuid;

CREATE TEMPORARY TABLE first_writers AS
    SELECT DISTINCT ON (tenant_id, dataset, row_id) tenant_id, dataset, row_id, user_id
    FROM messages
    ORDER BY tenant_id, dataset, row_id, seq;

UPDATE partners t SET created_by = f.user_id FROM first_writers f
    WHERE f.dataset = 'partners' AND f.tenant_id = t.tenant_id AND f.row_id = t.id::text;
UPDATE products t SET created_by = f.user_id FROM first_writers f
    WHERE f.dataset = 'products' AND f.tenant_id = t.tenant_id AND f.row_id = t.id::text;
UPDATE pre_orders t SET created_by = f.user_id FROM first_writers f
    WHERE f.dataset = 'pre_orders' AND f.tenant_id = t.tenant_id AND f.row_id = t.id::text;
UPDATE pre_order_flows t SET created_by = f.user_id FROM first_writers f
    WHERE f.dataset = 'pre_order_flows' AND f.tenant_id = t.tenant_id
      AND f.row_id = t.id::text;
UPDATE profiles t SET created_by = f.user_id FROM first_writers f
    WHERE f.dataset = 'profiles' AND f.tenant_id = t.tenant_id AND f.row_id = t.id::text;

DROP TABLE first_writers;
