-- Email and password accounts (issue 12): the password, the single-use links sent by email, and the counters that
-- throttle guessing. Written for SQLite and PostgreSQL alike (migrations/postgres/ has the twin).

-- A person's password: argon2id as a PHC string (algorithm, parameters and salt inside). `email` is the address they
-- sign in with, unique whatever its case; `verified_at` is when they proved it by the emailed link (or a reset).
CREATE TABLE passwords (
    user_id     TEXT    PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email       TEXT    NOT NULL,
    hash        TEXT    NOT NULL,
    verified_at INTEGER,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT;

CREATE UNIQUE INDEX passwords_by_email ON passwords (lower(email));

-- Links sent by email: only a SHA-256 hash of each token is kept, so a copy of the database cannot use them. A link
-- is used once (`used_at`), and only before `expires_at`.
CREATE TABLE email_tokens (
    token_hash BLOB    PRIMARY KEY NOT NULL,
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT    NOT NULL CHECK (purpose IN ('verify', 'reset')),
    email      TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) STRICT;

CREATE INDEX email_tokens_by_user ON email_tokens (user_id, purpose);
CREATE INDEX email_tokens_by_expiry ON email_tokens (expires_at);

-- Failed password and code attempts, per account (`account:<user id>`) and per client address (`ip:<address>`):
-- too many within the window lock the key until `locked_until`, for longer each time (`lockouts`).
CREATE TABLE throttles (
    key          TEXT    PRIMARY KEY NOT NULL,
    failures     INTEGER NOT NULL,
    window_start INTEGER NOT NULL,
    lockouts     INTEGER NOT NULL DEFAULT 0,
    locked_until INTEGER
) STRICT;
