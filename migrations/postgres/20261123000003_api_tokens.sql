-- Personal access tokens. Only a SHA-256 hash of each secret is stored: the secret is shown once, at creation, and
-- cannot be recovered from here. A revoked token's row is deleted; the audit trail remembers it.
CREATE TABLE api_tokens (
    id           TEXT   PRIMARY KEY,
    user_id      TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT   NOT NULL,
    -- Space-separated scopes, e.g. 'profile:read sessions:read'.
    scopes       TEXT   NOT NULL,
    secret_hash  BYTEA  NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    last_used_at BIGINT,
    last_used_ip TEXT
);

CREATE INDEX api_tokens_by_user ON api_tokens (user_id, created_at DESC);
