-- Identities are keyed on (provider, issuer, subject), not (provider, subject) (issue 14): a subject is unique only
-- within its issuer, so pointing a provider id at another issuer must never map that issuer's subjects onto existing
-- accounts. The provider stays in the key: two sign-in methods may share an issuer and still be two ways in.
-- SQLite cannot change a table's constraints in place: the table is rebuilt, rows and index kept.
CREATE TABLE identities_by_issuer (
    id         TEXT    PRIMARY KEY NOT NULL,
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider   TEXT    NOT NULL,
    issuer     TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    email      TEXT,
    created_at INTEGER NOT NULL,
    UNIQUE (provider, issuer, subject)
) STRICT;

INSERT INTO identities_by_issuer (id, user_id, provider, issuer, subject, email, created_at)
    SELECT id, user_id, provider, issuer, subject, email, created_at FROM identities;
DROP TABLE identities;
ALTER TABLE identities_by_issuer RENAME TO identities;

CREATE INDEX identities_by_user ON identities (user_id);
