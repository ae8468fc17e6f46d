-- The PostgreSQL twin of migrations/sqlite/20261202000002_mfa.sql.
-- Two-step verification (issue 12): authenticator apps (TOTP), recovery codes, and step-up confirmation.

-- A person's authenticator: the TOTP seed, sealed with a key derived from SECRET_KEY (src/server/secret_key.rs),
-- never stored in the clear. `enabled_at` stays NULL while enrolling: the seed is on, and asked for at sign-in, only
-- once a code made from it has been entered. `last_step` is the time step of the last code accepted: a code is
-- accepted once, and never one older than it.
CREATE TABLE totp (
    user_id    TEXT    PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    seed       BYTEA   NOT NULL,
    enabled_at BIGINT,
    last_step  BIGINT,
    created_at BIGINT  NOT NULL
);

-- Single-use recovery codes: only a SHA-256 of each (80 random bits) is stored; `used_at` marks a used one.
CREATE TABLE recovery_codes (
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  BYTEA   NOT NULL,
    created_at BIGINT  NOT NULL,
    used_at    BIGINT,
    PRIMARY KEY (user_id, code_hash)
);

-- When this session last confirmed who is at the keyboard (a sign-in, a password or a code): sensitive actions need
-- it within the last ten minutes.
ALTER TABLE user_sessions ADD COLUMN confirmed_at BIGINT;
UPDATE user_sessions SET confirmed_at = created_at;
