-- Accounts: the people, the external identities they sign in with, and the security activity log.
-- The PostgreSQL twin of migrations/sqlite/20261123000001_accounts.sql: same tables, columns and meaning.
-- Times are Unix seconds (UTC). Ids are opaque random strings so they reveal neither order nor count.

CREATE TABLE users (
    id              TEXT    PRIMARY KEY,
    display_name    TEXT    NOT NULL,
    email           TEXT,
    email_verified  BOOLEAN NOT NULL DEFAULT FALSE,
    avatar_url      TEXT,
    created_at      BIGINT  NOT NULL,
    last_sign_in_at BIGINT
);

-- Finding an existing account by email, to refuse a silent merge when a new identity shares it.
CREATE INDEX users_by_email ON users (lower(email)) WHERE email IS NOT NULL;

CREATE TABLE identities (
    id         TEXT   PRIMARY KEY,
    user_id    TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider   TEXT   NOT NULL,
    issuer     TEXT   NOT NULL,
    subject    TEXT   NOT NULL,
    email      TEXT,
    created_at BIGINT NOT NULL,
    UNIQUE (provider, subject)
);

CREATE INDEX identities_by_user ON identities (user_id);

-- Every authentication event. `user_id` becomes NULL when the account is deleted, so the trail survives anonymised.
-- `detail` is JSON kept as the text that was written (not jsonb, which would reorder keys).
CREATE TABLE audit_events (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         BIGINT NOT NULL,
    user_id    TEXT   REFERENCES users (id) ON DELETE SET NULL,
    kind       TEXT   NOT NULL,
    ip         TEXT,
    user_agent TEXT,
    detail     TEXT   NOT NULL DEFAULT '{}' CHECK ((detail::jsonb) IS NOT NULL)
);

CREATE INDEX audit_events_by_user ON audit_events (user_id, id DESC);
