-- Retention: the pruning job finds what has aged out by index, not by scanning.
CREATE INDEX outbox_published ON outbox (published_at) WHERE published_at IS NOT NULL;
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
CREATE INDEX login_failures_at ON login_failures (at);
CREATE INDEX user_tokens_expires ON user_tokens (expires_at);
CREATE INDEX sessions_expires ON sessions ((coalesce(ended_at, expires_at)));
