-- ID tokens in RS256 beside ES256 (issue 29): each app's `id_token_signed_response_alg` (OpenID Connect Dynamic
-- Client Registration §2). New apps get RS256, which OpenID Connect requires every provider to offer; apps registered
-- before keep ES256, which is what they have verified until now. The signing keys of both algorithms live in
-- oauth_signing_keys (its `algorithm` column), made on the next start.
ALTER TABLE oauth_clients ADD COLUMN id_token_signed_response_alg TEXT NOT NULL DEFAULT 'RS256';
UPDATE oauth_clients SET id_token_signed_response_alg = 'ES256';
