-- The PostgreSQL twin of migrations/sqlite/20261202000001_passwords.sql.
-- Email and password accounts (issue 12): the password, the single-use links sent by email, and the counters that
-- throttle guessing. Written for SQLite and PostgreSQL alike.

-- A person's password: argon2id as a PHC string (algorithm, parameters and salt inside). `email` is the address they
-- sign in with, unique whatever its case; `verified_at` is when they proved it by the emailed link (or a reset).
CREATE TABLE passwords (
    user_id     TEXT    PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    email       TEXT    NOT NULL,
    hash        TEXT    NOT NULL,
    verified_at BIGINT,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL
);

CREATE UNIQUE INDEX passwords_by_email ON passwords (lower(email));

-- Links sent by email: only a SHA-256 hash of each token is kept, so a copy of the database cannot use them. A link
-- is used once (`used_at`), and only before `expires_at`.
CREATE TABLE email_tokens (
    token_hash BYTEA   PRIMARY KEY,
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT    NOT NULL CHECK (purpose IN ('verify', 'reset')),
    email      TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL,
    used_at    BIGINT
);

CREATE INDEX email_tokens_by_user ON email_tokens (user_id, purpose);
CREATE INDEX email_tokens_by_expiry ON email_tokens (expires_at);

-- Failed password and code attempts, per account (`account:<user id>`) and per client address (`ip:<address>`):
-- too many within the window lock the key until `locked_until`, for longer each time (`lockouts`).
CREATE TABLE throttles (
    key          TEXT    PRIMARY KEY,
    failures     BIGINT  NOT NULL,
    window_start BIGINT  NOT NULL,
    lockouts     BIGINT  NOT NULL DEFAULT 0,
    locked_until BIGINT
);
