-- 0002: resolutions, kept beside the events and never in them.
--
-- A resolution says who dealt with an event, when, and why. It lives in
-- a table of its own so that resolving never touches the events table:
-- an event's stored bytes (data) stay exactly what Write stored, which
-- hashing the trail into a chain relies on.
--
-- The table is append-only: resolving an event again adds a row, and
-- the event's resolution is its row with the highest seq, the last one
-- stored. Nothing is updated or deleted, so every earlier resolution is
-- kept. event_id is not a foreign key (SQLite leaves those unchecked
-- unless a pragma turns them on); Resolve inserts only when the event
-- exists, in the same statement.
CREATE TABLE resolutions (
    seq         INTEGER PRIMARY KEY, -- the rowid: insertion order; the highest per event wins
    event_id    BLOB,                -- the event's UUID, 16 bytes, as events.id
    resolved_by TEXT,
    resolved_at INTEGER,             -- unix nanoseconds
    note        TEXT                 -- '' when there is none
);

-- An event's resolutions, for "the last row of this event". Like every
-- SQLite index it implicitly ends in the rowid, so it is really
-- (event_id, seq): ORDER BY seq DESC LIMIT 1 reads one entry.
CREATE INDEX resolutions_event ON resolutions (event_id);
