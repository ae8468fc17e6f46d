-- New-sign-in notices (issue 14). The browsers (family and system, without versions) and networks (IPv4 /24,
-- IPv6 /64) each person has signed in from: a sign-in from a pair never seen for them is a new sign-in.
CREATE TABLE known_devices (
    user_id       TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    browser       TEXT    NOT NULL,
    network       TEXT    NOT NULL,
    first_seen_at INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL,
    PRIMARY KEY (user_id, browser, network)
) STRICT;

-- Each notice's "this wasn't me" link: single use (used_at), expiring, for one session.
CREATE TABLE sign_in_notices (
    id         TEXT    PRIMARY KEY NOT NULL,
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_id TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) STRICT;

CREATE INDEX sign_in_notices_by_expiry ON sign_in_notices (expires_at);

-- The browser session a personal access token was created in (none when a token made it): "this wasn't me" revokes
-- the tokens made in the session it ends.
ALTER TABLE api_tokens ADD COLUMN session_id TEXT;
