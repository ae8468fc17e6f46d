-- How each session proved who is at the keyboard (issue 24): the ID token's `amr` and `acr`, and the admin area's
-- "two-step required", are read from the session, never from whether the account has an authenticator.
-- `amr`: RFC 8176 method values, space-separated (`pwd` or `fed`, then `otp` and `mfa` once a second factor passed).
-- `second_factor_at`: when a second factor last passed in this session (at sign-in, or confirming with a code).
ALTER TABLE user_sessions ADD COLUMN amr TEXT NOT NULL DEFAULT '';
ALTER TABLE user_sessions ADD COLUMN second_factor_at BIGINT;
-- Sessions from before this release: their first step is known; a second one was never recorded, so none is claimed.
UPDATE user_sessions SET amr = CASE WHEN provider = 'password' THEN 'pwd' ELSE 'fed' END;

-- The browser session an app authorization was granted in, kept even when the authorization outlives it
-- (`offline_access`): "this wasn't me" ends every grant made from the session it disowns.
ALTER TABLE oauth_authorizations ADD COLUMN granted_in TEXT;
UPDATE oauth_authorizations SET granted_in = session_id;
CREATE INDEX oauth_authorizations_by_origin ON oauth_authorizations (granted_in);

-- The hash chain's legacy sealing runs once and is recorded (`sealed_at`, `sealed`): a row slipped in later with an
-- old id is never sealed in. On a database where the previous release sealed everything already, it is done.
-- `anonymised_through`: events anonymised before deletions recorded which events they anonymised (by id).
ALTER TABLE audit_chain_start ADD COLUMN sealed_at BIGINT;
ALTER TABLE audit_chain_start ADD COLUMN sealed BIGINT;
ALTER TABLE audit_chain_start ADD COLUMN anonymised_through BIGINT NOT NULL DEFAULT 0;
UPDATE audit_chain_start SET
    sealed_at = CASE WHEN EXISTS (SELECT 1 FROM audit_events WHERE seq IS NULL AND id <= legacy_through)
                     THEN NULL ELSE EXTRACT(EPOCH FROM now())::BIGINT END,
    sealed = (SELECT COUNT(*) FROM audit_events WHERE seq IS NOT NULL AND id <= legacy_through),
    anonymised_through = (SELECT COALESCE(MAX(id), 0) FROM audit_events WHERE sealed IS NOT NULL);

-- The addresses a personal access token was used from lately (space-separated, newest last, at most 8): a use from
-- one of them is noted at most once a minute; only an address not among them is a `token_used` event.
ALTER TABLE api_tokens ADD COLUMN recent_ips TEXT NOT NULL DEFAULT '';
UPDATE api_tokens SET recent_ips = COALESCE(last_used_ip, '');

-- An app is suspended while the person who registered it is disabled: nobody can sign in to it, and what it held
-- ended at the disable. Enabling the person lifts it.
ALTER TABLE oauth_clients ADD COLUMN suspended_at BIGINT;
