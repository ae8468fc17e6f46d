-- Client addresses blocked after repeated failures (issue 14): the record admins see, and the history that makes a
-- block after a block longer. The rate limiter (in process, or in Redis with REDIS_URL) enforces the block; this row
-- says when it began and ends, how many failures caused it, and how many blocks this address has had.
CREATE TABLE address_blocks (
    address    TEXT    PRIMARY KEY NOT NULL,
    blocked_at INTEGER NOT NULL,
    ends_at    INTEGER NOT NULL,
    failures   INTEGER NOT NULL,
    times      INTEGER NOT NULL
) STRICT;

CREATE INDEX address_blocks_by_end ON address_blocks (ends_at);
