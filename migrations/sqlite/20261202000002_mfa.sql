-- Two-step verification (issue 12): authenticator apps (TOTP), recovery codes, and step-up confirmation.

-- A person's authenticator: the TOTP seed, sealed with a key derived from SECRET_KEY (src/server/secret_key.rs),
-- never stored in the clear. `enabled_at` stays NULL while enrolling: the seed is on, and asked for at sign-in, only
-- once a code made from it has been entered. `last_step` is the time step of the last code accepted: a code is
-- accepted once, and never one older than it.
CREATE TABLE totp (
    user_id    TEXT    PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    seed       BLOB    NOT NULL,
    enabled_at INTEGER,
    last_step  INTEGER,
    created_at INTEGER NOT NULL
) STRICT;

-- Single-use recovery codes: only a SHA-256 of each (80 random bits) is stored; `used_at` marks a used one.
CREATE TABLE recovery_codes (
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    used_at    INTEGER,
    PRIMARY KEY (user_id, code_hash)
) STRICT;

-- When this session last confirmed who is at the keyboard (a sign-in, a password or a code): sensitive actions need
-- it within the last ten minutes.
ALTER TABLE user_sessions ADD COLUMN confirmed_at INTEGER;
UPDATE user_sessions SET confirmed_at = created_at;
