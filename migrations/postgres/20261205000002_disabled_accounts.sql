-- Accounts an administrator disabled (issue 14): while disabled_at is set, the person cannot sign in and is told so.
-- Disabling ends the account's sessions, tokens and app authorizations in the same transaction.
ALTER TABLE users ADD COLUMN disabled_at BIGINT;
ALTER TABLE users ADD COLUMN disabled_by TEXT;
