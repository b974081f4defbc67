-- 0002: seals, chains and checkpoints (package integrity).
--
-- A sealed event's seal is a row of seals, not columns of events: the
-- chain must hold one event per seq, and a unique index on a
-- partitioned table must hold its partition key (time), so (chain, seq)
-- could not be unique there. seals is not partitioned; its primary key
-- is (chain, seq): the guard against two events at one seq, the order
-- the verifier reads a chain in, and the tail a writer checks. id and
-- time find the event's row through the primary key of its partition
-- (time, id). An event written without integrity (Store.Write) has no
-- row here. The canonical bytes are not stored: the verifier recomputes
-- them from the stored event.
CREATE TABLE seals (
    chain         text     COLLATE "C" NOT NULL,
    seq           bigint   NOT NULL,            -- 1, 2, … in the chain
    id            uuid     NOT NULL,            -- the event
    time          bigint   NOT NULL,            -- the event's time, unix nanoseconds, as sealed
    prev          bytea    NOT NULL,            -- 32 bytes: the hash of the event before it
    hash          bytea    NOT NULL,            -- 32 bytes: its own hash
    canon_version smallint NOT NULL,            -- the canonical encoding the hash was made over
    PRIMARY KEY (chain, seq)
);

-- An event has at most one seal: Unsealed (events without a seal) and
-- Purge (which keeps sealed events) look events up here by id.
CREATE UNIQUE INDEX seals_id ON seals (id);

-- One row per chain: its HMAC key id ('' for SHA-256) and the state a
-- writer continues from (integrity.State in its JSON form), written in
-- the transaction of the events it reflects.
CREATE TABLE chains (
    chain   text   COLLATE "C" PRIMARY KEY,
    key_id  text   NOT NULL DEFAULT '',
    state   bytea  NOT NULL,                    -- integrity.State, JSON
    seq     bigint NOT NULL,                    -- the state's seq, for reading
    updated bigint NOT NULL                     -- unix nanoseconds
);

-- The signed checkpoints of each chain, in their JSON form
-- (integrity.Checkpoint.MarshalJSON: the fields and the signature, from
-- which the signed body is rebuilt byte for byte; bytea, not jsonb,
-- so that the bytes stay as written).
CREATE TABLE checkpoints (
    chain    text   COLLATE "C" NOT NULL,
    to_seq   bigint NOT NULL,
    from_seq bigint NOT NULL,
    body     bytea  NOT NULL,                   -- JSON
    PRIMARY KEY (chain, to_seq)
);

-- Pruning records (integrity.PruneRecord). Retention (Store.Prune)
-- deletes a chain's oldest events only at a checkpoint, and first
-- stores a signed record of the cut, in the transaction of the first
-- batch it deletes; the verifier then accepts the gap before the cut
-- and nothing else. Records are never changed or deleted; checkpoints
-- are never pruned.
CREATE TABLE prunes (
    chain     text   COLLATE "C" NOT NULL,
    up_to_seq bigint NOT NULL,
    body      bytea  NOT NULL,                  -- integrity.PruneRecord, JSON (signature included)
    created   bigint NOT NULL,                  -- unix nanoseconds
    PRIMARY KEY (chain, up_to_seq)
);
