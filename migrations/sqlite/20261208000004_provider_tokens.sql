-- Provider tokens kept (issue 28, `PROVIDER_TOKENS=keep`): a person's access and refresh tokens at a sign-in
-- provider, for their own programs (`POST /api/v1/connections/{provider}/token`). Both sealed with SECRET_KEY,
-- bound to the person, the provider and the column. `state`: `connected`, or `reconnect` once the provider
-- refused the refresh token (the identity stays). `lease_until`: the one refresh in progress, on any instance (a
-- conditional UPDATE claims it; no lock is held while the provider answers). `version` changes with every new
-- pair, so a refresh that lost a race sees a sibling's.
CREATE TABLE provider_tokens (
    user_id       TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider      TEXT    NOT NULL,
    access_token  BLOB    NOT NULL,
    refresh_token BLOB,
    expires_at    INTEGER,
    scopes        TEXT    NOT NULL DEFAULT '',
    state         TEXT    NOT NULL DEFAULT 'connected',
    lease_until   INTEGER NOT NULL DEFAULT 0,
    version       INTEGER NOT NULL DEFAULT 0,
    updated_at    INTEGER NOT NULL,
    PRIMARY KEY (user_id, provider)
) STRICT;
