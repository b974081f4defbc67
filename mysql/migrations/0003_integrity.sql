-- 0003: seals, chains, checkpoints and pruning records (package
-- integrity), as in the PostgreSQL store.
--
-- A sealed event's seal is a row of seals, not columns of events, so
-- that an event written without integrity (Store.Write) costs nothing
-- more, and so that the chain's order is its own primary key: (chain,
-- seq), the guard against two events at one seq, the order the verifier
-- reads a chain in, and the tail a writer checks. id finds the event's
-- row through the events' primary key. The canonical bytes are not
-- stored: the verifier recomputes them from the stored event. prev and
-- hash are VARBINARY, not BINARY (which pads), so that a value of
-- another length stays one and reads as no hash.
CREATE TABLE IF NOT EXISTS seals (
    chain         VARBINARY(128) NOT NULL, -- integrity.ValidateChainID: 1 to 128 ASCII bytes
    seq           BIGINT         NOT NULL, -- 1, 2, … in the chain
    id            BINARY(16)     NOT NULL, -- the event
    prev          VARBINARY(32)  NOT NULL, -- the hash of the event before it
    hash          VARBINARY(32)  NOT NULL, -- its own hash
    canon_version SMALLINT       NOT NULL, -- the canonical encoding the hash was made over
    PRIMARY KEY (chain, seq),
    -- An event has at most one seal: Unsealed (events without a seal)
    -- and Prune's unsealed deletes look events up here by id.
    UNIQUE KEY seals_id (id)
) ENGINE=InnoDB;

-- One row per chain: its HMAC key id ('' for SHA-256) and the state a
-- writer continues from (integrity.State in its JSON form), written in
-- the transaction of the events it reflects. The row is also the
-- chain's lock: WriteSealed takes it (inserting it, with state NULL,
-- when the chain has none yet) before it reads the tail, so that the
-- writers of one chain go one at a time. A row with state NULL is
-- never committed; if one were, it would read as a chain without state.
CREATE TABLE IF NOT EXISTS chains (
    chain   VARBINARY(128) NOT NULL,
    key_id  VARBINARY(255) NOT NULL DEFAULT '',
    state   BLOB           NULL,     -- integrity.State, JSON
    seq     BIGINT         NOT NULL, -- the state's seq, for reading
    updated BIGINT         NOT NULL, -- unix nanoseconds
    PRIMARY KEY (chain)
) ENGINE=InnoDB;

-- The signed checkpoints of each chain, in their JSON form
-- (integrity.Checkpoint.MarshalJSON: the fields and the signature, from
-- which the signed body is rebuilt byte for byte; a BLOB, not JSON, so
-- that the bytes stay as written).
CREATE TABLE IF NOT EXISTS checkpoints (
    chain    VARBINARY(128) NOT NULL,
    to_seq   BIGINT         NOT NULL,
    from_seq BIGINT         NOT NULL,
    body     MEDIUMBLOB     NOT NULL, -- JSON
    PRIMARY KEY (chain, to_seq)
) ENGINE=InnoDB;

-- Pruning records (integrity.PruneRecord). Retention (Store.Prune)
-- deletes a chain's oldest events only at a checkpoint, and first
-- stores a signed record of the cut, in the transaction of the first
-- batch it deletes; the verifier then accepts the gap before the cut
-- and nothing else. Records are never changed or deleted; checkpoints
-- are never pruned.
CREATE TABLE IF NOT EXISTS prunes (
    chain     VARBINARY(128) NOT NULL,
    up_to_seq BIGINT         NOT NULL,
    body      MEDIUMBLOB     NOT NULL, -- integrity.PruneRecord, JSON (signature included)
    created   BIGINT         NOT NULL, -- unix nanoseconds
    PRIMARY KEY (chain, up_to_seq)
) ENGINE=InnoDB;
