-- 0002: resolutions, kept beside the events and never in them.
--
-- A resolution says who dealt with an event, when, and why. It lives in
-- a table of its own so that resolving never touches the events table:
-- an event's stored bytes (data) stay exactly what Write stored.
--
-- The table is append-only: resolving an event again adds a row, and
-- the event's resolution is its row with the highest seq, the last one
-- stored. event_id is not a foreign key (a foreign key would lock the
-- event's row and slow every Write's inserts down with an index check);
-- Resolve inserts only when the event exists, in the same statement.
-- resolutions_event (event_id, seq) makes "the last row of this event"
-- one index entry read backwards.
CREATE TABLE IF NOT EXISTS resolutions (
    seq         BIGINT UNSIGNED NOT NULL AUTO_INCREMENT, -- insertion order; the highest per event wins
    event_id    BINARY(16)      NOT NULL,
    resolved_by VARBINARY(1024) NOT NULL,
    resolved_at BIGINT          NOT NULL, -- unix nanoseconds
    note        MEDIUMBLOB      NOT NULL, -- '' when there is none
    PRIMARY KEY (seq),
    KEY resolutions_event (event_id, seq)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
