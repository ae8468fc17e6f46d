-- One row per signed-in session: what the dashboard lists and what revocation deletes. The session's data lives in
-- the tower-sessions store; a session whose row is gone (revoked, expired, account deleted) is refused.
CREATE TABLE user_sessions (
    id           TEXT    PRIMARY KEY NOT NULL,
    user_id      TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider     TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    ip           TEXT,
    user_agent   TEXT
) STRICT;

CREATE INDEX user_sessions_by_user ON user_sessions (user_id, last_seen_at DESC);
CREATE INDEX user_sessions_by_expiry ON user_sessions (expires_at);
