-- Gatehouse as an OAuth 2.1 / OpenID Connect provider (issue 13): the apps that sign people in with Gatehouse, what
-- people let them do, and the keys that sign the tokens they get.

-- An app (an OAuth client). `owner_id` is the person who registered it on the "Developer apps" page, NULL when an
-- operator added it with `gatehouse clients add`. Redirect URIs are a JSON array, compared exactly. A confidential
-- client has a secret, of which only a SHA-256 is kept (256 random bits: no slow hash needed); a public one has none
-- and proves itself with PKCE alone.
CREATE TABLE oauth_clients (
    id                        TEXT    PRIMARY KEY NOT NULL,
    owner_id                  TEXT    REFERENCES users (id) ON DELETE CASCADE,
    name                      TEXT    NOT NULL,
    redirect_uris             TEXT    NOT NULL,
    post_logout_redirect_uris TEXT    NOT NULL DEFAULT '[]',
    -- Space-separated scopes the app may ask for.
    scopes                    TEXT    NOT NULL,
    secret_hash               BLOB,
    secret_created_at         INTEGER,
    created_at                INTEGER NOT NULL
) STRICT;

CREATE INDEX oauth_clients_by_owner ON oauth_clients (owner_id, created_at);

-- What a person agreed an app may do: asked again only when the app wants more than this.
CREATE TABLE oauth_consents (
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT    NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    scopes     TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, client_id)
) STRICT;

-- One authorization: what one code (or one device approval) was exchanged for, the family of every refresh token
-- and access token that follows from it. Deleting the row ends them all: refresh tokens by the cascade, access
-- tokens because the API checks their `sid` against this table. Without `offline_access` it lives with the browser
-- session that approved it (`session_id`), and signing out there ends it too.
CREATE TABLE oauth_authorizations (
    id           TEXT    PRIMARY KEY NOT NULL,
    client_id    TEXT    NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    user_id      TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_id   TEXT    REFERENCES user_sessions (id) ON DELETE CASCADE,
    scopes       TEXT    NOT NULL,
    auth_time    INTEGER NOT NULL,
    amr          TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    -- The refresh tokens' absolute limit.
    expires_at   INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL
) STRICT;

CREATE INDEX oauth_authorizations_by_user ON oauth_authorizations (user_id, client_id);
CREATE INDEX oauth_authorizations_by_session ON oauth_authorizations (session_id);

-- Authorization codes: a SHA-256 of each, single use, bound to the client, the redirect URI and the PKCE challenge.
-- `authorization_id` is set when the code is exchanged, so a second use can end what the first one got.
CREATE TABLE oauth_codes (
    code_hash        BLOB    PRIMARY KEY NOT NULL,
    client_id        TEXT    NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    user_id          TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_id       TEXT    REFERENCES user_sessions (id) ON DELETE CASCADE,
    redirect_uri     TEXT    NOT NULL,
    scopes           TEXT    NOT NULL,
    nonce            TEXT,
    code_challenge   TEXT    NOT NULL,
    auth_time        INTEGER NOT NULL,
    amr              TEXT    NOT NULL,
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    used_at          INTEGER,
    authorization_id TEXT
) STRICT;

-- Refresh tokens: a SHA-256 of each. Rotated on every use: the used one keeps its row (`used_at`), so presenting it
-- again is recognised as theft and ends the whole authorization.
CREATE TABLE oauth_refresh_tokens (
    token_hash       BLOB    PRIMARY KEY NOT NULL,
    authorization_id TEXT    NOT NULL REFERENCES oauth_authorizations (id) ON DELETE CASCADE,
    scopes           TEXT    NOT NULL,
    created_at       INTEGER NOT NULL,
    used_at          INTEGER
) STRICT;

CREATE INDEX oauth_refresh_tokens_by_authorization ON oauth_refresh_tokens (authorization_id);

-- The keys that sign access and ID tokens (ES256). The private key is sealed with a key derived from SECRET_KEY;
-- the public half is kept as its JWK. The newest unretired key signs; a retired key stays in the JWKS until
-- `expires_at`, when every token it signed has expired.
CREATE TABLE oauth_signing_keys (
    id          TEXT    PRIMARY KEY NOT NULL,
    algorithm   TEXT    NOT NULL,
    private_key BLOB    NOT NULL,
    public_jwk  TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    retired_at  INTEGER,
    expires_at  INTEGER
) STRICT;

-- Device authorization (RFC 8628): a command-line tool gets a device code (kept as a SHA-256) and shows the person a
-- short user code to type at /device. `approved_by` and the rest are set when a signed-in person approves;
-- `denied_at` when they refuse. The tool polls the token endpoint, no faster than `poll_interval` seconds.
CREATE TABLE oauth_device_codes (
    device_code_hash BLOB    PRIMARY KEY NOT NULL,
    user_code        TEXT    NOT NULL UNIQUE,
    client_id        TEXT    NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    scopes           TEXT    NOT NULL,
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    poll_interval    INTEGER NOT NULL,
    last_polled_at   INTEGER,
    approved_by      TEXT    REFERENCES users (id) ON DELETE CASCADE,
    session_id       TEXT    REFERENCES user_sessions (id) ON DELETE CASCADE,
    auth_time        INTEGER,
    amr              TEXT,
    denied_at        INTEGER,
    used_at          INTEGER,
    authorization_id TEXT
) STRICT;
