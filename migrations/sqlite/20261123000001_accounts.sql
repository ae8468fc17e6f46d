-- Accounts: the people, the external identities they sign in with, and the security activity log.
-- Times are Unix seconds (UTC). Ids are opaque random strings so they reveal neither order nor count.

CREATE TABLE users (
    id              TEXT    PRIMARY KEY NOT NULL,
    display_name    TEXT    NOT NULL,
    email           TEXT,
    email_verified  INTEGER NOT NULL DEFAULT 0 CHECK (email_verified IN (0, 1)),
    avatar_url      TEXT,
    created_at      INTEGER NOT NULL,
    last_sign_in_at INTEGER
) STRICT;

-- Finding an existing account by email, to refuse a silent merge when a new identity shares it.
CREATE INDEX users_by_email ON users (email COLLATE NOCASE) WHERE email IS NOT NULL;

CREATE TABLE identities (
    id         TEXT    PRIMARY KEY NOT NULL,
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider   TEXT    NOT NULL,
    issuer     TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    email      TEXT,
    created_at INTEGER NOT NULL,
    UNIQUE (provider, subject)
) STRICT;

CREATE INDEX identities_by_user ON identities (user_id);

-- Every authentication event. `user_id` becomes NULL when the account is deleted, so the trail survives anonymised.
CREATE TABLE audit_events (
    id         INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    user_id    TEXT    REFERENCES users (id) ON DELETE SET NULL,
    kind       TEXT    NOT NULL,
    ip         TEXT,
    user_agent TEXT,
    detail     TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(detail))
) STRICT;

CREATE INDEX audit_events_by_user ON audit_events (user_id, id DESC);
