-- Accounts, sessions, devices and permissions (DESIGN.md, "Accounts").
--  * users gain the manager role and can be deactivated;
--  * sessions are kept on the server: a token names its session, and every request checks
--    it, so signing out, a password or role change, deactivating a user or revoking a
--    device ends it at once;
--  * devices (nodes) record their user agent and last session, and can be revoked;
--  * invites and password resets are single-use tokens, stored hashed;
--  * failed sign-ins are counted per account and per client address (throttling);
--  * every dataset row has a version: 1 when created, one more with every change applied.
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check CHECK (role IN ('rep', 'manager', 'admin'));
ALTER TABLE users ADD COLUMN active boolean NOT NULL DEFAULT true;

CREATE TABLE sessions (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    user_id uuid NOT NULL REFERENCES users (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    user_agent text,
    node text,                          -- the device (node id) this session last synced
    ended_at timestamptz,
    ended_reason text CHECK (ended_reason IN ('signed_out', 'password_changed', 'role_changed',
                                              'deactivated', 'device_revoked'))
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_node ON sessions (tenant_id, node);

ALTER TABLE nodes ADD COLUMN user_agent text;
ALTER TABLE nodes ADD COLUMN revoked_at timestamptz;
ALTER TABLE nodes ADD COLUMN revoked_by uuid;

CREATE TABLE user_tokens (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    kind text NOT NULL CHECK (kind IN ('invite', 'reset')),
    email text NOT NULL,
    role text CHECK (role IN ('rep', 'manager', 'admin')),  -- an invite's
    user_id uuid REFERENCES users (id),                     -- a reset's
    token_hash text NOT NULL UNIQUE,                       -- sha256 of the secret in the link
    created_by uuid REFERENCES users (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at timestamptz,
    revoked_at timestamptz
);
CREATE INDEX user_tokens_tenant ON user_tokens (tenant_id, kind, created_at);

CREATE TABLE login_failures (
    key text NOT NULL,                  -- 'account:<email>' or 'address:<ip>'
    at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_key ON login_failures (key, at);

ALTER TABLE partners ADD COLUMN version integer NOT NULL DEFAULT 1;
ALTER TABLE products ADD COLUMN version integer NOT NULL DEFAULT 1;
ALTER TABLE pre_orders ADD COLUMN version integer NOT NULL DEFAULT 1;
ALTER TABLE pre_order_flows ADD COLUMN version integer NOT NULL DEFAULT 1;
ALTER TABLE profiles ADD COLUMN version integer NOT NULL DEFAULT 1;
