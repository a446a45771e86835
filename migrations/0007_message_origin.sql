-- The node that pushed each message (a device's node id, or the server's for REST writes).
-- A device is never sent back what it pushed itself; a message merely stamped with its node
-- id by someone else is still delivered to it.
ALTER TABLE messages ADD COLUMN origin text;
