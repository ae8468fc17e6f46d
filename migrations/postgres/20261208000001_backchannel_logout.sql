-- Back-channel logout from sign-in providers (issue 28): a session remembers which provider session and which
-- identity at the provider it came from (`sid` and `sub` of the ID token), so a provider's logout token can end it.
ALTER TABLE user_sessions ADD COLUMN provider_subject TEXT;
ALTER TABLE user_sessions ADD COLUMN provider_sid TEXT;

CREATE INDEX user_sessions_by_provider_sid ON user_sessions (provider, provider_sid) WHERE provider_sid IS NOT NULL;
CREATE INDEX user_sessions_by_provider_subject ON user_sessions (provider, provider_subject)
    WHERE provider_subject IS NOT NULL;

-- What may be used only once, kept until it would have expired anyway: a passkey ceremony's challenge, a provider's
-- logout token's `jti`. `kind` keeps each use's values apart (e.g. `passkey`, `logout:dev`); one conditional INSERT
-- decides the first use on every instance. Only what passed its signature or seal check is written, and every row
-- expires within minutes.
CREATE TABLE single_use (
    kind       TEXT    NOT NULL,
    value      TEXT    NOT NULL,
    expires_at BIGINT  NOT NULL,
    PRIMARY KEY (kind, value)
);

CREATE INDEX single_use_by_expiry ON single_use (expires_at);

INSERT INTO single_use (kind, value, expires_at) SELECT 'passkey', challenge, expires_at FROM passkey_challenges;
DROP TABLE passkey_challenges;
