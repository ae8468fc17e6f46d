-- Email lookups are written `lower(email) = lower(?)`, the same SQL on SQLite and PostgreSQL; this index serves them
-- (the one it replaces served `email = ? COLLATE NOCASE`, which PostgreSQL does not have). SQLite folds ASCII letters,
-- PostgreSQL all letters of the database encoding; addresses are compared as providers send them, nearly always ASCII.
DROP INDEX users_by_email;
CREATE INDEX users_by_email ON users (lower(email)) WHERE email IS NOT NULL;
