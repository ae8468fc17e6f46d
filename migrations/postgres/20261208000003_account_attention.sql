-- Google's Cross-Account Protection (issue 28): an account whose Google account was taken over (RISC
-- `account-disabled`, reason `hijacking`) is marked for an administrator's attention: why, and since when. The
-- admin area shows it on the person's page.
ALTER TABLE users ADD COLUMN attention TEXT;
ALTER TABLE users ADD COLUMN attention_at BIGINT;
