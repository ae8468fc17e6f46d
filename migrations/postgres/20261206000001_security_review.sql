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
