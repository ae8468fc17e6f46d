-- Personal access tokens. Only a SHA-256 hash of each secret is stored: the secret is shown once, at creation, and
-- cannot be recovered from here. A revoked token's row is deleted; the audit trail remembers it.
CREATE TABLE api_tokens (
    id           TEXT    PRIMARY KEY NOT NULL,
    user_id      TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    -- Space-separated scopes, e.g. 'profile:read sessions:read'.
    scopes       TEXT    NOT NULL,
    secret_hash  BLOB    NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    last_used_at INTEGER,
    last_used_ip TEXT
) STRICT;

CREATE INDEX api_tokens_by_user ON api_tokens (user_id, created_at DESC);
