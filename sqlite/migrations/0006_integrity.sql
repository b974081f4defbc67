-- 0006: seals, chains and checkpoints (package integrity).
--
-- A sealed event carries its seal in five columns: the chain id, its
-- seq in the chain (chain_seq: events.seq is already the rowid), the
-- hash of the event before it, its own hash, and the version of the
-- canonical encoding the hash was made over. An event written without
-- integrity (Store.Write) has chain '' and chain_seq 0, prev and hash
-- NULL, canon_version 0. The canonical bytes are not stored: the
-- verifier recomputes them from the stored event.
--
-- DEFAULTs, not constraints, as in 0003: no statement of Write can
-- abort on them, and an older binary's rows get the unsealed values.
ALTER TABLE events ADD COLUMN chain TEXT DEFAULT '';
ALTER TABLE events ADD COLUMN chain_seq INTEGER DEFAULT 0;
ALTER TABLE events ADD COLUMN prev BLOB;          -- 32 bytes
ALTER TABLE events ADD COLUMN hash BLOB;          -- 32 bytes
ALTER TABLE events ADD COLUMN canon_version INTEGER DEFAULT 0;

-- A chain's events by seq: what the verifier reads, the tail a writer
-- checks, and the guard against two events at one seq. Partial, so an
-- unsealed event costs nothing here.
CREATE UNIQUE INDEX events_chain_seq ON events (chain, chain_seq) WHERE chain <> '';

-- One row per chain: its HMAC key id ('' for SHA-256) and the state a
-- writer continues from (integrity.State in its JSON form), written in
-- the transaction of the events it reflects.
CREATE TABLE chains (
    chain   TEXT    PRIMARY KEY,
    key_id  TEXT    NOT NULL DEFAULT '',
    state   BLOB    NOT NULL,           -- integrity.State, JSON
    seq     INTEGER NOT NULL,           -- the state's seq, for reading
    updated INTEGER NOT NULL            -- unix nanoseconds
);

-- The signed checkpoints of each chain, in their JSON form
-- (integrity.Checkpoint.MarshalJSON: the fields and the signature, from
-- which the signed body is rebuilt byte for byte).
CREATE TABLE checkpoints (
    chain    TEXT    NOT NULL,
    to_seq   INTEGER NOT NULL,
    from_seq INTEGER NOT NULL,
    body     BLOB    NOT NULL,          -- JSON
    PRIMARY KEY (chain, to_seq)
) WITHOUT ROWID;
