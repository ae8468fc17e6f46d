-- The PostgreSQL twin of migrations/sqlite/20261203000003_identity_issuers.sql.
-- Identities are keyed on (provider, issuer, subject), not (provider, subject) (issue 14): a subject is unique only
-- within its issuer, so pointing a provider id at another issuer must never map that issuer's subjects onto existing
-- accounts. The provider stays in the key: two sign-in methods may share an issuer and still be two ways in.
ALTER TABLE identities DROP CONSTRAINT identities_provider_subject_key;
ALTER TABLE identities ADD CONSTRAINT identities_provider_issuer_subject_key UNIQUE (provider, issuer, subject);

