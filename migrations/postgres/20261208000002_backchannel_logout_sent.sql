-- Back-channel logout, sent (issue 28): an app may register where to be told, server to server, that a person's
-- authorization with it ended (OpenID Connect Back-Channel Logout 1.0). `backchannel_logout_session_required`: the
-- app needs the `sid` (Gatehouse sends it always). The newest delivery's outcome is kept for the app's developer:
-- when (`logout_delivered_at`) and how (`logout_outcome`: `delivered`, or why not).
ALTER TABLE oauth_clients ADD COLUMN backchannel_logout_uri TEXT;
ALTER TABLE oauth_clients ADD COLUMN backchannel_logout_session_required BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE oauth_clients ADD COLUMN logout_delivered_at BIGINT;
ALTER TABLE oauth_clients ADD COLUMN logout_outcome TEXT;

-- The outbox: one row per ended authorization of an app that asked to hear of it, written by the trigger below in
-- the transaction that ends it, however it ends — signing out, a session revoked or expired, "sign out all other
-- sessions", an account disabled or deleted, the app's access revoked, a refresh token reused — so a crash loses
-- none. `sid` is the authorization's id, the `sid` of the ID tokens it gave. Every instance's worker delivers
-- what is due, each row claimed with a lease (`leased_until`) longer than a delivery may take; a row goes once
-- delivered or given up.
CREATE TABLE backchannel_logouts (
    id              BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_id       TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    sid             TEXT    NOT NULL,
    created_at      BIGINT  NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT  NOT NULL,
    leased_until    BIGINT  NOT NULL DEFAULT 0
);

CREATE INDEX backchannel_logouts_due ON backchannel_logouts (next_attempt_at);

CREATE FUNCTION oauth_authorization_ended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM oauth_clients WHERE id = OLD.client_id AND backchannel_logout_uri IS NOT NULL) THEN
        INSERT INTO backchannel_logouts (client_id, subject, sid, created_at, next_attempt_at)
        VALUES (OLD.client_id, OLD.user_id, OLD.id, extract(epoch FROM now())::bigint,
                extract(epoch FROM now())::bigint);
    END IF;
    RETURN OLD;
END
$$;

CREATE TRIGGER oauth_authorization_ended AFTER DELETE ON oauth_authorizations
    FOR EACH ROW EXECUTE FUNCTION oauth_authorization_ended();
