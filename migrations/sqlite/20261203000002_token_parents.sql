-- Personal access tokens minted by another token (issue 14): the parent, so a child never outlives it — its expiry is
-- capped at the parent's, and revoking (deleting) the parent deletes its children with it.
ALTER TABLE api_tokens ADD COLUMN parent_id TEXT REFERENCES api_tokens (id) ON DELETE CASCADE;

CREATE INDEX api_tokens_by_parent ON api_tokens (parent_id);
