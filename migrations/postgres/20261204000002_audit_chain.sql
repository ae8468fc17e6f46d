-- The security activity as a hash chain (issue 14). Each event gets its place in the chain (`seq`), the previous
-- event's hash, its own hash (SHA-256 of that and its canonical content), and the salt of the commitments its hash
-- covers for the personal fields; `sealed` holds those commitments once the event is anonymised (account deletion).
-- See src/server/audit/chain.rs.
ALTER TABLE audit_events ADD COLUMN seq BIGINT;
ALTER TABLE audit_events ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_events ADD COLUMN hash TEXT;
ALTER TABLE audit_events ADD COLUMN salt TEXT;
ALTER TABLE audit_events ADD COLUMN sealed TEXT;

-- One event per place, and no two events after the same one: the chain cannot fork.
CREATE UNIQUE INDEX audit_events_by_seq ON audit_events (seq);
CREATE UNIQUE INDEX audit_events_by_prev_hash ON audit_events (prev_hash);

-- The events written before the chain existed: sealed into it at the first start on this release, oldest first.
-- Anything outside the chain with a later id was written around Gatehouse.
CREATE TABLE audit_chain_start (
    legacy_through BIGINT NOT NULL
);
INSERT INTO audit_chain_start (legacy_through) SELECT COALESCE(MAX(id), 0) FROM audit_events;

-- Where the chain continues after events were purged (AUDIT_RETENTION): the last purged event's place and hash.
CREATE TABLE audit_checkpoints (
    seq    BIGINT  PRIMARY KEY,
    hash   TEXT    NOT NULL,
    at     BIGINT  NOT NULL,
    purged BIGINT  NOT NULL
);
