-- Back-channel logout, sent (issue 28): an app may register where to be told, server to server, that a person's
-- authorization with it ended (OpenID Connect Back-Channel Logout 1.0). `backchannel_logout_session_required`: the
-- app needs the `sid` (Gatehouse sends it always). The newest delivery's outcome is kept for the app's developer:
-- when (`logout_delivered_at`) and how (`logout_outcome`: `delivered`, or why not).
ALTER TABLE oauth_clients ADD COLUMN backchannel_logout_uri TEXT;
ALTER TABLE oauth_clients ADD COLUMN backchannel_logout_session_required INTEGER NOT NULL DEFAULT 0
    CHECK (backchannel_logout_session_required IN (0, 1));
ALTER TABLE oauth_clients ADD COLUMN logout_delivered_at INTEGER;
ALTER TABLE oauth_clients ADD COLUMN logout_outcome TEXT;

-- The outbox: one row per ended authorization of an app that asked to hear of it, written by the trigger below in
-- the transaction that ends it, however it ends — signing out, a session revoked or expired, "sign out all other
-- sessions", an account disabled or deleted, the app's access revoked, a refresh token reused — so a crash loses
-- none. `sid` is the authorization's id, the `sid` of the ID tokens it gave. Every instance's worker delivers
-- what is due, each row claimed with a lease (`leased_until`) longer than a delivery may take; a row goes once
-- delivered or given up.
CREATE TABLE backchannel_logouts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id       TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    sid             TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    leased_until    INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX backchannel_logouts_due ON backchannel_logouts (next_attempt_at);

CREATE TRIGGER oauth_authorization_ended AFTER DELETE ON oauth_authorizations
FOR EACH ROW WHEN (SELECT backchannel_logout_uri FROM oauth_clients WHERE id = OLD.client_id) IS NOT NULL
BEGIN
    INSERT INTO backchannel_logouts (client_id, subject, sid, created_at, next_attempt_at)
    VALUES (OLD.client_id, OLD.user_id, OLD.id, CAST(strftime('%s', 'now') AS INTEGER),
            CAST(strftime('%s', 'now') AS INTEGER));
END;
