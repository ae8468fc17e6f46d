-- One row per signed-in session: what the dashboard lists and what revocation deletes. The session's data lives in
-- `tower_sessions` (tower-sessions' PostgresStore, pointed at this table); a session whose row is gone (revoked,
-- expired, account deleted) is refused.
CREATE TABLE user_sessions (
    id           TEXT   PRIMARY KEY,
    user_id      TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider     TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    ip           TEXT,
    user_agent   TEXT
);

CREATE INDEX user_sessions_by_user ON user_sessions (user_id, last_seen_at DESC);
CREATE INDEX user_sessions_by_expiry ON user_sessions (expires_at);

-- The session store's table, as PostgresStore::migrate would create it (created here instead, so that several
-- instances starting at once create it once, under the migrations' lock), with an index for the expiry purge.
CREATE TABLE tower_sessions (
    id          TEXT        PRIMARY KEY NOT NULL,
    data        BYTEA       NOT NULL,
    expiry_date TIMESTAMPTZ NOT NULL
);

CREATE INDEX tower_sessions_by_expiry ON tower_sessions (expiry_date);
