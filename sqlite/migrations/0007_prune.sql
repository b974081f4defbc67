-- 0007: pruning records (integrity.PruneRecord).
--
-- Retention (Store.Prune) deletes a chain's oldest events only at a
-- checkpoint, and first stores a signed record of the cut: the chain,
-- the seq up to which events may be absent, the checkpoint at the cut,
-- the event hash at the cut and the tree before it, the policy and the
-- actor. The verifier then accepts the gap before the cut and nothing
-- else. A record is stored in the transaction of the first batch it
-- deletes, and never changed or deleted; checkpoints are never pruned.
CREATE TABLE prunes (
    chain     TEXT    NOT NULL,
    up_to_seq INTEGER NOT NULL,
    body      BLOB    NOT NULL,         -- integrity.PruneRecord, JSON (signature included)
    created   INTEGER NOT NULL,         -- unix nanoseconds
    PRIMARY KEY (chain, up_to_seq)
) WITHOUT ROWID;
