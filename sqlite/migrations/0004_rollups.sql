-- 0004: hourly rollups, from which the analytics (analytics.go) answer
-- a dashboard over a million events without reading them.
--
-- Each rollup table counts the events of one hour (time / 1h, in unix
-- hours) and one tenant by a few keys: kind and action; actor; client
-- address; route and status of request events; latency bucket of
-- request events (activitylog.LatencyBucket). A dashboard over 24 hours
-- reads some thousands of these rows instead of the events.
--
-- They are filled lazily, not on write: Write stays as it was, and the
-- analytics fold the events stored since the last fold (seq beyond
-- rollup_state.seq, the watermark) into the rollups, in transactions of
-- bounded size, before they read them. The read then takes the rollups
-- for the whole hours of its window, and the events themselves for what
-- the rollups do not hold: the events beyond the watermark, the partial
-- hours at the window's edges, and the dirty hours below. So an answer
-- is exact whatever the state of the fold; the fold only makes it fast.
--
-- Events are never changed and rarely deleted (retention). When one
-- that is already folded is deleted or changed, the triggers mark its
-- hour dirty: the reads count that hour from the events, and the next
-- fold counts it anew. Deleting the newest events would let SQLite
-- hand their seq out again (seq is the rowid, without AUTOINCREMENT), so
-- the delete trigger also lowers the watermark to the largest seq left.
--
-- The rollups are WITHOUT ROWID tables keyed by hour first, so a window
-- is one range of each; no column is NOT NULL (the fold never stores a
-- NULL), as in 0001.
CREATE TABLE rollup_state (
    id  INTEGER PRIMARY KEY, -- always 1
    seq INTEGER              -- every event with seq <= this is folded
);
INSERT INTO rollup_state (id, seq) VALUES (1, 0);

-- Hours whose rollups no longer match their events.
CREATE TABLE rollup_dirty (
    hour INTEGER PRIMARY KEY
);

CREATE TABLE rollup_kinds (
    hour   INTEGER, -- unix hours: time / 3600000000000
    tenant TEXT,
    kind   TEXT,
    action TEXT,
    n      INTEGER, -- events
    PRIMARY KEY (hour, tenant, kind, action)
) WITHOUT ROWID;

-- Events with an actor id.
CREATE TABLE rollup_actors (
    hour     INTEGER,
    tenant   TEXT,
    actor_id TEXT,
    n        INTEGER,
    PRIMARY KEY (hour, tenant, actor_id)
) WITHOUT ROWID;

-- Events with a client address.
CREATE TABLE rollup_ips (
    hour   INTEGER,
    tenant TEXT,
    ip     TEXT,
    n      INTEGER,
    PRIMARY KEY (hour, tenant, ip)
) WITHOUT ROWID;

-- Request events, by route (request.route from data, else path) and
-- status.
CREATE TABLE rollup_routes (
    hour   INTEGER,
    tenant TEXT,
    route  TEXT,
    status INTEGER,
    n      INTEGER,
    PRIMARY KEY (hour, tenant, route, status)
) WITHOUT ROWID;

-- Request events with a duration, by activitylog.LatencyBucket.
CREATE TABLE rollup_latency (
    hour   INTEGER,
    tenant TEXT,
    bucket INTEGER,
    n      INTEGER,
    PRIMARY KEY (hour, tenant, bucket)
) WITHOUT ROWID;

CREATE TRIGGER events_rollup_delete AFTER DELETE ON events
WHEN OLD.seq <= (SELECT seq FROM rollup_state WHERE id = 1)
BEGIN
    INSERT OR IGNORE INTO rollup_dirty (hour) VALUES (OLD.time / 3600000000000);
    UPDATE rollup_state SET seq = (SELECT coalesce(max(seq), 0) FROM events)
    WHERE id = 1 AND seq > (SELECT coalesce(max(seq), 0) FROM events);
END;

-- Only the columns the rollups read: a later migration that fills a new
-- column from data leaves the rollups alone.
CREATE TRIGGER events_rollup_update
AFTER UPDATE OF time, kind, action, tenant, actor_id, remote_ip, path, status, duration, data ON events
WHEN OLD.seq <= (SELECT seq FROM rollup_state WHERE id = 1)
BEGIN
    INSERT OR IGNORE INTO rollup_dirty (hour) VALUES (OLD.time / 3600000000000), (NEW.time / 3600000000000);
END;
