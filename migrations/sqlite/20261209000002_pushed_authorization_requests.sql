-- Pushed authorization requests (RFC 9126, issue 29): an app POSTs its authorization request to /oauth/par, where
-- it is checked as /oauth/authorize would check it, then kept here for 60 s under the SHA-256 of the secret part of
-- the request_uri it is given; /oauth/authorize takes it once (the row is deleted as it is read). Small (the checked
-- request as JSON, a few hundred bytes), bounded per app, purged when expired, gone with its app.
CREATE TABLE pushed_authorization_requests (
    id          BLOB    PRIMARY KEY,
    client_id   TEXT    NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    request     TEXT    NOT NULL,
    expires_at  BIGINT  NOT NULL
);
CREATE INDEX pushed_authorization_requests_client ON pushed_authorization_requests (client_id, expires_at);
CREATE INDEX pushed_authorization_requests_expiry ON pushed_authorization_requests (expires_at);

-- An app may be held to PAR: a plain authorization request for it is refused.
ALTER TABLE oauth_clients ADD COLUMN require_pushed_authorization_requests INTEGER NOT NULL DEFAULT 0 CHECK (require_pushed_authorization_requests IN (0, 1));
